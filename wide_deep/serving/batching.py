"""Admission by memory and server-side batching for the REST server (as TensorFlow Serving does).

A model call costs mostly its fixed overhead: 100 rows cost about five times one row, not a hundred
times. So concurrent requests are not scored one by one: each waits in a queue, and whenever a scoring
slot frees, every waiting request for the same model and signature (up to a row limit) is scored in
one call and the outputs are handed back to each request in order. Admission counts the bytes of the
bodies held, so small requests queue in thousands while large ones are refused before they are read
into memory.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
from collections.abc import Callable, Hashable

from starlette.concurrency import run_in_threadpool

log = logging.getLogger("wide_deep.serving")
Outputs = dict[str, list]


class Admission:
    """A budget of request-body bytes held at once. `admit(size)` is False when taking `size` more would pass
    `budget` (a request alone is always admitted, so any body within the size limit can be served)."""

    def __init__(self, budget: int):
        self.budget, self.held, self.requests = budget, 0, 0

    def admit(self, size: int) -> bool:
        if self.requests and self.held + size > self.budget:
            return False
        self.held, self.requests = self.held + size, self.requests + 1
        return True

    def release(self, size: int) -> None:
        self.held, self.requests = self.held - size, self.requests - 1


@dataclasses.dataclass
class _Waiting:
    key: Hashable  # requests with equal keys can share a model call
    score: Callable[[dict[str, list]], Outputs]
    columns: dict[str, list]
    rows: int
    future: asyncio.Future


class Batcher:
    """Scores validated columns, merging concurrent requests: at most `slots` model calls run at once (in worker
    threads), each over the waiting requests of one key up to `max_rows` rows (a larger request runs alone)."""

    def __init__(self, slots: int, max_rows: int):
        self.slots, self.max_rows = asyncio.Semaphore(slots), max_rows
        self.waiting: collections.deque[_Waiting] = collections.deque()
        self.dispatcher: asyncio.Task | None = None
        self.running: set[asyncio.Task] = set()
        self.calls = 0  # model calls made (a test and the benchmark read the batching ratio from it)

    async def score(
        self, key: Hashable, score: Callable[[dict[str, list]], Outputs], columns: dict[str, list], rows: int
    ) -> Outputs:
        """`score(columns)`'s outputs for these rows, computed alone or together with other waiting requests."""
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(_Waiting(key, score, columns, rows, future))
        if self.dispatcher is None or self.dispatcher.done():
            self.dispatcher = asyncio.create_task(self._dispatch())
        return await future

    async def _dispatch(self) -> None:
        while self.waiting:
            await self.slots.acquire()  # requests arriving meanwhile join the next batch
            batch = self._take()
            task = asyncio.create_task(self._run(batch))
            self.running.add(task)
            task.add_done_callback(self.running.discard)

    def _take(self) -> list[_Waiting]:
        """The oldest waiting request and the later ones with its key, while they fit in `max_rows` together."""
        first = self.waiting.popleft()
        batch, rows, kept = [first], first.rows, collections.deque()
        while self.waiting:
            item = self.waiting.popleft()
            if item.key == first.key and rows + item.rows <= self.max_rows:
                batch.append(item)
                rows += item.rows
            else:
                kept.append(item)
        self.waiting = kept
        return batch

    async def _run(self, batch: list[_Waiting]) -> None:
        try:
            live = [item for item in batch if not item.future.done()]  # a cancelled request is not scored
            if len(live) == 1:
                await self._score_alone(live[0])
            elif live:
                await self._score_together(live)
        finally:
            self.slots.release()

    async def _score_alone(self, item: _Waiting) -> None:
        self.calls += 1
        try:
            outputs = await run_in_threadpool(item.score, item.columns)
        except Exception as error:  # reported to this request's handler, which answers for it
            _settle(item.future, error=error)
            return
        _settle(item.future, outputs)

    async def _score_together(self, batch: list[_Waiting]) -> None:
        merged = {name: [v for item in batch for v in item.columns[name]] for name in batch[0].columns}
        self.calls += 1
        try:
            outputs = await run_in_threadpool(batch[0].score, merged)
        except Exception as error:
            log.warning("a batch of %d requests failed (%s); scoring each alone", len(batch), type(error).__name__)
            for item in batch:
                await self._score_alone(item)
            return
        start = 0
        for item in batch:
            _settle(item.future, {name: values[start : start + item.rows] for name, values in outputs.items()})
            start += item.rows


def _settle(future: asyncio.Future, outputs: Outputs | None = None, error: Exception | None = None) -> None:
    if future.done():  # its client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(outputs)
