"""Merge K trained Wide & Deep cores into one core whose logit is the mean of theirs.

Averaging the logits of K models of one layout is itself a Wide & Deep model:

- the wide branch is linear, so the mean of K wide branches is one wide branch with the
  members' mean weights (the scorecard of the ensemble is exact, not an approximation);
- the K deep branches sit side by side in a deep branch K times as wide (`build_core` with
  `ensemble_seeds=K`): each member's embeddings are a slice of the wider embedding, each
  hidden layer is block-diagonal (member m's units read only member m's units and the shared
  dense inputs), and the output layer holds each member's output weights divided by K;
- the bias is the members' mean.

So the export, the reason codes (integrated gradients are linear in the function) and the
scorecard need nothing special: the merged core is an ordinary core. The zero blocks cost
serving time (K² instead of K multiply-adds per layer), measured by `make bench-serve`.
"""

from __future__ import annotations

import keras
import numpy as np

from feature_columns.names import safe_name
from feature_columns.preprocessor import EncodedLayout


def _first_layer_rows(layout: EncodedLayout, member: int, members: int) -> np.ndarray:
    """Rows of the merged first hidden layer that member `member`'s first hidden layer reads, in its order:
    the shared deep dense inputs, then its slice of each embedding."""
    dense = len(layout.deep_dense_names)
    rows = list(range(dense))
    offset = dense
    for _, _, dim in layout.deep_embeddings:
        start = offset + member * dim
        rows += range(start, start + dim)
        offset += dim * members
    return np.asarray(rows, dtype=np.int64)


def merge_cores(target: keras.Model, members: list[keras.Model], layout: EncodedLayout) -> None:
    """Write the trained `members` (each built with `ensemble_seeds=1`) into `target` (built with
    `ensemble_seeds=len(members)` on the same layout), so that target(x) = mean_k members[k](x)."""
    k = len(members)
    names = {layer.name for layer in target.layers}
    if "wide_ids_weights" in names:
        wide = target.get_layer("wide_ids_weights")
        wide.weights_table.assign(np.mean([m.get_layer("wide_ids_weights").effective_table() for m in members], 0))
        if wide.tree_mask is not None:  # the blended tree leaves are part of the averaged table
            wide.tree_mask.assign(np.ones(wide.tree_mask.shape, "float32"))
    if "wide_dense_weights" in names:
        kernels = [m.get_layer("wide_dense_weights").kernel.numpy() for m in members]
        target.get_layer("wide_dense_weights").kernel.assign(np.mean(kernels, axis=0))
    bias = np.mean([float(m.get_layer("fusion_bias").bias.numpy()) for m in members])
    target.get_layer("fusion_bias").bias.assign(bias)
    if not any(name.startswith("deep_") for name in names):
        return
    for name, _, _ in layout.deep_embeddings:
        layer = f"deep_embedding_{safe_name(name)}"
        tables = [m.get_layer(layer).embeddings.numpy() for m in members]
        target.get_layer(layer).embeddings.assign(np.concatenate(tables, axis=1))
    hidden = sorted((n for n in names if n.startswith("deep_hidden_")), key=lambda n: int(n.rsplit("_", 1)[1]))
    for depth, name in enumerate(hidden):
        kernel = np.zeros(target.get_layer(name).kernel.shape, "float32")
        biases = []
        for member, model in enumerate(members):
            source = model.get_layer(name)
            inner, units = source.kernel.shape
            rows = (
                _first_layer_rows(layout, member, k) if depth == 0 else np.arange(member * inner, (member + 1) * inner)
            )
            kernel[np.ix_(rows, np.arange(member * units, (member + 1) * units))] = source.kernel.numpy()
            biases.append(source.bias.numpy())
        target.get_layer(name).kernel.assign(kernel)
        target.get_layer(name).bias.assign(np.concatenate(biases))
        norm = name.replace("deep_hidden_", "deep_batch_norm_")
        if norm in names:  # per unit at inference: the members' statistics side by side
            for variable, merged in zip(
                target.get_layer(norm).weights,
                zip(*(model.get_layer(norm).weights for model in members)),
            ):
                variable.assign(np.concatenate([v.numpy() for v in merged]))
    logit = [m.get_layer("deep_logit").kernel.numpy() / k for m in members]
    target.get_layer("deep_logit").kernel.assign(np.concatenate(logit, axis=0))
