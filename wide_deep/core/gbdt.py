"""LightGBM tuned on validation: the GBDT wide branch's trees, and the baseline a credit modeller would pick.

One tuning routine serves both, on one input representation (`feature_columns.layers.tree_input_model`:
categorical columns as vocabulary positions, numbers as they are), so the GBDT inside the
model starts as exactly the tuned LightGBM the ablation compares it with. The grid is small
and documented: `num_leaves` × `min_child_samples`, each fit with early stopping on the
validation AUC (50 rounds without a gain), learning rate 0.05, at most 3,000 trees. Its time
is the number of boosting rounds: 4 fits × (the best round + 50) trees; waiting 100 rounds
instead cost 20 % more time on the SME data and chose the same model on SME and Taiwan.

With pairs (`--gbdt_terms=pairs`, the accurate preset's) the GBDT wide branch is a GA2M instead, the model an
Explainable Boosting Machine is: every tree has three leaves and reads one feature or one of the given pairs
(LightGBM's `interaction_constraints`), the minimum leaf size is chosen on validation, and the trees are compiled
into one exact table per feature or pair (`compile_terms`, `feature_columns.terms`). On Taiwan, two-stage fitting
(features first, then pairs on their residual), five bagged seeds, four leaves or learning rates of 0.05–0.1
scored within 0.0006 of this on validation.
"""

from __future__ import annotations

import dataclasses
import itertools
import time

import numpy as np

from feature_columns.fitting import GBDT, FittedState
from feature_columns.inputs import to_tensors
from feature_columns.preprocessor import tree_input_model
from feature_columns.spec import ModelSpec
from feature_columns.terms import Axis, Term, Terms
from feature_columns.trees import Trees
from wide_deep.core.tensors import chunks
from wide_deep.ranking import auc

GRID = {"num_leaves": (15, 63), "min_child_samples": (20, 100)}
SETTINGS = [dict(zip(GRID, values)) for values in itertools.product(*GRID.values())]  # tried in this order
FIXED = {
    "learning_rate": 0.05,
    "n_estimators": 3000,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    # one thread: with OpenMP's sleeping waits (OMP_WAIT_POLICY=PASSIVE) every tree's parallel regions wake two
    # threads, and inside a run the SME fits took 17 s on two threads against 11 s on one (same trees)
    "n_jobs": 1,
    "verbose": -1,
    "deterministic": True,
    "force_row_wise": True,
}
EARLY_STOPPING_ROUNDS = 50
# Trees of one term each (a feature, or a pair): three leaves, so at most two splits and two features a tree
TERM_FIXED = {"num_leaves": 3, "learning_rate": 0.02, "n_estimators": 20000}
TREE_PAIRS_PER_FEATURE = 3  # a GA2M's pairs: at most 3 per feature, best FAST gain first (an EBM's default "3x")
TERM_SETTINGS = [{"min_child_samples": m} for m in (20, 100)]


@dataclasses.dataclass
class TunedLightGBM:
    model: object  # the best lightgbm.LGBMClassifier
    params: dict
    valid_auc: float
    seconds: float

    @property
    def trees(self) -> int:
        return int(self.model.best_iteration_ or self.model.n_estimators_)

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Margins (log-odds) of the kept trees."""
        return self.model.predict(x, raw_score=True, num_iteration=self.trees)

    def proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x, num_iteration=self.trees)[:, 1]


def tune(
    x_train, y_train, x_valid, y_valid, categorical: list[int], seed: int, log=None, terms: list | None = None
) -> TunedLightGBM:
    """The grid, each fit with early stopping on validation AUC; the best validation AUC wins (`log`: a line
    per setting). With `terms` (lists of feature positions), every tree reads the features of one term only and
    has at most two splits: an additive model of the terms (a GA2M, as an EBM is), over the `TERM_SETTINGS`."""
    import lightgbm as lgb

    best, start = None, time.perf_counter()
    settings = SETTINGS if terms is None else TERM_SETTINGS
    for number, params in enumerate(settings, 1):
        fit_start = time.perf_counter()
        extra = {} if terms is None else {**TERM_FIXED, "interaction_constraints": terms}
        model = lgb.LGBMClassifier(**{**FIXED, **extra}, **params, random_state=seed)
        model.fit(
            x_train,
            y_train,
            eval_X=(x_valid,),
            eval_y=(y_valid,),
            eval_metric="auc",
            categorical_feature=categorical or "auto",
            callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
        )
        area = auc(y_valid, model.predict_proba(x_valid, num_iteration=model.best_iteration_)[:, 1])
        if log is not None:
            log(
                f"  LightGBM {number}/{len(settings)} {params}: validation AUC {area:.4f}, "
                f"{model.best_iteration_ or model.n_estimators_} trees, {time.perf_counter() - fit_start:.0f} s"
            )
        if best is None or area > best[0]:
            best = (area, params, model)
    area, params, model = best
    return TunedLightGBM(model, params, area, time.perf_counter() - start)


class TreeMatrix:
    """Raw prepared arrays → the GBDT's float64 input matrix (the same layers the model's trees read)."""

    def __init__(self, spec: ModelSpec, state: FittedState, batch_size: int = 65536):
        self.columns = [c.name for c in spec.input_columns if c.is_scalar]  # a GBDT reads scalar columns only
        self.model, categorical = tree_input_model(spec, state, self.columns)
        self.categorical = [j for j, c in enumerate(categorical) if c]
        self.batch_size = batch_size

    def __call__(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        tensors = to_tensors({name: arrays[name] for name in self.columns})
        parts = [self.model(block).numpy() for block in chunks(tensors, self.batch_size)]
        return np.concatenate(parts).astype("float64")


def fit_trees(
    spec: ModelSpec, state: FittedState, train, valid, seed: int, log=print, pairs: list | None = None
) -> FittedState:
    """The state with the tuned LightGBM's trees under `GBDT` (`train`, `valid`: splits with arrays and labels).
    With `pairs` (pairs of column names), the trees are a GA2M's: each reads one feature, or one of the pairs."""
    matrix = TreeMatrix(spec, state)
    terms = None
    if pairs is not None:
        position = {name: j for j, name in enumerate(matrix.columns)}
        terms = [[j] for j in range(len(matrix.columns))]
        terms += [[position[a], position[b]] for a, b in pairs if a in position and b in position]
    shape = f"{len(SETTINGS)} settings" if terms is None else f"one feature or pair a tree: {len(terms)} terms"
    log(f"GBDT wide branch: tuning LightGBM on validation ({shape})")
    x_train, x_valid = matrix(train.arrays), matrix(valid.arrays)
    tuned = tune(x_train, train.labels, x_valid, valid.labels, matrix.categorical, seed, log, terms)
    booster = tuned.model.booster_
    trees = Trees.from_lightgbm(booster, matrix.columns, [j in matrix.categorical for j in range(len(matrix.columns))])
    trees = dataclasses.replace(trees, trees=trees.trees[: tuned.trees])
    log(
        f"GBDT wide branch: LightGBM {tuned.params} with {tuned.trees} trees (validation AUC {tuned.valid_auc:.4f}, "
        f"{tuned.seconds:.0f} s)"
    )
    if terms is None:
        return {**state, GBDT: trees}
    compiled = compile_terms(trees)
    log(f"GBDT wide branch: its {tuned.trees} trees compiled into {len(compiled.trees)} tables of one feature or pair")
    return {**state, GBDT: compiled}


