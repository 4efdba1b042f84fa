"""The GBDT wide branch, blended into a trained model after training (He et al. 2014: trees as wide columns).

The trees take no part in training: they were fitted on the same training rows, so their in-sample margins
would leave the rest of the model nothing to learn, and the network trains without them (faster, and without
them in its graph). After training, the trained model's logit and the trees' margin are blended on the
validation split by a logistic regression of the label on the two margins (three parameters: a · model +
b · trees + c); the run keeps the blend only when it pays (`wide_deep.run.stages.combine` decides).

A kept blend becomes one additive model (`with_trees`): the model's weights times a, each tree a wide column whose
leaves weigh b times their LightGBM values, the bias a · bias + c. The blend's three numbers are recorded with
the trees (`Trees.blend`), so the same model is rebuilt from the network's best weights when a run is reopened.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from feature_columns.preprocessor import EncodedLayout
from feature_columns.trees import Trees
from wide_deep.ranking import auc


@dataclasses.dataclass(frozen=True)
class Blend:
    """a · model + b · trees + c, and the validation AUC of the model, the trees and the blend."""

    model: float
    trees: float
    intercept: float
    aucs: tuple[float, float, float] = (float("nan"),) * 3

    @property
    def gain(self) -> float:
        """What the blend adds to the model's validation AUC."""
        return self.aucs[2] - self.aucs[0]

    def why_not_kept(self, min_gain: float) -> str | None:
        """Why the trees do not pay, or None when they do: the blend must add `min_gain` to the validation AUC
        and weigh the trees positively (a negative weight uses them against their own fit, which is the
        validation rows' noise, not a gain)."""
        if self.gain < min_gain:
            return f"their blend adds {self.gain:+.4f} to the validation AUC, less than --min_tree_gain={min_gain:g}"
        if self.trees <= 0:
            return "their blend weighs them negatively, against their own fit"
        return None

    def describe(self) -> str:
        return (
            f"{self.model:.3f} × model + {self.trees:.3f} × trees {self.intercept:+.3f} (validation AUC "
            f"{self.aucs[0]:.4f} model, {self.aucs[1]:.4f} trees, {self.aucs[2]:.4f} blend)"
        )


def leaf_values(layout: EncodedLayout, trees: Trees) -> np.ndarray:
    """The LightGBM leaf values in the wide table's order of the trees' rows."""
    return np.concatenate(
        [np.asarray(trees.trees[s.tree].leaf_values) for s in layout.wide_segments if s.tree is not None]
        or [np.zeros(0)]
    )


def tree_margin(encoded: dict, layout: EncodedLayout, trees: Trees) -> np.ndarray:
    """The GBDT's margin (its raw score) for encoded rows, from their leaf ids."""
    columns = layout.column_segments
    ids = np.asarray(encoded["wide_ids"])[:, columns:] - layout.column_rows
    return leaf_values(layout, trees)[ids].sum(axis=1)


def fit_blend(model_logits: np.ndarray, tree_margins: np.ndarray, labels: np.ndarray) -> Blend:
    """The logistic regression of the validation labels on the model's logit and the trees' margin."""
    from sklearn.linear_model import LogisticRegression

    margins = np.column_stack([np.asarray(model_logits, "float64"), np.asarray(tree_margins, "float64")])
    fitted = LogisticRegression(C=1e6, max_iter=1000).fit(margins, labels)
    (a, b), c = fitted.coef_[0], float(fitted.intercept_[0])
    aucs = tuple(auc(labels, m) for m in (margins[:, 0], margins[:, 1], fitted.decision_function(margins)))
    return Blend(float(a), float(b), c, aucs)


def with_trees(estimator, tree_spec, state: dict, blend: Blend, encoder=None):
    """A new Estimator whose wide branch holds the trees: `estimator`'s trained weights (the network, trained
    without trees) under the blend (see the module docstring). `tree_spec` is the estimator's spec with `gbdt`;
    `encoder` its Encoder, when one is built already."""
    from wide_deep.core.trainer import Estimator

    blended = Estimator(
        estimator.files,
        tree_spec,
        state,
        estimator.model_config,
        estimator.config,
        strategy=estimator.strategy,
        log=estimator.log,
        encoder=encoder,
    )
    source = {variable.path: variable.numpy() for variable in estimator.core.weights}
    for variable in blended.core.weights:
        if variable.path in source and source[variable.path].shape == tuple(variable.shape):
            variable.assign(source[variable.path])
    layout, core = blended.layout, blended.core
    wide = core.get_layer("wide_ids_weights")
    start = layout.column_rows
    table = np.zeros(wide.weights_table.shape, "float32")
    table[:start] = blend.model * source.get(wide.weights_table.path, np.zeros(start))[:start]  # none: no wide ids
    table[start:] = blend.trees * leaf_values(layout, state_trees(state))
    wide.weights_table.assign(table)
    wide.tree_mask.assign(np.ones_like(table))
    names = {layer.name for layer in core.layers}
    for kernel in [core.get_layer(n).kernel for n in ("wide_dense_weights", "deep_logit") if n in names]:
        kernel.assign(kernel * blend.model)
    bias = core.get_layer("fusion_bias").bias
    bias.assign(blend.model * bias + blend.intercept)
    return blended


def state_trees(state: dict) -> Trees:
    from feature_columns.fitting import GBDT

    return state[GBDT]
