"""The export layout: complete versions only, newest last; a loaded export knows its inputs and sidecar files."""

from __future__ import annotations

import math

import pytest

from feature_columns.errors import UserError
from wide_deep.record.export_layout import VersionLayout, export_versions
from wide_deep.record.model_dir import ModelDir
from wide_deep.serving.saved_model import LoadedExport


def test_only_complete_numbered_versions_count(tmp_path):
    for name in ("3", "12", ".staging-13-99", "notes"):
        (tmp_path / name).mkdir()
    for name in ("3", "12", ".staging-13-99"):
        (tmp_path / name / "saved_model.pb").write_bytes(b"")
    (tmp_path / "20").mkdir()  # a version folder still being written
    assert [p.name for p in export_versions(tmp_path)] == ["3", "12"]
    assert export_versions(tmp_path / "absent") == []


def test_a_loaded_export_predicts_from_columns(sme_run):
    run = ModelDir(sme_run)
    export = LoadedExport(run.latest_export())
    assert export.version == int(run.latest_export().name) and export.packed is not None
    assert VersionLayout(export.path).spec.exists() and export.state().keys() >= {"city"}
    out = export.predict_columns(export.example_columns())  # a row where everything is missing is still scored
    assert 0 < out["probability"][0] < 1 and out["unseen_categories"] == [""]
    assert math.isfinite(export.explain_info()["intercept"])
    with pytest.raises(UserError, match="no serving_other signature"):
        export.require("serving_other")
