"""The model_dir owner: its files, typed reads, atomic writes, the resume check and loading a run back."""

import json

import pytest

from feature_columns.errors import UserError
from feature_columns.fitting import fit_state
from feature_columns.inputs import prepare_frame
from tests.conftest import quiet
from wide_deep.core.calibration import Calibrator
from wide_deep.core.config import ModelConfig
from wide_deep.record.config import RunConfig
from wide_deep.record.model_dir import CONFIG, METRICS, PREPROCESSING, SPEC, ModelDir


def test_settings_are_saved_and_read_back_typed(toy_spec, toy_frame, tmp_path):
    run = ModelDir(tmp_path / "run")
    assert not run.is_run() and not run.check_resumable(RunConfig(), toy_spec)
    state = fit_state(toy_spec, prepare_frame(toy_spec, toy_frame))
    config = RunConfig(dataset="toy", include_protected=True, model=ModelConfig(hidden_units=(4,)))
    run.save_settings(config, toy_spec, state)
    assert run.is_run() and run.load_config() == config and run.load_state() == state
    assert run.load_spec() == toy_spec and run.file(SPEC).read_text() == toy_spec.to_yaml()
    assert json.loads(run.file(CONFIG).read_text())["model_shaping"] == json.loads(json.dumps(config.model_shaping()))
    assert json.loads(run.file(PREPROCESSING).read_text())["version"] == 1
    assert run.check_resumable(config, toy_spec)
    with pytest.raises(UserError, match=r"different settings \(--hidden_units: was \[4\], now \[256, 128, 64\]\)"):
        run.check_resumable(RunConfig(dataset="toy", include_protected=True), toy_spec)
    assert sorted(p.name for p in run.path.iterdir()) == sorted([CONFIG, SPEC, PREPROCESSING])  # nothing partial


def test_files_and_folders_of_a_run(tmp_path):
    run = ModelDir(tmp_path)
    files = run.training_files()
    assert files.checkpoints.parent == files.best.parent == files.summaries.parent == tmp_path
    assert files.history == run.history and run.worker(2).path == tmp_path / "worker2"
    assert run.export_root.parent == tmp_path and run.latest_export() is None and run.export_versions() == []
    run.save_calibrator(Calibrator("platt", 1.5, -0.2))
    run.save_metrics({"auc": 0.7})
    assert run.read_metrics() == {"auc": 0.7}


def test_old_export_versions_are_pruned_to_the_newest(tmp_path):
    run = ModelDir(tmp_path)
    for version in (100, 200, 300, 1000):
        (run.export_root / str(version)).mkdir(parents=True)
        (run.export_root / str(version) / "saved_model.pb").write_bytes(b"")
    (run.export_root / ".staging-400-1").mkdir()  # not a version: left alone
    assert run.prune_exports(0) == [] and len(run.export_versions()) == 4
    removed = run.prune_exports(2)
    assert [p.name for p in removed] == ["100", "200"]  # by version number, not by name order
    assert [p.name for p in run.export_versions()] == ["300", "1000"] and (run.export_root / ".staging-400-1").exists()
    assert run.prune_exports(5) == []


def test_a_damaged_or_missing_file_is_a_clear_error(tmp_path):
    run = ModelDir(tmp_path)
    with pytest.raises(UserError, match="is not a model_dir"):
        run.load_config()
    with pytest.raises(UserError, match=r"lacks \['metrics.json'\]"):
        run.require(METRICS)
    run.file(METRICS).write_text('{"auc": 0.7')  # cut short
    with pytest.raises(UserError, match="metrics.json is not valid JSON"):
        run.read_metrics()


def test_load_estimator_routes_the_spec_as_it_was_trained(sme_run):
    run = ModelDir(sme_run)
    estimator = run.load_estimator(log=quiet)
    config = run.load_config()
    assert not config.include_protected
    assert "gender" not in {c.name for c in estimator.spec.input_columns}  # protected: out, as in training
    assert estimator.model_config.hidden_units == config.model.hidden_units
