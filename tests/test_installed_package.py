"""`pip install .` gives a library that works outside the repository: built-in data and specs, the Python API,
and the console scripts (the wheel is installed into a folder of its own, without the checkout beside it)."""

import json
import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT

SCRIPT = """
import json, sys
import pandas as pd
import wide_deep
from wide_deep.api import CreditModel
from wide_deep.data.registry import builtin

german = builtin("german")
frame = pd.read_csv(german.data)
model = CreditModel.fit(frame, german.spec, "model", epochs=2, log=lambda line: None)
scores = CreditModel.load("model", log=lambda line: None).score(frame.head(4), reasons=2)
print(json.dumps({"package": wide_deep.__file__, "spec": str(german.spec), "columns": list(scores.columns),
                  "rows": len(scores), "auc": model.metrics["auc"]}))
"""


def test_pip_install_then_train_and_score_outside_the_repository(tmp_path):
    target, work = tmp_path / "site", tmp_path / "work"
    work.mkdir()
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*install, "--target", str(target), str(PROJECT_ROOT)], check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["package"].startswith(str(target)) and result["spec"].startswith(str(target))
    assert {"probability", "score", "decision", "reason_1", "reason_2"} <= set(result["columns"])
    assert result["rows"] == 4 and 0.5 < result["auc"] <= 1
    assert (work / "model" / "export").is_dir()
    help_text = subprocess.run(
        [str(target / "bin" / "wide-deep-spec"), "--help"], cwd=work, env=env, capture_output=True, text=True
    )
    assert "--label" in help_text.stdout  # its own flags, though run as a script (absl's --help exits with 1)
