"""Admission by bytes and the batching of concurrent requests, without a server or a model."""

from __future__ import annotations

import asyncio
import threading

import pytest

from wide_deep.serving.batching import Admission, Batcher


class SlowModel:
    """Doubles `x`; the first call waits for `release` so that later requests pile up behind it."""

    def __init__(self):
        self.calls: list[int] = []
        self.release = threading.Event()

    def __call__(self, columns: dict) -> dict:
        if not self.calls:
            self.release.wait(10)
        self.calls.append(len(columns["x"]))
        if any(v < 0 for v in columns["x"]):
            raise ValueError("a negative row")
        return {"y": [2 * v for v in columns["x"]]}


async def score_all(batcher: Batcher, model, requests: list[tuple[str, list]]) -> list:
    """The first request starts a model call alone; the others arrive while it runs and wait."""
    tasks = []
    for i, (key, xs) in enumerate(requests):
        tasks.append(asyncio.create_task(batcher.score(key, model, {"x": xs}, len(xs))))
        if i == 0:
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.05)
    model.release.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


def test_waiting_requests_share_one_call_and_each_gets_its_own_rows():
    model, batcher = SlowModel(), Batcher(slots=1, max_rows=100)
    requests = [("a", [i, i + 0.5]) for i in range(20)]
    results = asyncio.run(score_all(batcher, model, requests))
    assert [r["y"] for r in results] == [[2 * x for x in xs] for _, xs in requests]
    assert model.calls == [2, 38] and batcher.calls == 2  # the first alone, the 19 that waited together


def test_batches_keep_to_their_key_and_row_limit():
    model, batcher = SlowModel(), Batcher(slots=1, max_rows=5)
    requests = [("a", [1])] + [("a", [2, 3])] * 3 + [("b", [4])] * 2 + [("a", list(range(9)))]
    results = asyncio.run(score_all(batcher, model, requests))
    assert [r["y"] for r in results] == [[2 * x for x in xs] for _, xs in requests]
    assert sum(model.calls) == sum(len(xs) for _, xs in requests)
    assert max(model.calls) == 9  # the large request alone; every merged call stays within 5 rows
    assert all(n <= 5 for n in model.calls if n != 9) and len(model.calls) == 5


def test_one_failing_request_does_not_fail_the_others_batched_with_it():
    model, batcher = SlowModel(), Batcher(slots=1, max_rows=100)
    requests = [("a", [1]), ("a", [2]), ("a", [-1]), ("a", [3])]
    results = asyncio.run(score_all(batcher, model, requests))
    assert results[0]["y"] == [2] and results[1]["y"] == [4] and results[3]["y"] == [6]
    assert isinstance(results[2], ValueError)


def test_admission_counts_bytes_and_always_takes_a_lone_request():
    admission = Admission(budget=1000)
    assert admission.admit(5000)  # alone: admitted, whatever its size within the body limit
    assert not admission.admit(1)
    admission.release(5000)
    assert all(admission.admit(100) for _ in range(10)) and not admission.admit(100)
    admission.release(100)
    assert admission.admit(100) and admission.held == 1000 and admission.requests == 10


@pytest.mark.parametrize("slots", [1, 2])
def test_many_concurrent_single_rows_are_all_answered(slots):
    model, batcher = SlowModel(), Batcher(slots=slots, max_rows=64)
    requests = [("a", [i]) for i in range(500)]
    results = asyncio.run(score_all(batcher, model, requests))
    assert [r["y"] for r in results] == [[2 * i] for i in range(500)]
    assert batcher.calls < 30 and max(model.calls) <= 64
