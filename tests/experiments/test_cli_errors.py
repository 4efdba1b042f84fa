"""Every user mistake ends as one `error:` line with exit code 2 (never a traceback), and nothing is lost.

Flag mistakes are checked through the real CLIs (they fail before TensorFlow is imported, so a
process costs a tenth of a second); the other mistakes through `run_reporting_user_errors`,
the wrapper every entry point runs its work in, in process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from experiments.cli import run_reporting_user_errors
from tests.conftest import GERMAN, PROJECT_ROOT, SPECS, quiet
from wide_deep.core.config import ModelConfig, TrainConfig
from wide_deep.record.config import RunConfig

GERMAN_SPEC = SPECS / "german.yaml"
FLAG_MISTAKES = [
    ("experiments.train", "--learning_rate=inf", "--learning_rate must be a finite number above 0"),
    ("experiments.train", "--learning_rate=-1", "--learning_rate must be a finite number above 0"),
    ("experiments.train", "--wide_learning_rate=nan", "--wide_learning_rate must be a finite number above 0"),
    ("experiments.train", "--wide_learning_rate=-1", "--wide_learning_rate must be a finite number above 0"),
    ("experiments.train", "--dropout=1.5", "--dropout must be in [0, 1)"),
    ("experiments.train", "--dropout=-0.5", "--dropout must be in [0, 1)"),
    ("experiments.train", "--seed=-1", "--seed must be an integer from 0 to 4294967295"),
    ("experiments.train", "--seed=99999999999999999999", "--seed must be an integer from 0"),
    ("experiments.train", "--l2_wide=-5", "--l2_wide must be a finite number, 0 or more"),
    ("experiments.train", "--early_stopping_patience=-1", "--early_stopping_patience must be 0"),
    ("experiments.train", "--hidden_units=256,x", "--hidden_units must be positive integers"),
    ("experiments.train", "--no_such_flag", "Unknown command line flag 'no_such_flag'"),
    ("experiments.predict", "--output=x.csv", "Flag --input must have a value"),
    ("experiments.ablation", "--seeds=0", "--seeds"),
    ("experiments.train", "runs/x", "unexpected argument(s) ['runs/x']: every setting is a flag"),
    ("experiments.ablation", "extra", "unexpected argument(s) ['extra']"),
]


@pytest.mark.parametrize("module, flag, message", FLAG_MISTAKES, ids=[f"{m} {f}" for m, f, _ in FLAG_MISTAKES])
def test_a_bad_flag_is_one_line_and_exit_code_2(module, flag, message):
    proc = subprocess.run(
        [sys.executable, "-m", module, flag], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: ") and message in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("module", ["experiments.predict", "experiments.make_shards"])
def test_engine_spark_without_java_is_one_line_before_any_work(module, tmp_path):
    args = ["--engine=spark", f"--input={tmp_path / 'in.parquet'}", f"--output={tmp_path / 'out.parquet'}"]
    args += [f"--output_dir={tmp_path / 'shards'}"] if module == "experiments.make_shards" else []
    if module == "experiments.make_shards":
        args = [a for a in args if not a.startswith("--output=")]
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no_java")}
    proc = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "no Java found: Spark needs Java 17" in proc.stderr and "openjdk-17-jre-headless" in proc.stderr
    assert not any(tmp_path.iterdir())  # nothing written


def reports(capsys, action) -> str:
    """The one line `run_reporting_user_errors` prints for `action` (which must fail with exit code 2)."""
    with pytest.raises(SystemExit) as stop:
        run_reporting_user_errors(action)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.fixture(scope="module")
def german_run(tmp_path_factory):
    """A one-epoch German credit run with its evidence and export."""
    from wide_deep.run.pipeline import run_training

    model_dir = tmp_path_factory.mktemp("german") / "run"
    run_training(RunConfig(dataset="german", model_dir=str(model_dir), train=TrainConfig(epochs=1)), log=quiet)
    return model_dir


def train(tmp_path, **changes):
    from wide_deep.run.pipeline import run_training

    config = RunConfig(
        dataset="german", model_dir=str(tmp_path / "run"), export=False, evidence=False, train=TrainConfig(epochs=1)
    )
    return lambda: run_training(RunConfig(**{**config.__dict__, **changes}), log=quiet)


def write_csv(path, text: str | bytes):
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_model_dir_mistakes(capsys, tmp_path):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("my notes")
    cases = {
        "": "the model_dir path is empty",
        str(tmp_path / "a_file"): "a_file is a file, not a folder",
        str(tmp_path / "a_file" / "run"): "a_file is a file, not a folder",
        str(tmp_path / "foreign"): "is not empty and holds no run (notes.txt)",
    }
    for model_dir, message in cases.items():
        assert message in reports(capsys, train(tmp_path, model_dir=model_dir)), model_dir
    assert (tmp_path / "foreign" / "notes.txt").read_text() == "my notes"
    (tmp_path / "spec_dir").mkdir()
    assert "spec_dir" in reports(capsys, train(tmp_path, dataset=str(GERMAN), spec=str(tmp_path / "spec_dir")))


def test_a_glob_that_matches_nothing_says_so(capsys, tmp_path):
    said = reports(capsys, train(tmp_path, dataset=str(tmp_path / "shards" / "*.parquet"), spec=str(GERMAN_SPEC)))
    assert "matches no file" in said and "--valid_data" not in said.split("matches no file")[0]


def test_training_data_mistakes_name_the_line(capsys, tmp_path):
    header = open(GERMAN).readline()
    lines = open(GERMAN).read().splitlines()
    ragged = "\n".join(lines[:5] + [lines[5].rsplit(",", 2)[0]] + lines[6:]) + "\n"
    duplicated = header.strip() + ",age_in_years\n" + "\n".join(f"{line},30" for line in lines[1:]) + "\n"
    latin = ("\n".join(lines[:8]) + "\n").encode() + lines[8].replace("male", "m\xe4le").encode("latin-1") + b"\n"
    cases = {
        "ragged.csv": (ragged, "line 6 has 19 field(s); the header has 21"),
        "duplicated.csv": (duplicated, "column 'age_in_years' appears twice in the header"),
        "latin.csv": (latin, "line 9 is not UTF-8 text"),
    }
    for name, (content, message) in cases.items():
        path = write_csv(tmp_path / name, content)
        assert message in reports(capsys, train(tmp_path, dataset="german", train_data=str(path))), name


def test_a_diverging_run_is_one_line(capsys, tmp_path):
    said = reports(capsys, train(tmp_path, train=TrainConfig(epochs=4, learning_rate=1e35)))
    assert "training diverged in epoch" in said and "--learning_rate" in said


def test_scoring_and_monitoring_mistakes(capsys, german_run, tmp_path):
    from wide_deep.serving.monitoring import monitor
    from wide_deep.serving.scoring import score_file

    good = write_csv(tmp_path / "good.csv", open(GERMAN).read())
    (tmp_path / "link.csv").symlink_to(good)
    lines = open(GERMAN).read().splitlines()
    ragged = write_csv(tmp_path / "ragged.csv", "\n".join(lines[:3] + ["1,2,3"] + lines[3:]) + "\n")
    dup = write_csv(tmp_path / "dup.csv", lines[0] + ",purpose\n" + "\n".join(f"{x},car" for x in lines[1:]) + "\n")
    blank = write_csv(tmp_path / "blank.csv", "   \n \n")

    def predict(source, output):
        return lambda: score_file(german_run, source, output, log=quiet)

    cases = [
        (predict(good, good), "is the input"),
        (predict(good, tmp_path / "link.csv"), "is the input"),
        (predict(good, tmp_path), "is a directory"),
        (predict(good, ""), "path is empty"),
        (predict("", tmp_path / "o.csv"), "path is empty"),
        (predict(tmp_path, tmp_path / "o.csv"), "is a directory"),
        (predict(ragged, tmp_path / "o.csv"), "line 4 has 3 field(s); the header has 21"),
        (predict(dup, tmp_path / "o.csv"), "column 'purpose' appears twice"),
        (predict(blank, tmp_path / "o.csv"), "the first line holds no column names"),
        (predict(good, tmp_path / "scores.json"), "name a .csv or .parquet or .pq file (got .json)"),
        (lambda: monitor(german_run, good, output=tmp_path / "psi.csv"), "name a .json file"),
        (lambda: monitor(german_run, good, output=tmp_path), "is a directory"),
        (lambda: monitor(german_run, good, output=good), "is the input"),
    ]
    for action, message in cases:
        assert message in reports(capsys, action)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "blank.csv",
        "dup.csv",
        "good.csv",
        "link.csv",
        "ragged.csv",
    ]  # nothing written, nothing overwritten
    assert open(good).read() == open(GERMAN).read()

    monitor(german_run, good, output=tmp_path / "new" / "folder" / "out.json")  # a missing folder is made
    assert json.loads((tmp_path / "new" / "folder" / "out.json").read_text())["rows"] == 1000
    evidence = german_run / "evidence.json"
    kept = evidence.read_text()
    evidence.write_text(kept[: len(kept) // 2])  # cut short
    try:
        assert "evidence.json is not valid JSON" in reports(capsys, lambda: monitor(german_run, good))
    finally:
        evidence.write_text(kept)


def test_monitor_refuses_a_baseline_of_another_model(capsys, german_run, tmp_path):
    """A run continued without the evidence exports a new model; its old baseline must not be used with it."""
    from wide_deep.evidence.report import render_report
    from wide_deep.run.pipeline import run_training
    from wide_deep.serving.monitoring import monitor

    shutil.copytree(german_run, tmp_path / "run")
    assert monitor(tmp_path / "run", GERMAN)["rows"] == 1000
    continued = RunConfig(
        dataset="german", model_dir=str(tmp_path / "run"), evidence=False, train=TrainConfig(epochs=2)
    )
    run_training(continued, log=quiet)
    assert "computed for another model" in reports(capsys, lambda: monitor(tmp_path / "run", GERMAN))
    assert "describes another model" in reports(capsys, lambda: render_report(tmp_path / "run"))


def in_small_filesystem(size: str, read_only: bool, script: str, keep: str, out) -> subprocess.CompletedProcess:
    """Run `script` (shell) with a fresh tmpfs of `size` mounted at $FS in a private mount namespace, then copy
    `$FS/<keep>` to `out` (the tmpfs disappears with the namespace)."""
    options = f"size={size}" + (",ro" if read_only else "")
    shell = textwrap.dedent(f"""
        set -u
        FS=$(mktemp -d)
        mount -t tmpfs -o {options} tmpfs "$FS"
        {script}
        status=$?
        if [ -e "$FS/{keep}" ]; then cp -a "$FS/{keep}" "{out}"; fi
        exit $status
    """)
    return subprocess.run(
        ["unshare", "--mount", "--map-root-user", "sh", "-c", shell],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )


def test_a_full_disk_is_one_line_and_the_run_resumes_from_what_was_kept(tmp_path):
    """German credit into a 1.3 MB file system: the third epoch checkpoint does not fit."""
    from wide_deep.record.model_dir import ModelDir
    from wide_deep.run.pipeline import run_training

    args = "--preset=paper --dataset=german --epochs=6 --early_stopping_patience=0 --learning_rate=1e-3 --noevidence"
    args += " --export=false"
    proc = in_small_filesystem(
        "1300k", False, f'{sys.executable} -m experiments.train {args} --model_dir="$FS/run"', "run", tmp_path / "run"
    )
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and last.startswith("error: ") and "No space left on device" in last, proc.stderr
    assert "Traceback" not in proc.stderr
    run = ModelDir(tmp_path / "run")
    kept = len(run.read_history())
    assert 1 <= kept < 6 and not list(run.path.rglob("*.partial*"))
    result = run_training(
        RunConfig(
            dataset="german",
            model_dir=str(run.path),
            model=ModelConfig(sequences="aggregates"),  # what --preset=paper sets
            export=False,
            evidence=False,
            train=TrainConfig(epochs=6, early_stopping_patience=0, learning_rate=1e-3),
        ),
        log=quiet,
    )
    straight = run_training(
        RunConfig(
            dataset="german",
            model_dir=str(tmp_path / "straight"),
            model=ModelConfig(sequences="aggregates"),
            export=False,
            evidence=False,
            train=TrainConfig(epochs=6, early_stopping_patience=0, learning_rate=1e-3),
        ),
        log=quiet,
    )
    assert [h["epoch"] for h in run.read_history()] == [1, 2, 3, 4, 5, 6]
    assert result["auc"] == straight["auc"] and result["log_loss"] == straight["log_loss"]


def test_a_run_a_full_disk_stopped_before_its_config_starts_again_on_rerun(tmp_path):
    """4 KB free: the spec is written, config.json is not. The error line says to rerun, so the rerun must be
    taken (the folder holds nothing but a run's own files), not refused as a foreign folder."""
    from wide_deep.record.model_dir import ModelDir

    script = f'{sys.executable} -m experiments.train --preset=paper --dataset=german --epochs=1 --model_dir="$FS/run"'
    proc = in_small_filesystem("4k", False, script, "run", tmp_path / "run")
    assert proc.returncode == 2 and "No space left on device" in proc.stderr.strip().splitlines()[-1], proc.stderr
    assert not ModelDir(tmp_path / "run").is_run() and (tmp_path / "run" / "spec.yaml").exists()
    result = train(tmp_path)()
    assert ModelDir(tmp_path / "run").is_run() and 0.5 < result["auc"] <= 1
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "spec.yaml").write_text("x")
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(Exception, match=r"holds no run \(notes.txt\)"):
        train(tmp_path, model_dir=str(tmp_path / "other"))()


