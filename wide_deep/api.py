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

import dataclasses
from pathlib import Path

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
