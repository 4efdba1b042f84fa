"""`make spec` → train: the real CLI writes a spec the training pipeline accepts, and never overwrites one."""

from tests.conftest import PROJECT_ROOT, quiet, run_cli

GERMAN = PROJECT_ROOT / "data/german/germancredit.csv"


def test_make_spec_then_train(tmp_path):
    from wide_deep.core.config import TrainConfig
    from wide_deep.record.config import RunConfig
    from wide_deep.run.pipeline import run_training

    output = tmp_path / "german.yaml"
    args = (f"--input={GERMAN}", "--label=creditability", f"--output={output}")
    proc = run_cli(*args, module="experiments.spec")
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {output}" in proc.stdout and "warning: column 'status_of_existing_checking_account'" in proc.stdout
    text = output.read_text()
    config = RunConfig(
        dataset=str(GERMAN),
        spec=str(output),
        model_dir=str(tmp_path / "m"),
        export=False,
        evidence=False,
        train=TrainConfig(epochs=2),
    )
    result = run_training(config, log=quiet)
    assert result["dataset"] == "germancredit" and 0.5 < result["auc"] <= 1
    again = run_cli(*args, module="experiments.spec")
    assert again.returncode == 2 and "is never overwritten" in again.stderr and output.read_text() == text


def test_make_spec_names_what_is_wrong_with_a_csv_it_cannot_infer_from(tmp_path):
    """A header-only CSV and a 1 MB column name: one error line each (exit code 2), no spec written."""
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b,y\n")
    long_name = tmp_path / "long.csv"
    long_name.write_text("a," + "b" * 1_000_000 + ",y\n1,2,0\n3,4,1\n")
    for path, message in [(header_only, "has no data rows"), (long_name, "line 1 (the header) cannot be parsed")]:
        proc = run_cli(f"--input={path}", "--label=y", module="experiments.spec")
        assert proc.returncode == 2 and proc.stderr.startswith("error: ") and message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and not list(tmp_path.glob("*.yaml"))
