"""A model with a sequence tower, end to end: evidence, the export's signatures, scoring and REST."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def scorer(sme_sequence_run):
    from wide_deep.serving.scoring import Scorer

    return Scorer(sme_sequence_run, log=lambda *_: None)


def test_evidence_reports_the_gates_and_reason_codes_add_up(sme_sequence_run):
    metrics = json.loads((sme_sequence_run / "metrics.json").read_text())
    evidence = json.loads((sme_sequence_run / "evidence.json").read_text())
    assert 0 < metrics["fusion_wide_gate_mean"] < 2 and 0 < metrics["fusion_deep_gate_mean"] < 2
    assert evidence["fusion"]["mode"] == "gate" and evidence["fusion"]["wide_gate"]["p5"] <= 2
    assert metrics["reason_code_max_abs_residual"] < 0.05
    assert "weekly_flows" in evidence["reason_codes"]["features"]
    assert "weekly_flows" in evidence["importance"]["permutation_auc_drop"]


def test_signatures_take_the_sequence_as_a_tensor(scorer, small_sme):
    """serving_default takes [rows, steps, channels]; serving_tf_example the same values as one float list; both
    give the same probabilities; there is no packed signature (a sequence does not pack into the numeric matrix)."""
    import tensorflow as tf

    from feature_columns.inputs import prepare_frame, to_tensors
    from wide_deep.record.export_layout import EXAMPLES, PACKED

    export = scorer.export
    assert export.sequences == {"weekly_flows": (26, 4)} and PACKED not in export.signatures
    apps = pd.read_parquet(small_sme / "applications.parquet").head(8)
    arrays = prepare_frame(
        scorer.spec, scorer.features(apps, scorer.transactions_for(small_sme / "applications.parquet"))
    )
    raw = scorer.score_arrays(arrays)["probability"]
    examples = []
    for i in range(len(apps)):
        feature = {}
        for name, values in arrays.items():
            if values.dtype == object:
                feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[values[i].encode()]))
            else:
                feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=np.ravel(values[i]).tolist()))
        examples.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    parsed = export.signatures[EXAMPLES](examples=tf.constant(examples))["probability"].numpy()
    np.testing.assert_allclose(parsed, raw, atol=1e-6)
    assert to_tensors(arrays)["weekly_flows"].shape == (8, 26, 4)


def test_applicant_scored_from_own_transactions_equals_the_batch(scorer, small_sme):
    """Scoring one applicant from its own raw transactions (the sequence computed at scoring time) gives the batch
    pipeline's probability for that row (the sequence computed from the whole log)."""
    path = small_sme / "applications.parquet"
    apps = pd.read_parquet(path).head(3)
    batch = scorer.score_frame(apps, scorer.transactions_for(path))["probability"]
    log = pd.read_parquet(small_sme / "transactions")
    for i in range(3):
        application = apps.iloc[i].to_dict()
        own = log[log["enterprise_id"] == application["enterprise_id"]]
        assert scorer.score_applicant(application, own)["probability"] == pytest.approx(float(batch[i]), abs=1e-6)


def test_rest_takes_the_sequence_and_names_a_wrong_shape(scorer, sme_sequence_run, small_sme):
    from wide_deep.serving.rest import RequestError, parse_predict_request
    from wide_deep.serving.scoring import example_rows

    frame, rows = example_rows(sme_sequence_run, small_sme / "applications.parquet", 4)
    parsed = parse_predict_request(json.dumps({"instances": rows}).encode(), scorer.export)
    served = np.asarray(scorer.export.predict_columns(parsed.columns)["probability"])
    np.testing.assert_allclose(served, scorer.score_frame(frame)["probability"], atol=1e-6)
    bad = [dict(rows[0], weekly_flows=rows[0]["weekly_flows"][:-1])]
    with pytest.raises(RequestError, match=r"instances\[0\].weekly_flows: expected a list of 26 steps"):
        parse_predict_request(json.dumps({"instances": bad}).encode(), scorer.export)
    bad = [dict(rows[0], weekly_flows=[[1, 2, 3, "x"]] * 26)]
    with pytest.raises(RequestError, match=r"weekly_flows\[0\]\[3\]: expected a number"):
        parse_predict_request(json.dumps({"instances": bad}).encode(), scorer.export)
    assert json.loads(json.dumps(rows[0]))["weekly_flows"][0][0] is not None


