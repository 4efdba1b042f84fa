"""The `model_dir` of a run: the one owner of its file names, and of loading a run back.

    model_dir/
      config.json            how the run was configured (RunConfig) and the settings a resume must match
      spec.yaml              the dataset's FeatureSpec as trained (unrouted)
      preprocessing.json     the state fitted on the training split
      checkpoints/ best/     epoch checkpoints (for resume) and the best validation weights
      summaries/             TensorBoard scalars
      history.csv            one row per epoch
      calibration.json       the calibrator fitted on validation
      refit.json             the wide columns refitted on the training and validation rows (--refit_scorecard)
      metrics.json           test metrics and the run's facts
      evidence.json          credit-risk evidence tables (the monitoring baseline among them)
      test_scores.parquet    test labels and scores (the report's curves and intervals)
      scorecard.csv/.md      the wide branch as points
      strategy.csv           score bands on the test split: approval and default rates were the cut-off there
      report.html            `make report`
      export/<version>/      SavedModels (`wide_deep.serving.export`)
      worker<k>/             the checkpoints of worker k of a multi-worker run
      members/<k>/           an ensemble's member k: its checkpoints, best weights, summaries, history

Every file is written atomically (a temporary name, then a rename), so a run killed at any
moment leaves each file whole or absent.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from feature_columns.errors import UserError
from feature_columns.fitting import GBDT, FittedState, state_from_json, state_to_json
from feature_columns.spec import FeatureSpec
from wide_deep.data.sources import make_folder, write_atomically, write_frame
from wide_deep.record.config import RunConfig, flat_settings
from wide_deep.record.export_layout import export_versions

if TYPE_CHECKING:  # TensorFlow is imported only by what trains or loads a model
    from wide_deep.core.calibration import Calibrator
    from wide_deep.core.checkpoints import TrainingFiles
    from wide_deep.core.trainer import Estimator
    from wide_deep.core.warm_start import Refit

CONFIG = "config.json"
SPEC = "spec.yaml"
PREPROCESSING = "preprocessing.json"
CALIBRATION = "calibration.json"
REFIT = "refit.json"
METRICS = "metrics.json"
EVIDENCE = "evidence.json"
HISTORY = "history.csv"
TEST_SCORES = "test_scores.parquet"
SCORECARD_CSV = "scorecard.csv"
SCORECARD_MD = "scorecard.md"
STRATEGY_CSV = "strategy.csv"
REPORT = "report.html"
CHECKPOINTS = "checkpoints"
BEST = "best"
SUMMARIES = "summaries"
EXPORT = "export"
MEMBERS = "members"
# every name a run writes in its folder: a folder holding only these (and workers' folders) is a run, or the start
# of one that a full disk or a kill interrupted before its config.json (it starts again there)
RUN_FILES = frozenset(
    {CONFIG, SPEC, PREPROCESSING, CALIBRATION, METRICS, EVIDENCE, HISTORY, TEST_SCORES, SCORECARD_CSV, SCORECARD_MD}
    | {STRATEGY_CSV, REPORT, CHECKPOINTS, BEST, SUMMARIES, EXPORT, MEMBERS}
)


def refuse_inside_runs(path: str | Path, what: str) -> None:
    """An output a command writes must not land inside a run's folder or an export tree: it would replace or pollute
    what the run's own commands read back (its evidence, its test scores, its export versions). A UserError
    naming the folder otherwise."""
    if not str(path).strip():  # an empty path is the caller's own error to report
        return
    target = Path(os.path.realpath(path))
    for folder in target.parents:
        if (folder / SPEC).exists() and ((folder / CONFIG).exists() or (folder / PREPROCESSING).exists()):
            raise UserError(
                f"{what} {path} is inside the run folder {folder}: a run's files are written by its own commands "
                f"only; write it elsewhere"
            )
        if (folder / "saved_model.pb").exists() or export_versions(folder):
            raise UserError(
                f"{what} {path} is inside the export {folder}: a SavedModel's folders are the server's to read; "
                f"write it elsewhere"
            )


def changed_settings(previous: dict, now: dict) -> list[str]:
    """`--flag: was A, now B` for each setting that differs (the nested model and train settings by their flag)."""
    before, after = flat_settings(previous), flat_settings(now)
    return [
        f"--{key}: was {before.get(key)!r}, now {after.get(key)!r}"
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


class ModelDir:
    """One run's folder: paths, typed reads and atomic writes of everything in it."""

    def __init__(self, path: str | Path):
        if not str(path).strip():
            raise UserError("the model_dir path is empty; name the folder of the run (e.g. --model_dir=runs/default)")
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.path)

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def export_root(self) -> Path:
        return self.path / EXPORT

    @property
    def report(self) -> Path:
        return self.path / REPORT

    @property
    def history(self) -> Path:
        return self.path / HISTORY

    def worker(self, index: int) -> ModelDir:
        """The folder of worker `index` (> 0) of a multi-worker run: its own checkpoints, for resuming."""
        return ModelDir(self.path / f"worker{index}")

    def member(self, index: int) -> ModelDir:
        """The folder of member `index` of an ensemble (`--ensemble_seeds`): its own checkpoints and history."""
        return ModelDir(self.path / MEMBERS / str(index))

    def training_files(self) -> TrainingFiles:
        from wide_deep.core.checkpoints import TrainingFiles

        return TrainingFiles(self.path / CHECKPOINTS, self.path / BEST, self.path / SUMMARIES, self.path / HISTORY)

    def is_run(self) -> bool:
        """It holds a run started by this version (a config.json)."""
        return (self.path / CONFIG).exists()

    def claim(self) -> None:
        """Make sure a run can be written here, creating the folder: refuse a file, a folder under a file,
        a read-only folder, and a non-empty folder that holds no run (the current directory, say). A folder that
        holds only a run's files without its config.json (a first write a full disk or a kill interrupted) is
        taken: the run starts again there."""
        make_folder(self.path, f"--model_dir={self.path}")
        if not self.is_run():
            foreign = sorted(
                p.name
                for p in self.path.iterdir()
                if not p.name.startswith(".")
                and not (p.is_dir() and p.name.startswith("worker"))
                and p.name not in RUN_FILES
            )
            if foreign:
                raise UserError(
                    f"--model_dir={self.path} is not empty and holds no run ({', '.join(foreign[:3])}"
                    f"{', ...' if len(foreign) > 3 else ''}); name a new or empty folder"
                )
        if not os.access(self.path, os.W_OK):
            raise UserError(f"--model_dir={self.path} is not writable (a read-only file system or no permission)")

    def require(self, *names: str, hint: str = "train it with this version (`make train MODEL_DIR=...`) first") -> None:
        missing = [n for n in names if not (self.path / n).exists()]
        if missing:
            raise UserError(f"{self.path} lacks {missing}: {hint}")

    # --- writes ------------------------------------------------------------------------
    def write_json(self, name: str, data) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path / name, json.dumps(data, indent=1, default=str))

    def write_text(self, name: str, text: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path / name, text)

    def save_settings(self, config: RunConfig, spec: FeatureSpec, state: FittedState) -> None:
        """What a later resume, `load_estimator` and the report read back: spec, fitted state, config."""
        self.write_text(SPEC, spec.to_yaml())
        self.write_text(PREPROCESSING, state_to_json(state))
        self.write_json(CONFIG, {"model_shaping": config.model_shaping(), "config": config.to_dict()})

    def save_calibrator(self, calibrator: Calibrator) -> None:
        self.write_text(CALIBRATION, calibrator.to_json())

    def save_refit(self, refit: Refit) -> None:
        self.write_json(REFIT, refit.to_json())

    def load_refit(self) -> Refit | None:
        """The run's refitted wide columns (`--refit_scorecard`), or None when it has none."""
        from wide_deep.core.warm_start import Refit

        return Refit.from_json(self.read_json(REFIT)) if (self.path / REFIT).exists() else None

    def save_metrics(self, metrics: dict) -> None:
        self.write_json(METRICS, metrics)

    def save_evidence(
        self, tables: dict, test_scores: pd.DataFrame, scorecard: pd.DataFrame, scorecard_markdown: str
    ) -> None:
        self.write_json(EVIDENCE, tables)
        self.write_text(SCORECARD_CSV, scorecard.to_csv(index=False))
        self.write_text(SCORECARD_MD, scorecard_markdown)
        if tables.get("strategy"):
            write_frame(pd.DataFrame(tables["strategy"]), self.path / STRATEGY_CSV)
        write_frame(test_scores, self.path / TEST_SCORES)

    # --- reads -------------------------------------------------------------------------
    def read_json(self, name: str) -> dict:
        try:
            return json.loads((self.path / name).read_text())
        except json.JSONDecodeError as err:
            raise UserError(
                f"{self.path / name} is not valid JSON ({err}); it was damaged outside this program"
            ) from None

    def load_config(self) -> RunConfig:
        if not self.is_run():
            raise UserError(f"{self.path} is not a model_dir (no {CONFIG}); train one with experiments.train first")
        return RunConfig.from_dict(self.read_json(CONFIG)["config"])

    def saved_model_shaping(self) -> dict:
        return self.read_json(CONFIG).get("model_shaping", {})

    def load_spec(self) -> FeatureSpec:
        return FeatureSpec.from_yaml(self.path / SPEC)

    def saved_spec_text(self) -> str | None:
        path = self.path / SPEC
        return path.read_text() if path.exists() else None

    def load_state(self) -> FittedState:
        path = self.path / PREPROCESSING
        return state_from_json(path.read_text(), str(path))

    def has_state(self) -> bool:
        return (self.path / PREPROCESSING).exists()

    def read_metrics(self) -> dict:
        return self.read_json(METRICS)

    def load_calibrator(self) -> Calibrator:
        """The calibrator the run fitted on validation (none: the identity)."""
        from wide_deep.core.calibration import Calibrator

        path = self.path / CALIBRATION
        return Calibrator.from_json(path.read_text()) if path.exists() else Calibrator()

    def read_evidence(self) -> dict:
        return self.read_json(EVIDENCE)

    def read_test_scores(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / TEST_SCORES)

    def read_scorecard(self) -> pd.DataFrame:
        return pd.read_csv(self.path / SCORECARD_CSV)

    def read_history(self) -> list[dict]:
        from wide_deep.core.callbacks import HistoryLog

        return HistoryLog(self.history).read()

    def report_inputs(self) -> tuple[str, ...]:
        """The files `make report` renders from."""
        return (METRICS, EVIDENCE, TEST_SCORES, SCORECARD_CSV)

    # --- resume and reload -----------------------------------------------------------------
    def check_resumable(self, config: RunConfig, spec: FeatureSpec) -> bool:
        """True when this folder holds a compatible run (resume); a UserError when it holds a different one."""
        if not self.is_run():
            return False
        previous = self.saved_model_shaping()
        now = json.loads(json.dumps(config.model_shaping(), default=str))
        if previous != now or self.saved_spec_text() != spec.to_yaml():
            changed = changed_settings(previous, now) or ["the spec file's content changed"]
            raise UserError(
                f"--model_dir={self.path} holds a run with different settings ({'; '.join(changed)}); "
                f"use a new --model_dir or delete that one"
            )
        return True

    def load_estimator(self, log=print) -> Estimator:
        """Reopen the trained run (spec routed as trained, fitted preprocessing, best weights) for predict/export."""
        from wide_deep.core.trainer import Estimator

        config = self.load_config()
        state = self.load_state()
        spec = config.route(self.load_spec(), state)
        estimator = Estimator(self.training_files(), spec, state, config.model, config.train, log=log)
        estimator.restore_best()
        trees = state.get(GBDT)
        if trees is not None and trees.blend is not None:  # the blend the run kept, rebuilt on the network
            from wide_deep.core.blend import Blend, with_trees

            estimator = with_trees(estimator, dataclasses.replace(spec, gbdt=True), state, Blend(*trees.blend))
        refit = self.load_refit()
        if refit is not None:  # the wide columns as the run refitted them, on the blended model
            from wide_deep.core.warm_start import apply_refit

            apply_refit(estimator.core, refit)
        return estimator

    def export_versions(self) -> list[Path]:
        return export_versions(self.export_root)

    def prune_exports(self, keep: int) -> list[Path]:
        """Delete all but the newest `keep` complete export versions (0: keep all); returns the deleted ones."""
        import shutil

        versions = self.export_versions()
        old = versions[:-keep] if 0 < keep < len(versions) else []
        for version in old:
            shutil.rmtree(version)
        return old

    def latest_export(self) -> Path | None:
        versions = self.export_versions()
        return versions[-1] if versions else None
