"""`make spec` → train: the real CLI writes a spec the training pipeline accepts, and never overwrites one."""

from tests.conftest import PROJECT_ROOT, quiet, run_cli

GERMAN = PROJECT_ROOT / "data/german/germancredit.csv"


def train_briefly(data, spec, model_dir) -> dict:
    """Two epochs of `make train` on `data` with the spec file as written (no evidence, no export)."""
    from wide_deep.core.config import TrainConfig
    from wide_deep.record.config import RunConfig
    from wide_deep.run.pipeline import run_training

    config = RunConfig(
        dataset=str(data),
        spec=str(spec),
        model_dir=str(model_dir),
        export=False,
        evidence=False,
        train=TrainConfig(epochs=2),
    )
    return run_training(config, log=quiet)


def test_make_spec_then_train(tmp_path):
    output = tmp_path / "german.yaml"
    args = (f"--input={GERMAN}", "--label=creditability", f"--output={output}")
    proc = run_cli(*args, module="experiments.spec")
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {output}" in proc.stdout
    assert "status_of_existing_checking_account" not in proc.stdout  # a characteristic, not a loan status
    text = output.read_text()
    result = train_briefly(GERMAN, output, tmp_path / "m")
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


def loan_book(n: int = 3000):
    """A loan file of the shapes `make spec` met in real books: a saved pandas index (empty first header cell), a
    four-valued status, a charge-off date present exactly for defaults, a loan number, an applicant's age in days,
    marital status, a car's age, coded education, and an application date with empty cells."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    income = rng.lognormal(10, 0.5, n).round(0)
    education = rng.choice([1, 2, 3, 4], n)
    risk = -1.5 - 0.8 * (np.log(income) - 10) + 0.3 * (education == 3)
    bad = rng.random(n) < 1 / (1 + np.exp(-risk))
    status = np.where(bad, rng.choice(["Charged Off", "Default"], n), rng.choice(["Fully Paid", "Current"], n))
    dates = pd.date_range("2019-01-01", periods=400, freq="D").strftime("%Y-%m-%d").to_numpy()
    return pd.DataFrame(
        {
            "loan_status": status,
            "LoanNr_ChkDgt": 1_000_000 + 7 * np.arange(n),
            "income": income,
            "EDUCATION": education,
            "DAYS_BIRTH": -rng.integers(8000, 25000, n),
            "NAME_FAMILY_STATUS": rng.choice(["Married", "Single / not married", "Widow"], n),
            "OWN_CAR_AGE": rng.integers(0, 30, n).astype(float),
            "chgoff_date": np.where(bad, rng.choice(dates, n), ""),
            "application_date": np.where(rng.random(n) < 0.1, "", rng.choice(dates, n)),
        }
    )


def test_make_spec_reads_a_real_loan_book_as_a_modeller_would(tmp_path):
    """The shapes above: the index left out, POSITIVE names the default values, the charge-off date is named as
    the leak it is, the loan number is the id, age and marital status are protected (the car's age is not), codes
    are categories, the date with empty cells is a date; then `make train` runs on the spec as written."""
    from feature_columns.kinds.categorical import CategoricalColumn
    from feature_columns.spec import FeatureSpec

    book = tmp_path / "book.csv"
    loan_book().to_csv(book)  # index=True: the first header cell is empty
    assert book.read_text().startswith(",loan_status,")
    output = tmp_path / "book.yaml"
    refused = run_cli(f"--input={book}", "--label=loan_status", f"--output={output}", module="experiments.spec")
    assert refused.returncode == 2 and "has 4 distinct value(s)" in refused.stderr and "POSITIVE=" in refused.stderr
    proc = run_cli(
        f"--input={book}",
        "--label=loan_status",
        "--positive=Charged Off,Default",
        f"--output={output}",
        module="experiments.spec",
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning: column 'chgoff_date': whether it is empty alone separates the label" in proc.stdout
    spec = FeatureSpec.from_yaml(output)
    text = output.read_text()
    assert spec.label.positive == ("Charged Off", "Default") and spec.label.negative == ("Current", "Fully Paid")
    assert spec.id_column == "LoanNr_ChkDgt" and "column 1 of the header has no name" in text
    columns = {c.name: c for c in spec.columns}
    assert "chgoff_date" not in columns and "POSSIBLE LEAK" in text.split("# chgoff_date:")[1].splitlines()[0]
    assert columns["DAYS_BIRTH"].protected and columns["NAME_FAMILY_STATUS"].protected
    assert not columns["OWN_CAR_AGE"].protected
    assert isinstance(columns["EDUCATION"], CategoricalColumn)
    assert "application_date" not in columns and "application_date: dates" in text
    result = train_briefly(book, output, tmp_path / "m")
    assert 0.5 < result["auc"] < 0.9  # no leak left in: the income and education signal only
