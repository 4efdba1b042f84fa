"""Wide & Deep credit models from Python: fit on a DataFrame, score a DataFrame, reopen a trained model_dir.

    from wide_deep.api import CreditModel
    model = CreditModel.fit(loans, "loans.yaml", model_dir="runs/loans")      # the accurate preset
    scores = model.score(new_loans, reasons=3)   # id, probability, score, score_exact, decision, band, reasons
    model = CreditModel.load("runs/loans")       # the newest export of a run trained by any command
    model.save_keras("loans.keras")              # one file; wide_deep.api.load_model reads it in any session

It is the training path of `make train` (the same RunConfig, pipeline, evidence and export), with the
data and spec handed over as objects; settings are named as the flags are (`epochs=5`, `hidden_units=(64,)`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from feature_columns.errors import UserError
from feature_columns.spec import FeatureSpec
from wide_deep.core.config import ModelConfig, TrainConfig
from wide_deep.core.startup import quiet_tensorflow_import
from wide_deep.record.config import PRESETS, RunConfig, check_settings, preset_defaults
from wide_deep.record.model_dir import ModelDir
from wide_deep.run.pipeline import run_training
from wide_deep.run.prepared import GivenData

quiet_tensorflow_import()  # a notebook's first TensorFlow import without the CUDA notices


class CreditModel:
    """A trained run: its newest export scores raw applications; `metrics` is what training measured."""

    def __init__(self, model_dir: str | Path, log=print):
        from wide_deep.serving.scoring import Scorer

        self.model_dir = Path(model_dir)
        self.log = log
        self.scorer = Scorer(model_dir, log)

    @classmethod
    def load(cls, model_dir: str | Path, log=print) -> CreditModel:
        return cls(model_dir, log)

    @classmethod
    def fit(
        cls,
        data: pd.DataFrame | str | Path,
        spec: FeatureSpec | str | Path,
        model_dir: str | Path,
        preset: str = "accurate",
        log=print,
        **settings,
    ) -> CreditModel:
        """Train on `data` (a DataFrame, or a CSV/Parquet path) described by `spec` (a FeatureSpec or a YAML path),
        evaluate on its test split, collect the evidence and export into `model_dir`; rerun to resume."""
        if preset not in PRESETS:
            raise UserError(f"preset={preset!r} is not one of {list(PRESETS)}")
        config = run_config(preset, model_dir, **settings)
        if isinstance(spec, FeatureSpec) or isinstance(data, pd.DataFrame):
            spec = spec if isinstance(spec, FeatureSpec) else FeatureSpec.from_yaml(spec)
            given = GivenData(data if isinstance(data, pd.DataFrame) else Path(data), spec)
            name = f"DataFrame:{spec.name}" if isinstance(data, pd.DataFrame) else str(data)
            config = dataclasses.replace(config, dataset=name, spec=None)
        else:
            given, config = None, dataclasses.replace(config, dataset=str(data), spec=str(spec))
        run_training(config, log=log, given=given)
        return cls(model_dir, log)

    @property
    def metrics(self) -> dict:
        return ModelDir(self.model_dir).read_metrics()

    def score(self, frame: pd.DataFrame, transactions=None, reasons: int = 0) -> pd.DataFrame:
        """One row per application: the id (when the spec has one), probability, score (whole points) and
        score_exact, decision (`approve` / `decline`), score_band, unseen_categories and, with `reasons` > 0,
        reason_i / reason_i_contribution (what raised the risk)."""
        return self.scorer.score_table(frame, transactions, reasons, source="the DataFrame")

    def save_keras(self, path: str | Path) -> Path:
        """The model as one `.keras` file (raw features → probability, score, decision), written atomically;
        `load_model(path)` reads it in any Python session (`wide_deep.serving.keras_file`)."""
        from wide_deep.serving.keras_file import save_keras

        return save_keras(self.model_dir, path, log=self.log)


def load_model(path: str | Path):
    """A `.keras` file of this project's models as a Keras model, in any Python session (its layers registered,
    TensorFlow's start-up notices filtered): `model(features)` returns probability, score and decision."""
    from wide_deep.serving.keras_file import load_model as load

    return load(path)


