"""Start the wide branch from a logistic regression tuned on validation, so training can only improve on it.

The wide branch is a logistic regression over one-hot (wide_ids) and dense (wide_dense)
inputs. `fit_logistic` fits exactly that model with scikit-learn on the training split,
choosing the L2 strength C on the validation split (as a credit modeller tunes C), and
`apply` writes its coefficients and intercept into the core. With the deep branch's output
layer starting at zero, the model before its first step *is* that logistic regression, and
early stopping on validation AUC keeps it unless training beats it.

The regularisation carries over: scikit-learn minimises sum(log loss) + ||w||² / (2C), and
the trainer minimises mean(log loss) + l2 · ||w||², so the same penalty is
l2 = 1 / (2 · C · n_train).

With a GBDT in the wide branch (`blend_trees`), the trees take no part in training: they
were fitted on the same training rows, so their in-sample margins would leave the rest of
the model nothing to learn. After training, the trained model's logit and the trees' margin
are blended on the validation split (a logistic regression of the label on the two margins:
three parameters, a · model + b · trees + c), and the blend is written into the weights: the
model's weights times a, the tree leaves at b times their LightGBM values, the bias
a · bias + c. The result is one additive model. The blend fits the log loss; it is kept only when it
does not lower the validation AUC, the criterion that chose the epoch (otherwise the trees stay at zero).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from feature_columns.preprocessor import EncodedLayout
from wide_deep.core.tensors import EncodedSplit
from wide_deep.ranking import auc

C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


@dataclasses.dataclass(frozen=True)
class WideStart:
    """A fitted logistic regression in the wide branch's layout."""

    table: np.ndarray  # one weight per wide id (the shared table)
    dense: np.ndarray  # one weight per wide dense input
    intercept: float
    c: float
    valid_auc: float
    l2: float  # the same penalty per training row, for the trainer


def wide_design(encoded: dict, layout: EncodedLayout) -> sp.csr_matrix:
    """The wide branch's column inputs (not the GBDT's leaves) as a sparse design matrix: one-hot wide ids, then
    the wide dense columns."""
    parts = []
    columns = layout.column_segments
    if "wide_ids" in encoded and columns:
        ids = np.asarray(encoded["wide_ids"])[:, :columns]
        width = sum(segment.size for segment in layout.wide_segments[:columns])
        rows = np.repeat(np.arange(ids.shape[0]), ids.shape[1])
        parts.append(sp.csr_matrix((np.ones(ids.size), (rows, ids.ravel())), shape=(ids.shape[0], width)))
    if "wide_dense" in encoded:
        parts.append(sp.csr_matrix(np.asarray(encoded["wide_dense"], dtype="float64")))
    if not parts:
        return sp.csr_matrix((len(next(iter(encoded.values()))), 0))
    return sp.hstack(parts).tocsr()


def leaf_values(layout: EncodedLayout, trees) -> np.ndarray:
    """The LightGBM leaf values in the wide table's order of the trees' rows."""
    return np.concatenate(
        [np.asarray(trees.trees[s.tree].leaf_values) for s in layout.wide_segments if s.tree is not None]
        or [np.zeros(0)]
    )


def tree_margin(encoded: dict, layout: EncodedLayout, trees) -> np.ndarray:
    """The GBDT's margin (its raw score) for encoded rows, from their leaf ids."""
    columns = layout.column_segments
    ids = np.asarray(encoded["wide_ids"])[:, columns:] - layout.wide_segments[columns].offset
    return leaf_values(layout, trees)[ids].sum(axis=1)


