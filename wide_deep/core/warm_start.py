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

For an ordered characteristic (a numeric column's bins) the penalty falls on the steps between adjacent
ranges, not on each range's weight: the regression is fitted in a basis of steps (`step_basis`; a row's
design is 1 for every step at or below its range), the first-order difference penalty of P-splines (Eilers
& Marx 1996). Fine bins then cost no overfitting: points change from one range to the next only where the
data say so, and the trainer keeps the same penalty (`wide_deep.core.model.StepL2`).

Once validation has chosen everything (C, the epoch, whether the network and the trees stay), `refit` fits the
wide columns again on the training and validation rows together, at the chosen C, with the rest of the trained
model (the deep term, the trees, a blend's scale) held fixed as each row's offset: the model selected on
validation, then fitted on all the development data (scikit-learn's `refit=True`). The test split stays unseen.
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
        rows = np.repeat(np.arange(ids.shape[0]), ids.shape[1])
        shape = (ids.shape[0], layout.column_rows)
        parts.append(sp.csr_matrix((np.ones(ids.size), (rows, ids.ravel())), shape=shape))
    if "wide_dense" in encoded:
        parts.append(sp.csr_matrix(np.asarray(encoded["wide_dense"], dtype="float64")))
    if not parts:
        return sp.csr_matrix((len(next(iter(encoded.values()))), 0))
    return sp.hstack(parts).tocsr()


def step_basis(layout: EncodedLayout) -> sp.csr_matrix:
    """[wide design columns × fitted coefficients]: the design in the step basis is `design @ basis`, and the
    coefficients fitted there are the wide branch's weights as `basis @ coefficients`.

    Every row of an ordered segment's ranges but the first (whose weight is 0, the intercept's) is a step,
    taken by the rows of its range and all ranges above; every other row and wide dense input is its own
    coefficient.
    """
    segments = layout.wide_segments[: layout.column_segments]
    size = sum(segment.size for segment in segments) + len(layout.wide_dense_names)
    chain_end = {row: segment.chain[-1] for segment in segments for row in segment.chain}
    first = {segment.chain[0] for segment in segments if segment.chain}
    rows, columns = [], []
    for row in (row for row in range(size) if row not in first):  # a first range's weight stays 0
        taken_by = range(row, chain_end[row] + 1) if row in chain_end else (row,)
        rows.extend(taken_by)
        columns.extend([columns[-1] + 1 if columns else 0] * len(taken_by))
    count = columns[-1] + 1 if columns else 0
    return sp.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(size, count))


def fit_logistic(
    train: EncodedSplit, valid: EncodedSplit, layout: EncodedLayout, seed: int = 0, grid=C_GRID
) -> WideStart:
    """The C in `grid` with the best validation AUC, its coefficients laid out as the wide branch's weights
    (the GBDT's leaf rows, if any, at zero)."""
    from sklearn.linear_model import LogisticRegression

    basis = step_basis(layout)
    x_train, x_valid = (wide_design(split.features, layout) @ basis for split in (train, valid))
    best = None
    model = LogisticRegression(max_iter=2000, warm_start=True, random_state=seed)
    for c in sorted(grid):  # from strong to weak penalty, each fit starting from the last
        model.set_params(C=c)
        model.fit(x_train, train.labels)
        area = auc(valid.labels, model.decision_function(x_valid))
        if best is None or area > best[1]:
            best = (c, area, model.coef_[0].copy(), float(model.intercept_[0]))
    c, area, coef, intercept = best
    coef = basis @ coef
    width = layout.column_rows
    table = np.concatenate([coef[:width], np.zeros(layout.wide_size - width)])
    return WideStart(
        table=np.asarray(table, "float32"),
        dense=np.asarray(coef[width:], "float32"),
        intercept=intercept,
        c=c,
        valid_auc=area,
        l2=1.0 / (2.0 * c * len(train)),
    )


@dataclasses.dataclass(frozen=True)
class Refit:
    """The wide columns refitted on more rows: their weights (the table's column rows, the dense kernel) and the
    fusion bias, as the model holds them."""

    table: np.ndarray
    dense: np.ndarray
    bias: float
    rows: int
    c: float

    def to_json(self) -> dict:
        return {
            "table": self.table.tolist(),
            "dense": self.dense.tolist(),
            "bias": self.bias,
            "rows": self.rows,
            "c": self.c,
        }

    @classmethod
    def from_json(cls, d: dict) -> Refit:
        return cls(
            np.asarray(d["table"], "float32"),
            np.asarray(d["dense"], "float32"),
            float(d["bias"]),
            int(d["rows"]),
            float(d["c"]),
        )


def offset_logistic(x: sp.csr_matrix, labels: np.ndarray, offset: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """argmin over (w, b) of sum(log loss of offset + x·w + b) + ||w||² / (2C): scikit-learn's penalty, with a
    fixed offset per row (which scikit-learn's LogisticRegression cannot take). L-BFGS, from zero."""
    from scipy.optimize import minimize
    from scipy.special import expit

    y = np.asarray(labels, "float64")

    def loss_and_gradient(theta):
        w, b = theta[:-1], theta[-1]
        z = offset + x @ w + b
        residual = expit(z) - y
        loss = float(np.logaddexp(0.0, z).sum() - y @ z + w @ w / (2.0 * c))
        return loss, np.concatenate([x.T @ residual + w / c, [residual.sum()]])

    fitted = minimize(
        loss_and_gradient, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B", options={"maxiter": 10_000}
    )
    return fitted.x[:-1], float(fitted.x[-1])


def refit(
    splits: list[EncodedSplit], split_logits: list[np.ndarray], weights: dict, layout: EncodedLayout, c: float
) -> Refit:
    """The wide columns fitted again on the rows of `splits` together, at C = `c`, the rest of the model fixed:
    `split_logits` are the trained model's logits of each split, `weights` its wide weights (`table`, `dense`,
    `bias`, as `wide_deep.evidence.scorecard.wide_weights` reads them), so each row's offset is its logit less its
    columns' points."""
    basis = step_basis(layout)
    columns = _column_coefficients(weights["table"], weights["dense"], layout)
    designs = [wide_design(split.features, layout) for split in splits]
    offsets = [np.asarray(logit, "float64") - design @ columns for logit, design in zip(split_logits, designs)]
    labels = np.concatenate([split.labels for split in splits])
    coef, shift = offset_logistic(sp.vstack(designs).tocsr() @ basis, labels, np.concatenate(offsets), c)
    coef = basis @ coef
    width = layout.column_rows
    return Refit(
        table=np.asarray(coef[:width], "float32"),
        dense=np.asarray(coef[width:], "float32"),
        bias=float(weights["bias"]) + shift,
        rows=len(labels),
        c=c,
    )


def apply_refit(core, fitted: Refit) -> None:
    """Write refitted wide columns and bias into a core (its GBDT rows, if any, untouched)."""
    _write_wide(core, fitted.table, fitted.dense, fitted.bias)


def _write_wide(core, table: np.ndarray, dense: np.ndarray, bias: float) -> None:
    """The first rows of the core's wide table (all of them when `table` is as long), its wide dense kernel and the
    fusion bias."""
    names = {layer.name for layer in core.layers}
    if "wide_ids_weights" in names:
        weights = core.get_layer("wide_ids_weights").weights_table
        values = weights.numpy()
        values[: table.size] = table
        weights.assign(values)
    if "wide_dense_weights" in names:
        core.get_layer("wide_dense_weights").kernel.assign(dense[:, None])
    core.get_layer("fusion_bias").bias.assign(bias)


def _column_coefficients(table: np.ndarray, dense: np.ndarray, layout: EncodedLayout) -> np.ndarray:
    """The coefficients of `wide_design`'s columns: the table's column rows, then the dense kernel."""
    return np.concatenate([table[: layout.column_rows], dense]).astype("float64")


def logits(start: WideStart, encoded: dict, layout: EncodedLayout) -> np.ndarray:
    """The fitted regression's log-odds for encoded rows (the wide branch's column inputs only)."""
    coef = _column_coefficients(start.table, start.dense, layout)
    return np.asarray(wide_design(encoded, layout) @ coef).ravel() + start.intercept


def apply(core, start: WideStart) -> None:
    """Write the logistic regression into the core's wide weights (its whole table) and fusion bias."""
    _write_wide(core, start.table, start.dense, start.intercept)


def restore(core, start: WideStart) -> None:
    """The core as training found it (epoch 0): the regression in the wide weights and the deep output at zero,
    so that the model is the scorecard again (what the hidden layers hold no longer reaches the logit)."""
    if "deep_logit" in {layer.name for layer in core.layers}:
        kernel = core.get_layer("deep_logit").kernel
        kernel.assign(np.zeros(kernel.shape, kernel.dtype))
    apply(core, start)
