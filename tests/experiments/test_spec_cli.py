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
