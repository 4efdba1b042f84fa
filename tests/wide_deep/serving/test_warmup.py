"""TensorFlow Serving's warm-up file: one request per signature, in its PredictionLog format, that runs."""

from __future__ import annotations

import math
import shutil

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from wide_deep.record.export_layout import EXAMPLES, EXPLAIN, PACKED, PREDICT
from wide_deep.record.model_dir import ModelDir
from wide_deep.serving.saved_model import LoadedExport
from wide_deep.serving.warmup import read_warmup_requests


def test_every_signature_has_a_warmup_request_that_runs(sme_run):
    export = LoadedExport(ModelDir(sme_run).latest_export())
    records = list(tf.data.TFRecordDataset(str(export.layout.warmup)).as_numpy_iterator())
    logs = [prediction_log_pb2.PredictionLog.FromString(r) for r in records]
    assert all(log.WhichOneof("log_type") == "predict_log" for log in logs)
    requests = dict(read_warmup_requests(export.layout.warmup))
    assert set(requests) == set(export.signatures) == {PREDICT, EXAMPLES, PACKED, EXPLAIN}
    for name, inputs in requests.items():
        # the request's tensors are named as the signature's arguments, one row each
        assert set(inputs) == set(export.signatures[name].structured_input_signature[1])
        assert all(len(v) == 1 for v in inputs.values())
        probability = float(export.signatures[name](**inputs)["probability"].numpy()[0])
        assert 0 < probability < 1, name
    missing = export.predict_columns(export.example_columns())["probability"][0]
    replayed = export.signatures[PREDICT](**requests[PREDICT])["probability"].numpy()[0]
    assert math.isclose(replayed, missing, rel_tol=1e-6)  # the request is a row of missing values
    assert requests[EXAMPLES]["examples"].tolist() == [b""]  # an empty tf.Example: every feature absent
    # make serve warms every signature it calls; serving_tf_example is TensorFlow Serving's clients' alone
    assert export.warm_up() == [r[0] for r in read_warmup_requests(export.layout.warmup) if r[0] != EXAMPLES]


def test_a_sequence_input_is_warmed_with_its_steps_and_channels(sme_sequence_run):
    export = LoadedExport(ModelDir(sme_sequence_run).latest_export())
    inputs = dict(read_warmup_requests(export.layout.warmup))[PREDICT]
    (sequence,) = export.sequences
    assert inputs[export.arguments[sequence]].shape == (1, *export.sequences[sequence])
    assert np.isnan(inputs[export.arguments[sequence]]).all()
    assert PACKED not in dict(read_warmup_requests(export.layout.warmup))


def test_an_export_without_the_file_warms_up_by_scoring_a_missing_row(sme_run, tmp_path):
    version = tmp_path / ModelDir(sme_run).latest_export().name
    shutil.copytree(ModelDir(sme_run).latest_export(), version)
    (version / "assets.extra" / "tf_serving_warmup_requests").unlink()
    assert LoadedExport(version).warm_up() == [PACKED]