def test_a_read_only_model_dir_is_one_line(tmp_path):
    proc = in_small_filesystem(
        "1m",
        True,
        f'{sys.executable} -m experiments.train --dataset=german --model_dir="$FS/run"',
        "run",
        tmp_path / "run",
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "cannot be created: Read-only file system" in proc.stderr.strip().splitlines()[-1]


def test_an_export_that_does_not_fit_leaves_no_staging_folder(german_run, tmp_path):
    from wide_deep.record.model_dir import ModelDir

    script = (
        f'mkdir "$FS/run" && cd "{german_run}" && cp -a config.json spec.yaml preprocessing.json best "$FS/run" && '
        f'cd "{PROJECT_ROOT}" && head -c 1200k /dev/zero > "$FS/filler" && '
        f'{sys.executable} -c "import sys; from experiments.cli import run_reporting_user_errors; '
        f"from wide_deep.record.model_dir import ModelDir; "
        f"from wide_deep.serving.export import ExportedModel, export_saved_model; "
        f"e = ModelDir(sys.argv[1]).load_estimator(log=lambda *_: None); "
        f"run_reporting_user_errors(lambda: export_saved_model(ExportedModel(e.serving_model(), e.spec, e.state, "
        f'0.5), ModelDir(sys.argv[1]).export_root))" "$FS/run"'
    )
    proc = in_small_filesystem("2m", False, script, "run", tmp_path / "run")
    assert proc.returncode == 2 and "No space left on device" in proc.stderr.strip().splitlines()[-1], proc.stderr
    assert list((tmp_path / "run" / "export").iterdir()) == [] and ModelDir(tmp_path / "run").is_run()
    shutil.rmtree(tmp_path / "run")
    assert json.loads((german_run / "metrics.json").read_text())["n_test"] == 200
    assert pd.read_csv(german_run / "history.csv").shape[0] == 1