def compile_terms(trees: Trees) -> Terms:
    """The trees, each reading one feature or two, as one exact table per feature set (`feature_columns.terms`):
    the cells are cut at the trees' own split points, and each cell's value is the trees' sum at a point of it,
    computed by the model's own tree layer (so the table decides as the trees do in the graph)."""
    from feature_columns.tree_layers import TreeLeaves

    groups: dict[tuple[int, ...], list] = {}
    constant = 0.0
    for tree in trees.trees:
        used = tuple(sorted(set(tree.feature)))
        if len(used) > 2:
            raise ValueError(f"a tree reads {len(used)} features; a compiled term reads one or two")
        if used:
            groups.setdefault(used, []).append(tree)
        else:
            constant += tree.leaf_values[0]
    compiled = []
    for used, members in sorted(groups.items(), key=lambda item: (len(item[0]), item[0])):
        axes = [_axis(members, f, trees.categorical[f]) for f in used]
        points = [_points(axis) for axis in axes]
        grid = np.full((int(np.prod([len(p) for p in points])), len(trees.columns)), np.nan, "float32")
        for axis, values in zip(axes, np.meshgrid(*points, indexing="ij")):
            grid[:, axis.feature] = values.reshape(-1)
        subset = dataclasses.replace(trees, trees=tuple(members), blend=None)
        leaves = TreeLeaves(subset)(grid).numpy()
        values = sum(np.asarray(t.leaf_values)[leaves[:, i]] for i, t in enumerate(members))
        compiled.append(Term(tuple(axes), tuple(float(v) for v in values)))
    if compiled:
        first = compiled[0]
        compiled[0] = Term(first.axes, tuple(v + constant for v in first.values))
    return Terms(trees.columns, trees.categorical, tuple(compiled), source_trees=len(trees.trees))


def _axis(members, feature: int, categorical: bool) -> Axis:
    """A feature's cells in a term: the float32 thresholds its trees split it at (and the band LightGBM treats
    as zero, where a split says so), or its codes grouped by the way its trees' splits send them."""
    from feature_columns.tree_layers import ZERO_THRESHOLD_32, float32_at_most

    nodes = [(t, n) for t in members for n, f in enumerate(t.feature) if f == feature]
    if categorical:
        listed = [set(t.categories[n]) for t, n in nodes]
        codes = max((c for cats in listed for c in cats), default=-1) + 1
        signatures = [tuple(c in cats for cats in listed) for c in range(codes)] + [(False,) * len(listed)]
        cells = {signature: k for k, signature in enumerate(dict.fromkeys(signatures))}
        return Axis(feature, classes=tuple(cells[s] for s in signatures))
    cuts = float32_at_most(np.asarray([t.threshold[n] for t, n in nodes], "float64"))
    if any(t.missing[n] == "Zero" for t, n in nodes):
        cuts = np.concatenate([cuts, [np.nextafter(-ZERO_THRESHOLD_32, -np.inf), ZERO_THRESHOLD_32]])
    return Axis(feature, boundaries=tuple(float(b) for b in np.unique(cuts.astype("float32"))))


def _points(axis: Axis) -> np.ndarray:
    """A value inside each of an axis's cells (NaN for the missing one)."""
    if axis.is_categorical:
        first = {cell: code for code, cell in reversed(list(enumerate(axis.classes[:-1])))}
        return np.asarray([first.get(cell, np.nan) for cell in range(axis.cells)], "float32")
    bounds = np.asarray(axis.boundaries, "float32")
    top = np.nextafter(bounds[-1], np.float32(np.inf)) if len(bounds) else np.float32(0)
    return np.concatenate([bounds, [top, np.nan]]).astype("float32")
