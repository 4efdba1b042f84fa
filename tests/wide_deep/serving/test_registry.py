"""The served model: the newest loadable export, newer ones swapped in, broken ones skipped and retried."""

from __future__ import annotations

import shutil

import pytest

from wide_deep.record.model_dir import ModelDir
from wide_deep.serving.registry import ModelRegistry
from wide_deep.serving.scoring import Scorer


@pytest.fixture
def model_dir(sme_run, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(sme_run, copy)
    return copy


def add_version(model_dir, name: str, broken: bool):
    run = ModelDir(model_dir)
    target = run.export_root / name
    shutil.copytree(run.latest_export(), target)
    if broken:
        (target / "saved_model.pb").write_bytes(b"not a SavedModel, or one still being copied")
    return target


def test_a_broken_newest_export_is_skipped_with_a_message(model_dir):
    good = ModelDir(model_dir).latest_export()
    add_version(model_dir, str(int(good.name) + 10), broken=True)
    said = []
    assert Scorer(model_dir, log=said.append).export.path == good
    assert said and "skipping export version" in said[0] and "cannot be loaded" in said[0]
    assert ModelRegistry(model_dir).current.path == good


def test_a_version_that_failed_is_retried_after_a_backoff(model_dir, monkeypatch):
    registry = ModelRegistry(model_dir, poll_seconds=1.0)
    served = registry.current.version
    newer = add_version(model_dir, str(served + 10), broken=True)
    clock = [1000.0]
    monkeypatch.setattr("wide_deep.serving.registry.time.monotonic", lambda: clock[0])
    assert not registry.reload_if_newer() and registry.status()["versions_failing_to_load"] == [served + 10]
    shutil.rmtree(newer)
    add_version(model_dir, str(served + 10), broken=False)  # the copy has finished
    assert not registry.reload_if_newer()  # still inside the backoff
    clock[0] += 1.5
    assert registry.reload_if_newer() and registry.current.version == served + 10
    assert registry.status()["versions_failing_to_load"] == []


def test_a_listing_error_does_not_stop_the_poller(model_dir, monkeypatch):
    registry = ModelRegistry(model_dir, poll_seconds=1.0)

    def too_many_open_files():
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(registry.run, "export_versions", too_many_open_files)
    assert not registry.reload_if_newer()
    status = registry.status()
    assert "Too many open files" in status["last_poll_error"] and status["served_version"] == registry.current.version
