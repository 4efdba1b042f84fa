"""The GBDT blend: the network trains without trees; a kept blend is a · network + b · trees + c exactly, rebuilt from
the record when the run is reopened; trees that do not pay leave the model and its export."""

from __future__ import annotations

import dataclasses

import numpy as np

from tests.conftest import quiet, sme_config


def _arrays(run):
    from feature_columns.inputs import prepare_frame
    from wide_deep.data.dataset import add_transaction_features
    from wide_deep.data.sources import read_table, transactions_path

    config, spec = run.load_config(), run.load_spec()
    frame = read_table(config.train_data).head(300)
    frame, _ = add_transaction_features(spec, frame, transactions_path(spec.transactions, config.train_data), "t")
    return prepare_frame(spec, frame)


def test_a_kept_blend_is_a_times_the_network_plus_b_times_the_trees(sme_run):
    from feature_columns.fitting import GBDT
    from wide_deep.core.blend import leaf_values, tree_margin
    from wide_deep.core.trainer import Estimator
    from wide_deep.record.model_dir import ModelDir

    run = ModelDir(sme_run)
    estimator = run.load_estimator(log=quiet)
    trees = estimator.state[GBDT]
    assert trees.blend is not None and estimator.spec.gbdt  # the small run's trees paid (min_tree_gain 0)
    a, b, c = trees.blend
    wide = estimator.core.get_layer("wide_ids_weights")
    start = estimator.layout.wide_segments[estimator.layout.column_segments].offset
    assert wide.tree_mask.numpy().min() == 1
    np.testing.assert_allclose(wide.weights_table.numpy()[start:], b * leaf_values(estimator.layout, trees), rtol=1e-5)
    config, state = run.load_config(), run.load_state()
    network_spec = dataclasses.replace(estimator.spec, gbdt=False)
    network = Estimator(run.training_files(), network_spec, state, config.model, config.train, log=quiet)
    network.restore_best()  # the network as trained: no trees in its graph
    assert not network.spec.gbdt and network.layout.column_segments == len(network.layout.wide_segments)
    arrays = _arrays(run)
    encoded = estimator.encode(arrays)
    margin = tree_margin(encoded, estimator.layout, trees)
    expected = a * network.logits_encoded(network.encode(arrays)) + b * margin + c
    np.testing.assert_allclose(estimator.logits_encoded(encoded), expected, atol=2e-4)


def test_trees_that_do_not_pay_leave_the_model_and_its_export(small_sme, tmp_path):
    from feature_columns.fitting import GBDT
    from wide_deep.record.model_dir import ModelDir
    from wide_deep.run.pipeline import run_training
    from wide_deep.serving.saved_model import LoadedExport

    config = sme_config(small_sme, tmp_path / "m")
    config = dataclasses.replace(
        config,
        evidence=False,
        model=dataclasses.replace(config.model, min_tree_gain=1.0),  # no blend adds a whole AUC point
        train=dataclasses.replace(config.train, epochs=2),
    )
    said = []
    run_training(config, log=said.append)
    assert any(line.startswith("GBDT terms left out: their blend adds") for line in said)
    run = ModelDir(tmp_path / "m")
    assert run.load_state()[GBDT].blend is None
    estimator = run.load_estimator(log=quiet)
    assert not estimator.spec.gbdt and estimator.layout.column_segments == len(estimator.layout.wide_segments)
    export = LoadedExport(run.latest_export())
    assert not export.spec.gbdt and GBDT not in export.state()


def test_trees_pay_only_by_a_gain_and_a_positive_weight():
    from wide_deep.core.blend import Blend

    paying = Blend(0.6, 0.4, 0.0, (0.770, 0.772, 0.774))
    assert paying.why_not_kept(0.001) is None
    assert "less than --min_tree_gain=0.01" in paying.why_not_kept(0.01)
    against = Blend(3.8, -1.5, 1.0, (0.836, 0.800, 0.838))  # German split 4: a gain on 200 rows, trees subtracted
    assert against.gain >= 0.001 and "weighs them negatively" in against.why_not_kept(0.001)
