import numpy as np
import tensorflow as tf

from feature_columns.fitting import fit_state
from feature_columns.inputs import prepare_frame
from feature_columns.kinds.bucketized import bucket_indices
from feature_columns.kinds.numeric import NumericStats
from feature_columns.preprocessor import build_preprocessor


def _run(preprocessor, arrays):
    return {
        k: v.numpy()
        for k, v in preprocessor(
            {k: tf.constant(v.astype(str) if v.dtype == object else v) for k, v in arrays.items()}
        ).items()
    }


def test_preprocessor_matches_numpy_reference(toy_spec, toy_frame):
    toy_spec = toy_spec.for_model("wide_deep", use_crosses=True)
    arrays = prepare_frame(toy_spec, toy_frame)
    state = fit_state(toy_spec, arrays)
    preprocessor, layout = build_preprocessor(toy_spec, state)
    out = _run(preprocessor, arrays)
    names = [s.name for s in layout.wide_segments]
    assert names == ["city", "tier", "age", "city_x_tier", "city_x_age"]
    ids = out["wide_ids"] - np.array([s.offset for s in layout.wide_segments])
    vocab = list(state["city"].values)
    np.testing.assert_array_equal(ids[:, 0], [vocab.index(v) + 1 for v in arrays["city"]])
    np.testing.assert_array_equal(ids[:, 2], bucket_indices(arrays["age"], state["age"].boundaries))
    cross_vocab = list(state["city_x_age"].values)
    expected = [
        cross_vocab.index(v) + 1 if v in cross_vocab else 0
        for v in toy_spec.column("city_x_age").joined(arrays, state, toy_spec)
    ]
    np.testing.assert_array_equal(ids[:, 4], expected)
    # age is routed to both branches: embedded in the deep branch
    assert [e[0] for e in layout.deep_embeddings] == ["age"]


def test_missing_and_unseen_values(toy_spec, toy_frame):
    toy_spec = toy_spec.for_model("wide_deep", use_crosses=True)
    arrays = prepare_frame(toy_spec, toy_frame)
    state = fit_state(toy_spec, arrays)
    preprocessor, layout = build_preprocessor(toy_spec, state)
    row = {
        "city": np.array(["never-seen", ""], dtype=object),
        "tier": np.array(["1", "9"], dtype=object),
        "amount": np.array([np.nan, 1e9], dtype="float32"),
        "age": np.array([np.nan, 45.0], dtype="float32"),
    }
    out = _run(preprocessor, row)
    offsets = np.array([s.offset for s in layout.wide_segments])
    ids = out["wide_ids"] - offsets
    assert ids[0, 0] == 0 and ids[1, 0] == 0  # unseen and missing city → OOV bucket
    assert ids[0, 2] == len(state["age"].boundaries) + 1  # missing age → its own bucket
    deep = out["deep_dense"]
    assert layout.deep_dense_names[-1] == "amount:missing"
    assert deep[0, -1] == 1.0 and deep[1, -1] == 0.0
    edges = np.array(state["amount"].edges)
    expected_ple = np.clip((state["amount"].median - edges[:-1]) / np.diff(edges), 0, 1)
    np.testing.assert_allclose(deep[0, :-1], expected_ple, rtol=1e-5)  # median imputed, then PLE
    np.testing.assert_allclose(deep[1, :-1], 1.0)  # far outlier saturates, no blow-up


def test_numeric_block_equals_one_encoder_per_column():
    """The vectorised block gives the per-column encoders' values in the same order (missing, out-of-range,
    on-edge values included)."""
    import tensorflow as tf

    from feature_columns.layers import NumericBlock, NumericEncoder

    rng = np.random.default_rng(0)
    encoders = []
    for j, (encoding, bins) in enumerate([("quantile", 32), ("zscore", 0), ("log1p_zscore", 0), ("quantile", 4)]):
        train = rng.lognormal(2, 1, 1000)
        edges = tuple(np.unique(np.quantile(train, np.linspace(0, 1, bins + 1))).tolist()) if bins else None
        stats = NumericStats(
            float(np.median(train)), float(train.mean()), float(train.std()), 0.1 if j % 2 == 0 else 0.0, edges
        )
        encoders.append(NumericEncoder(encoding, stats.to_json()))
    columns = [rng.lognormal(2, 1.5, 3000).astype("float32") for _ in encoders]
    for values in columns:
        values[::7] = np.nan
    columns[0][:3] = [-5.0, 1e9, encoders[0].stats["edges"][3]]
    expected = tf.concat([e(tf.constant(v)) for e, v in zip(encoders, columns)], axis=1).numpy()
    got = NumericBlock([(e.encoding, e.stats) for e in encoders])([tf.constant(v) for v in columns]).numpy()
    assert got.shape == expected.shape == (3000, 6)
    np.testing.assert_allclose(got, expected, atol=1e-6)
