"""A run as one `.keras` file: written atomically, loaded in a fresh Python process that imports nothing of this
project but the loader, and scoring as the SavedModel export does (probability, score, decision)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.conftest import quiet
from tests.wide_deep.core.test_blend import _arrays

FRESH_PROCESS = textwrap.dedent(
    """
    import sys
    import numpy as np
    from wide_deep.api import load_model
    import tensorflow as tf

    model = load_model(sys.argv[1])
    rows = np.load(sys.argv[2], allow_pickle=True)
    features = {k: tf.constant(v.tolist(), tf.string) if v.dtype == object else tf.constant(v) for k, v in rows.items()}
    outputs = model(features)
    np.savez(sys.argv[3], **{k: outputs[k].numpy() for k in ("probability", "score", "decision")})
    """
)


def test_a_keras_file_loads_in_a_fresh_process_and_scores_as_the_export(sme_run, tmp_path):
    from wide_deep.record.model_dir import ModelDir
    from wide_deep.serving.keras_file import save_keras
    from wide_deep.serving.saved_model import LoadedExport

    path = save_keras(sme_run, tmp_path / "credit.keras", log=quiet)
    assert path.is_file() and not list(tmp_path.glob(".*partial*"))
    arrays = _arrays(ModelDir(sme_run))
    np.savez(tmp_path / "rows.npz", **arrays)
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(path), str(tmp_path / "rows.npz"), str(tmp_path / "out.npz")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "cuInit" not in done.stderr and "Could not find cuda" not in done.stderr
    scored = np.load(tmp_path / "out.npz")
    export = LoadedExport(ModelDir(sme_run).export_versions()[-1])
    expected = export.predict_columns({k: v.tolist() for k, v in arrays.items()})
    np.testing.assert_allclose(scored["probability"].reshape(-1), np.ravel(expected["probability"]), atol=1e-5)
    np.testing.assert_allclose(scored["score"].reshape(-1), np.ravel(expected["score"]), atol=1e-3)
    np.testing.assert_array_equal(scored["decision"].reshape(-1), np.ravel(expected["decision"]))


def test_a_keras_file_is_named_as_one_and_kept_out_of_the_run(sme_run, tmp_path):
    from feature_columns.errors import UserError
    from wide_deep.serving.keras_file import save_keras

    with pytest.raises(UserError, match="ends in .keras"):
        save_keras(sme_run, tmp_path / "credit.h5", log=quiet)
    with pytest.raises(UserError, match="inside the run folder"):
        save_keras(sme_run, sme_run / "credit.keras", log=quiet)
