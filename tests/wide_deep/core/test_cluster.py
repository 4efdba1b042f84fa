"""The cluster identity and TF_CONFIG, checked once with clear errors."""

import json

import pytest

from feature_columns.errors import UserError
from wide_deep.core.cluster import ClusterIdentity, check_tf_config, describe_peer_failure, multi_worker_strategy


def test_identity_of_one_process_and_of_a_worker():
    assert ClusterIdentity.from_strategy(None) == ClusterIdentity(0, 1) and ClusterIdentity().is_chief

    class Resolver:
        task_type, task_id = "worker", 1

    class Strategy:
        cluster_resolver, num_replicas_in_sync = Resolver(), 2

    identity = ClusterIdentity.from_strategy(Strategy())
    assert identity == ClusterIdentity(1, 2) and not identity.is_chief


@pytest.mark.parametrize(
    "raw",
    [
        '{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 3}}',
        '{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "chief", "index": 0}}',
        '{"cluster": {}}',
        "not json",
        '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": "x"}}',
    ],
)
def test_a_bad_tf_config_is_named(raw):
    with pytest.raises(UserError, match="TF_CONFIG must look like"):
        check_tf_config(raw)


def test_tf_config_is_required_and_a_good_one_passes(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UserError, match="needs the TF_CONFIG environment variable"):
        multi_worker_strategy()
    good = {"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 1}}
    assert check_tf_config(json.dumps(good)) == good


def test_a_peer_failure_is_one_line():
    message = describe_peer_failure(RuntimeError("\n  Collective ops is aborted by: peer down\nmore detail"))
    assert "\n" not in message and "RuntimeError: Collective ops is aborted by: peer down" in message
    assert "rerun the same command on every worker" in message