def run_config(preset: str, model_dir: str | Path, **settings) -> RunConfig:
    """The RunConfig of `preset` with `settings` (named as the flags are) applied to the run, model or training."""
    fields = {
        "run": {f.name for f in dataclasses.fields(RunConfig)} - {"model", "train", "model_dir"},
        "model": {f.name for f in dataclasses.fields(ModelConfig)},
        "train": {f.name for f in dataclasses.fields(TrainConfig)},
    }
    unknown = sorted(set(settings) - set().union(*fields.values()))
    if unknown:
        raise UserError(f"unknown setting(s) {unknown}; known: {sorted(set().union(*fields.values()))}")
    if not isinstance(model_dir, (str, Path)) or not str(model_dir).strip():
        raise UserError(f"model_dir={model_dir!r}: name the folder of the run (a path)")
    check_settings(settings)  # the checks of the command line's flags, before any work
    model, train = preset_defaults(preset, set(settings))  # as on the command line
    config = RunConfig(model_dir=str(model_dir), model=ModelConfig(**model), train=TrainConfig(**train))
    return dataclasses.replace(
        config,
        **{k: v for k, v in settings.items() if k in fields["run"]},
        model=dataclasses.replace(config.model, **{k: v for k, v in settings.items() if k in fields["model"]}),
        train=dataclasses.replace(config.train, **{k: v for k, v in settings.items() if k in fields["train"]}),
    )


