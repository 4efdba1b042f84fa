import numpy as np
import pytest
import tensorflow as tf

from feature_columns.fitting import fit_state
from feature_columns.inputs import prepare_frame
from feature_columns.preprocessor import build_preprocessor
from wide_deep.core.config import ModelConfig
from wide_deep.core.model import branch_variables, build_core


def _encoded(spec, frame):
    arrays = prepare_frame(spec, frame)
    state = fit_state(spec, arrays)
    preprocessor, layout = build_preprocessor(spec, state)
    encoded = preprocessor({k: tf.constant(v.astype(str) if v.dtype == object else v) for k, v in arrays.items()})
    return encoded, layout


def test_wide_logit_is_bias_plus_sum_of_active_weights(toy_spec, toy_frame):
    spec = toy_spec.for_model("wide", use_crosses=True)
    encoded, layout = _encoded(spec, toy_frame)
    core = build_core(layout, ModelConfig(model_type="wide", initial_bias=-0.3))
    rng = np.random.default_rng(0)
    table = rng.normal(size=layout.wide_size).astype("float32")
    dense = rng.normal(size=(len(layout.wide_dense_names), 1)).astype("float32")
    core.get_layer("wide_ids_weights").set_weights([table])
    core.get_layer("wide_dense_weights").set_weights([dense])
    expected = -0.3 + table[encoded["wide_ids"].numpy()].sum(axis=1) + (encoded["wide_dense"].numpy() @ dense)[:, 0]
    np.testing.assert_allclose(core(encoded).numpy(), expected, rtol=1e-5, atol=1e-5)
    wide, deep = branch_variables(core)
    assert not deep and {v.path.split("/")[0] for v in wide} == {
        "wide_ids_weights",
        "wide_dense_weights",
        "fusion_bias",
    }


@pytest.mark.parametrize("model_type", ["wide", "deep", "wide_deep"])
def test_variants_build_and_split_their_variables(toy_spec, toy_frame, model_type):
    spec = toy_spec.for_model(model_type, use_crosses=True)
    encoded, layout = _encoded(spec, toy_frame)
    core = build_core(
        layout, ModelConfig(model_type=model_type, hidden_units=(8, 4), dropout=0.1, batch_norm=True, l2_deep=1e-4)
    )
    assert core(encoded, training=True).shape == (len(toy_frame),)
    wide, deep = branch_variables(core)
    assert bool(wide) == (model_type != "deep") and bool(deep) == (model_type != "wide")
    assert all(v.path.startswith("deep_") or v.path.startswith("fusion") for v in deep)
    if model_type != "wide":
        assert core.losses  # the L2 penalty is collected for the training loss
    names = [layer.name for layer in core.layers]
    assert ("deep_hidden_0" in names) == (model_type != "wide")
