"""One worker thread runs every model; requests that arrive while it is busy are batched.

The event loop only queues work and awaits futures, so it never blocks on a model. The
worker takes the first waiting job, waits `window` seconds for more to arrive, groups
them by model and task, and runs each group as one batch (`compute.score_texts` reads
all texts of a group in one `features` call). Open generation streams are stepped
together between batches: one step of every stream of a model is one batched step, so
eight streams cost little more than one. A stream whose client has gone is dropped at
the next step.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from seqlm.io import SeqlmError
from seqlm.serve import compute
from seqlm.serve.models import ServedModel

log = logging.getLogger("seqlm.serve")


class Busy(SeqlmError):
    """The queue is full (HTTP 503)."""


@dataclass
class Job:
    model: ServedModel
    task: str  # "score", "next" (batched) or "call" (run alone)
    payload: object
    future: Future = field(default_factory=Future)


@dataclass
class Stream:
    """A generation stream: the worker puts pieces of text, then None, on `queue`."""

    model: ServedModel
    decoding: compute.Decoding | None
    settings: tuple
    loop: asyncio.AbstractEventLoop
    deadline: float
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancelled: bool = False
    produced: int = 0
    error: str | None = None

    def put(self, item) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


class Engine:
    def __init__(
        self,
        window: float = 0.003,
        max_batch: int = 32,
        max_pending: int = 64,
        max_streams: int = 32,
    ) -> None:
        self.window, self.max_batch = window, max_batch
        self.max_pending, self.max_streams = max_pending, max_streams
        self.jobs: deque[Job] = deque()
        self.streams: list[Stream] = []
        self.wake = threading.Condition()
        self.running = True
        self.stats = {"batches": 0, "jobs": 0, "largest_batch": 0, "steps": 0, "dropped": 0}
        self.thread = threading.Thread(target=self._work, name="seqlm-serve-worker", daemon=True)
        self.thread.start()

    def close(self) -> None:
        with self.wake:
            self.running = False
            self.wake.notify()
        self.thread.join(timeout=5)

    # -- the event loop's side ---------------------------------------------------------
    def submit(self, model: ServedModel, task: str, payload) -> Future:
        """Queue a job; `Busy` when the queue is full."""
        job = Job(model, task, payload)
        with self.wake:
            if len(self.jobs) >= self.max_pending:
                raise Busy(f"the server is busy ({self.max_pending} requests queued); retry later")
            self.jobs.append(job)
            self.wake.notify()
        return job.future

    async def run(self, model: ServedModel, task: str, payload, timeout: float):
        """The job's result; `TimeoutError` after `timeout` seconds (the job is dropped if
        it has not started)."""
        future = self.submit(model, task, payload)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            future.cancel()
            raise

    def open_stream(self, model: ServedModel, settings: tuple, timeout: float) -> Stream:
        """Start a generation (prompt, max_tokens, temperature, top_k, top_p, seed)."""
        stream = Stream(
            model, None, settings, asyncio.get_running_loop(), time.monotonic() + timeout
        )
        with self.wake:
            if len(self.streams) >= self.max_streams or len(self.jobs) >= self.max_pending:
                raise Busy(f"the server is busy ({len(self.streams)} streams open); retry later")
            self.streams.append(stream)
            self.wake.notify()
        return stream

    def close_stream(self, stream: Stream) -> None:
        """The client went away (or the stream ended): stop generating for it."""
        stream.cancelled = True

    # -- the worker --------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self.wake:
                while self.running and not self.jobs and not self.streams:
                    self.wake.wait()
                if not self.running:
                    return
                idle_streams = not self.streams
            if idle_streams:  # only requests: give others a moment to join the batch
                time.sleep(self.window)
            with self.wake:
                batch = [self.jobs.popleft() for _ in range(min(self.max_batch, len(self.jobs)))]
            if batch:
                self._run_jobs(batch)
            if self.streams:
                self._step_streams()

    def _run_jobs(self, batch: list[Job]) -> None:
        groups: dict[tuple, list[Job]] = {}
        for job in batch:
            if job.future.set_running_or_notify_cancel():  # False: it timed out meanwhile
                key = (job.model.name, job.task) if job.task != "call" else (id(job),)
                groups.setdefault(key, []).append(job)
        for jobs in groups.values():
            self.stats["batches"] += 1
            self.stats["jobs"] += len(jobs)
            self.stats["largest_batch"] = max(self.stats["largest_batch"], len(jobs))
            try:
                results = self._compute(jobs)
            except Exception as e:  # one bad group must not stop the worker
                if not isinstance(e, SeqlmError):
                    log.exception("error while computing %s", jobs[0].task)
                for job in jobs:
                    job.future.set_exception(e)
                continue
            for job, result in zip(jobs, results, strict=True):
                job.future.set_result(result)

    @staticmethod
    def _compute(jobs: list[Job]) -> list:
        lm, task = jobs[0].model.lm, jobs[0].task
        if task == "score":
            top_k = max(j.payload[1] for j in jobs)
            rows = compute.score_texts(lm, [j.payload[0] for j in jobs], top_k)
            return [_trim(row, j.payload[1]) for row, j in zip(rows, jobs, strict=True)]
        if task == "next":
            k = max(j.payload[1] for j in jobs)
            found = compute.next_tokens(lm, [j.payload[0] for j in jobs], k)
            return [f[: j.payload[1]] for f, j in zip(found, jobs, strict=True)]
        fn: Callable = jobs[0].payload
        return [fn()]

    def _step_streams(self) -> None:
        now = time.monotonic()
        live = []
        for s in list(self.streams):
            if s.decoding is None and not s.cancelled:
                try:  # read the prompt (each on its own: prompts differ in length)
                    s.decoding = compute.Decoding.open(s.model.lm, *s.settings)
                except Exception as e:  # noqa: BLE001 - reported to the client
                    s.error = str(e)
            if s.cancelled or s.error or now > s.deadline or s.decoding.remaining <= 0:
                if s.cancelled:
                    self.stats["dropped"] += 1
                elif now > s.deadline and s.decoding and s.decoding.remaining > 0:
                    s.error = "time limit reached"
                s.put(None)
                with self.wake:
                    self.streams.remove(s)
                continue
            live.append(s)
        by_model: dict[str, list[Stream]] = {}
        for s in live:
            by_model.setdefault(s.model.name, []).append(s)
        for streams in by_model.values():
            for i in range(0, len(streams), self.max_batch):
                group = streams[i : i + self.max_batch]
                try:
                    pieces = compute.step(group[0].model.lm, [s.decoding for s in group])
                except Exception as e:  # noqa: BLE001
                    for s in group:
                        s.error = str(e)
                    continue
                self.stats["steps"] += 1
                for s, piece in zip(group, pieces, strict=True):
                    s.produced += 1
                    s.put(piece)


def _trim(row: dict, k: int) -> dict:
    """A batch computes the largest top-k asked; each request gets its own."""
    return {**row, "top": [t[:k] for t in row["top"]]}