def test_rest_instance_may_carry_its_raw_transactions(scorer, small_sme):
    """An instance with its transactions and as-of date instead of the transaction features: the server computes
    the aggregates and the sequence with the training code, and the probability is the batch pipeline's."""
    from wide_deep.serving.rest import RequestError, parse_predict_request

    path = small_sme / "applications.parquet"
    apps = pd.read_parquet(path).head(2)
    batch = scorer.score_frame(apps, scorer.transactions_for(path))["probability"]
    log = pd.read_parquet(small_sme / "transactions")
    spec = scorer.spec
    instances = []
    for i in range(2):
        row = apps.iloc[i]
        own = log[log["enterprise_id"] == row["enterprise_id"]]
        instance = {c.name: row[c.name] for c in spec.input_columns if c.name in apps.columns}
        instance = json.loads(pd.Series(instance).to_json())
        instance["application_date"] = str(row["application_date"])
        instance["transactions"] = [
            {"timestamp": str(t.timestamp), "amount": float(t.amount), "direction": t.direction}
            for t in own.itertuples()
        ]
        instances.append(instance)
    parsed = parse_predict_request(json.dumps({"instances": instances}).encode(), scorer.export)
    served = scorer.export.predict_columns(parsed.columns)["probability"]
    np.testing.assert_allclose(served, batch, atol=1e-6)
    del instances[1]["application_date"]
    with pytest.raises(RequestError, match=r"instances\[1\]: 'application_date'"):
        parse_predict_request(json.dumps({"instances": instances}).encode(), scorer.export)


BAD_TRANSACTIONS = {
    "text amount": (lambda t: dict(t, amount="12.5"), "transactions[0].amount"),
    "NaN amount": (lambda t: dict(t, amount=float("nan")), "transactions[0].amount"),
    "bool amount": (lambda t: dict(t, amount=True), "transactions[0].amount"),
    "bad timestamp": (lambda t: dict(t, timestamp="yesterday-ish"), "transactions[0].timestamp"),
    "integer timestamp": (lambda t: dict(t, timestamp=1_700_000_000), "transactions[0].timestamp"),
    "list direction": (lambda t: dict(t, direction=["in"]), "transactions[0].direction"),
    "numeric direction": (lambda t: dict(t, direction=1), "transactions[0].direction"),
}


@pytest.mark.parametrize("case", sorted(BAD_TRANSACTIONS))
def test_rest_raw_transactions_are_validated_like_every_field(scorer, small_sme, case):
    """A bad value in a raw transaction is a 400 naming instances[i].transactions[j].<field>, never a 500 from the
    aggregation (or a NaN silently scored)."""
    from wide_deep.serving.rest import RequestError, parse_predict_request

    apps = pd.read_parquet(small_sme / "applications.parquet").head(1)
    row = apps.iloc[0]
    instance = json.loads(
        pd.Series({c.name: row[c.name] for c in scorer.spec.input_columns if c.name in apps}).to_json()
    )
    instance["application_date"] = str(row["application_date"])
    good = {"timestamp": str(row["application_date"]), "amount": 10.0, "direction": "in"}
    make_bad, field = BAD_TRANSACTIONS[case]
    instance["transactions"] = [make_bad(good), good]
    with pytest.raises(RequestError) as raised:
        parse_predict_request(json.dumps({"instances": [instance]}).encode(), scorer.export)
    assert raised.value.status == 400 and raised.value.field == f"instances[0].{field}"
    instance["transactions"], instance["application_date"] = [good], 20240331
    with pytest.raises(RequestError) as raised:
        parse_predict_request(json.dumps({"instances": [instance]}).encode(), scorer.export)
    assert raised.value.field == "instances[0].application_date"


def test_rest_assembles_a_column_sequence_from_its_columns():
    """A column sequence sent as the columns it is declared from (as Taiwan's rows hold them): assembled oldest
    first; the columns the model reads besides keep their values, the others are dropped; a row that sends the
    sequence itself is left as it is."""
    from types import SimpleNamespace

    from feature_columns.kinds.sequence import parse_sequence
    from wide_deep.serving.rest import assemble_sequences

    seq = parse_sequence(
        {"name": "m", "channels": {"bill": ["b2", "b1"], "paid": ["p2", "p1"]}}, "test: sequences[0]", None
    )
    model = SimpleNamespace(spec=SimpleNamespace(sequences=(seq,)), input_specs={"m": None, "b1": None, "x": None})
    rows = [{"x": 1, "b1": 10, "b2": 20, "p1": 1, "p2": 2}]
    assert assemble_sequences(rows, model) == [{"x": 1, "b1": 10, "m": [[20, 2], [10, 1]]}]
    given = [{"x": 1, "b1": 10, "m": [[0, 0], [0, 0]]}]
    assert assemble_sequences(given, model) is given