class CreditClassifier:
    """A scikit-learn-shaped Wide & Deep credit model: `fit(X, y)` (or `fit(frame)` with the label inside),
    `predict_proba`, `predict`, `decision_function`, `score`, `get_params` / `set_params`, `save` / `load`,
    `scorecard()` and `reasons()` as DataFrames; quiet unless `verbose`.

        model = CreditClassifier(epochs=20).fit(X_train, y_train)      # a starter spec is inferred from X
        model.predict_proba(X_test)[:, 1]; model.score(X_test, y_test)  # AUC
        model.save("credit_model"); CreditClassifier.load("credit_model")

    `spec`: a FeatureSpec or YAML path (None: inferred from the data as `make spec` would, the label being `y`);
    `model_dir`: where the run lives (None: a new temporary folder, kept until `save` copies it); `preset` and
    `settings` (flag names, e.g. `epochs=20`) as on the command line. Rows are DataFrames of raw columns, as
    `make predict` reads them; `X` may hold columns the spec does not use.
    """

    def __init__(self, spec=None, model_dir=None, preset: str = "accurate", verbose: bool = False, **settings):
        self.spec = spec
        self.model_dir = model_dir
        self.preset = preset
        self.verbose = verbose
        for name, value in settings.items():  # each setting an attribute of its own name, as scikit-learn wants
            setattr(self, name, value)

    # --- scikit-learn's parameter protocol ---------------------------------------------------
    @property
    def settings(self) -> dict:
        """The run settings given (flag names): every public attribute but the four above and fitted ones."""
        return {
            k: v
            for k, v in vars(self).items()
            if k not in ("spec", "model_dir", "preset", "verbose") and not k.startswith("_") and not k.endswith("_")
        }

    def get_params(self, deep: bool = True) -> dict:
        return {
            "spec": self.spec,
            "model_dir": self.model_dir,
            "preset": self.preset,
            "verbose": self.verbose,
            **self.settings,
        }

    def set_params(self, **params) -> CreditClassifier:
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=False),
            classifier_tags=ClassifierTags(multi_class=False),
        )

    def __repr__(self) -> str:
        given = {k: v for k, v in self.get_params().items() if v not in (None, False) and k != "preset"}
        given = {"preset": self.preset, **given}
        text = f"CreditClassifier({', '.join(f'{k}={v!r}' for k, v in given.items())})"
        if not hasattr(self, "model_"):
            return text
        metrics = self.model_.metrics
        return (
            f"{text}  # fitted in {self.model_.model_dir}: test AUC {metrics['auc']:.4f}, KS {metrics['ks']:.3f}, "
            f"readable share {metrics.get('readable_share', float('nan')):.2f}"
        )

    # --- fitting and scoring -----------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y=None) -> CreditClassifier:
        """Train on `X` (with `y`, the 0/1 default labels, or the spec's label column inside `X`): the
        preset's 60/20/20 split of these rows, evidence and export, as `make train` does."""
        import tempfile

        frame, spec = self._training_frame(X, y)
        model_dir = self.model_dir or tempfile.mkdtemp(prefix="credit_classifier_")
        with _quiet_tensorflow(not self.verbose):
            self.model_ = CreditModel.fit(frame, spec, model_dir, self.preset, log=_log(self.verbose), **self.settings)
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        return self

    def _training_frame(self, X: pd.DataFrame, y) -> tuple[pd.DataFrame, FeatureSpec]:
        """(the frame to train on, its spec): `y` joined as the spec's label column (`target` when the spec is
        inferred)."""
        from wide_deep.data.inference import infer_spec

        if not isinstance(X, pd.DataFrame):
            raise UserError(f"X must be a pandas DataFrame of raw columns (got {type(X).__name__})")
        spec = (
            self.spec if isinstance(self.spec, FeatureSpec) or self.spec is None else FeatureSpec.from_yaml(self.spec)
        )
        label = spec.label.column if spec is not None else "target"
        frame = X.copy()
        if y is not None:
            if len(y) != len(X):
                raise UserError(f"y has {len(y):,} labels for {len(X):,} rows of X")
            labels = pd.Series(np.asarray(y), index=X.index)
            frame[label] = labels.astype(str) if spec is None else labels
        elif label not in frame.columns:
            raise UserError(f"no labels: pass y, or a frame with the label column '{label}'")
        if spec is None:
            spec = infer_spec(frame, label=label, name="credit_classifier").spec
        return frame, spec

    def _fitted(self) -> CreditModel:
        if not hasattr(self, "model_"):
            raise UserError("this CreditClassifier is not fitted yet: call fit(X, y) first")
        return self.model_

    def _scores(self, X: pd.DataFrame, reasons: int = 0) -> pd.DataFrame:
        return self._fitted().score(X, reasons=reasons)

    def predict_proba(self, X: pd.DataFrame):
        """[n, 2]: the probability of no default and of default (calibrated as the export is)."""
        p = self._scores(X)["probability"].to_numpy(dtype="float64")
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame):
        """1 where the model's cut-off declines the application (its probability of default is at or above the
        threshold chosen on validation), else 0."""
        return (self._scores(X)["decision"] == "decline").to_numpy().astype("int64")

    def decision_function(self, X: pd.DataFrame):
        """The log-odds of default (higher: riskier)."""
        from scipy.special import logit

        return logit(self.predict_proba(X)[:, 1].clip(1e-12, 1 - 1e-12))

    def score(self, X: pd.DataFrame, y) -> float:
        """The AUC of the probabilities of default against `y` (the metric credit models are ranked by; not
        accuracy, which a 0.5 cut-off makes meaningless at low default rates)."""
        from wide_deep.ranking import auc

        return float(auc(pd.Series(y).to_numpy().astype("int64"), self.predict_proba(X)[:, 1]))

    def scorecard(self) -> pd.DataFrame:
        """Points per characteristic and attribute (the run's scorecard.csv)."""
        return pd.read_csv(self._fitted().model_dir / "scorecard.csv")

    def reasons(self, X: pd.DataFrame, n: int = 3) -> pd.DataFrame:
        """Each row's probability, score, decision and its `n` top reasons (code, text, contribution)."""
        return self._scores(X, reasons=n)

    # --- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Copy the fitted run to `path` (a new folder): `CreditClassifier.load(path)` reopens it anywhere."""
        import shutil

        model_dir, path = self._fitted().model_dir, Path(path)
        if path.exists():
            raise UserError(f"{path} exists; it is never overwritten (save to a new folder)")
        partial = path.with_name(f".{path.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(model_dir, partial)
        partial.rename(path)
        return path

    @classmethod
    def load(cls, path: str | Path, verbose: bool = False) -> CreditClassifier:
        """A saved (or any trained) run as a fitted classifier."""
        model = cls(model_dir=str(path), verbose=verbose)
        model.model_ = CreditModel.load(path, log=_log(verbose))
        model.classes_ = np.array([0, 1])
        return model


def _log(verbose: bool):
    """The run's log: printed when `verbose`, else dropped."""
    return print if verbose else (lambda *_: None)


@contextlib.contextmanager
def _quiet_tensorflow(quiet: bool):
    """TensorFlow's own Python warnings (retracing notices) silenced while `quiet`."""
    if not quiet:
        yield
        return
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)