def fit_logistic(
    train: EncodedSplit, valid: EncodedSplit, layout: EncodedLayout, seed: int = 0, grid=C_GRID
) -> WideStart:
    """The C in `grid` with the best validation AUC, its coefficients laid out as the wide branch's weights
    (the GBDT's leaf rows, if any, at zero)."""
    from sklearn.linear_model import LogisticRegression

    x_train, x_valid = wide_design(train.features, layout), wide_design(valid.features, layout)
    best = None
    model = LogisticRegression(max_iter=2000, warm_start=True, random_state=seed)
    for c in sorted(grid):  # from strong to weak penalty, each fit starting from the last
        model.set_params(C=c)
        model.fit(x_train, train.labels)
        area = auc(valid.labels, model.decision_function(x_valid))
        if best is None or area > best[1]:
            best = (c, area, model.coef_[0].copy(), float(model.intercept_[0]))
    c, area, coef, intercept = best
    width = sum(segment.size for segment in layout.wide_segments[: layout.column_segments])
    table = np.concatenate([coef[:width], np.zeros(layout.wide_size - width)])
    return WideStart(
        table=np.asarray(table, "float32"),
        dense=np.asarray(coef[width:], "float32"),
        intercept=intercept,
        c=c,
        valid_auc=area,
        l2=1.0 / (2.0 * c * len(train)),
    )


def blend_trees(estimator, valid: EncodedSplit, trees, log=print) -> bool:
    """Blend the GBDT's trees into a trained model on the validation split (see the module docstring).

    False when nothing changed: the model already holds its blend (a rerun of a finished run restores blended
    weights), or the blend would lower the validation AUC, by which every candidate is chosen (the trees then
    stay at zero).
    """
    from sklearn.linear_model import LogisticRegression

    layout, core = estimator.layout, estimator.core
    wide = core.get_layer("wide_ids_weights")
    start = layout.wide_segments[layout.column_segments].offset
    if float(wide.tree_mask.numpy()[start:].max()) > 0:
        return False
    model = estimator.logits_encoded(valid.features).astype("float64")
    margins = np.column_stack([model, tree_margin(valid.features, layout, trees)])
    blend = LogisticRegression(C=1e6, max_iter=1000).fit(margins, valid.labels)
    (a, b), c = blend.coef_[0], float(blend.intercept_[0])
    aucs = [auc(valid.labels, m) for m in (model, margins[:, 1], blend.decision_function(margins))]
    said = f"validation AUC {aucs[0]:.4f} model, {aucs[1]:.4f} trees, {aucs[2]:.4f} blend"
    if aucs[2] < aucs[0]:  # the blend fits the log loss; the run is chosen by validation AUC, as every epoch is
        log(f"GBDT not blended in: it would lower the validation AUC ({said}); the trees stay at zero")
        return False
    names = {layer.name for layer in core.layers}
    scaled = [core.get_layer(n).kernel for n in ("wide_dense_weights", "deep_logit") if n in names]
    bias = core.get_layer("fusion_bias").bias
    before = [v.numpy() for v in (wide.weights_table, wide.tree_mask, bias, *scaled)]
    table = wide.weights_table.numpy()
    table[:start] *= a
    table[start:] = b * leaf_values(layout, trees)
    wide.weights_table.assign(table)
    wide.tree_mask.assign(np.ones_like(table))
    for kernel in scaled:
        kernel.assign(kernel * a)
    bias.assign(a * bias + c)
    if "deep_fusion" in names:  # the trees' term passes through the wide gate: the blend is checked as it came out
        fused = auc(valid.labels, estimator.logits_encoded(valid.features))
        if fused < aucs[0]:
            for variable, value in zip((wide.weights_table, wide.tree_mask, bias, *scaled), before):
                variable.assign(value)
            log(
                f"GBDT not blended in: through the fusion gate it would lower the validation AUC to {fused:.4f} "
                f"({said}); the trees stay at zero"
            )
            return False
        said += f", {fused:.4f} through the fusion gate"
    log(f"GBDT blended on validation: {a:.3f} × model + {b:.3f} × trees {c:+.3f} ({said})")
    return True


def apply(core, start: WideStart) -> None:
    """Write the logistic regression into the core's wide weights and fusion bias."""
    names = {layer.name for layer in core.layers}
    if "wide_ids_weights" in names:
        core.get_layer("wide_ids_weights").weights_table.assign(start.table)
    if "wide_dense_weights" in names:
        core.get_layer("wide_dense_weights").kernel.assign(start.dense[:, None])
    core.get_layer("fusion_bias").bias.assign(start.intercept)
