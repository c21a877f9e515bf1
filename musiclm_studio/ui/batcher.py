"""The app's micro-batcher: one pipeline call at a time, with users' compatible requests merged.

Every generation request becomes a ``Job``. One worker thread takes the oldest job; if it can be
batched (a plain prompt, no melody, no story, a random seed) every waiting job with the same
settings joins it (up to ``max_batch_size``, after waiting ``wait_s`` for companions when the
server was idle) and they run as one ``batch.generate_batch`` call; anything else runs alone
through ``pipe(...)``. While a batch runs, new requests queue up and go together next, so under
load the batch grows with the queue. Each job sees the progress events of its own rows; Stop
ends one job at once (its batch goes on for the others, and stops when every job in it has).
``max_batch_size=1`` is the plain serial queue.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

from ..batch import generate_batch
from ..models.text import check_prompts


log = logging.getLogger(__name__)
IDLE_S = 1.0  # the worker thread ends after this long without work


class Stopped(Exception):
    """Raised from the pipeline callback when every user of a run pressed Stop."""


@dataclass
class Job:
    """One request: the pipeline's keyword arguments, its batch key (None: runs alone) and its state."""

    kwargs: dict
    key: Optional[tuple]
    latest: dict = field(default_factory=dict)  # the newest StageEvent per stage, this job's rows only
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    result: dict = field(default_factory=dict)  # "output" or "error"; "batch_size" once started

    def finish(self, **result) -> None:
        if not self.done.is_set():
            self.result.update(result)
            self.done.set()


def batch_key(kwargs: dict) -> Optional[tuple]:
    """The settings a batch shares, or None when the request must run alone (story, melody, fixed seed)."""
    if not isinstance(kwargs["prompt"], str) or kwargs.get("melody") is not None or kwargs.get("seed") is not None:
        return None
    try:
        check_prompts([kwargs["prompt"]])
    except ValueError:
        return None  # refused alone, with the pipeline's message; a batch keeps one row per job
    guidance = kwargs.get("guidance_scale")
    guidance = tuple(sorted(guidance.items())) if isinstance(guidance, dict) else guidance
    try:
        key = (kwargs["duration_s"], tuple(kwargs["temperature"]), kwargs["top_k"], kwargs["top_p"], guidance,
               kwargs["num_candidates"], kwargs.get("bpm"), kwargs.get("key"), kwargs.get("negative_prompt"))
        hash(key)
    except TypeError:
        return None  # odd types: let the pipeline judge them alone
    return key


def _rows(tokens, index: int, count: int):
    """Job ``index``'s rows of a batch tensor (the batch holds ``count`` jobs with equal row counts)."""
    per = tokens.shape[0] // count
    return tokens[index * per:(index + 1) * per]


class MicroBatcher:
    """Runs jobs on ``pipe`` one call at a time, merging compatible ones (see the module docstring)."""

    def __init__(self, pipe, max_batch_size: int = 16, wait_s: float = 0.25):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}.")
        self.pipe, self.max_batch_size, self.wait_s = pipe, max_batch_size, wait_s
        self._queue: list[Job] = []
        self._cond = threading.Condition()
        self._thread: Optional[threading.Thread] = None
        self.batch_sizes: list[int] = []  # every call's batch size, for tests and benchmarks

    def submit(self, kwargs: dict) -> Job:
        job = Job(kwargs, batch_key(kwargs) if self.max_batch_size > 1 else None)
        with self._cond:
            self._queue.append(job)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="musiclm-batcher", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return job

    def _next_group(self) -> Optional[list[Job]]:
        """The next jobs to run together; None when the queue stayed empty for ``IDLE_S`` (the thread then
        ends, and ``submit`` starts a new one: no thread outlives its work, e.g. at interpreter exit)."""
        with self._cond:
            idle_until = time.monotonic() + IDLE_S
            while not self._queue:
                if time.monotonic() >= idle_until:
                    self._thread = None
                    return None
                self._cond.wait(max(0.0, idle_until - time.monotonic()))
            first = self._queue[0]
            if first.key is not None and len(self._queue) < self.max_batch_size:
                deadline = time.monotonic() + self.wait_s  # an idle server waits briefly for companions
                while len(self._queue) < self.max_batch_size and time.monotonic() < deadline:
                    self._cond.wait(max(0.0, deadline - time.monotonic()))
            group = [first] if first.key is None else \
                [job for job in self._queue if job.key == first.key][: self.max_batch_size]
            for job in group:
                self._queue.remove(job)
        for job in group:
            if job.stop.is_set():  # stopped while it waited: nothing to run
                job.finish(error=Stopped())
        return [job for job in group if not job.stop.is_set()]

    def _loop(self) -> None:
        while True:
            group = self._next_group()
            if group is None:
                return
            if not group:
                continue
            self.batch_sizes.append(len(group))
            if len(group) > 1:
                log.info("generating %d requests as one batch", len(group))
            for job in group:
                job.result["batch_size"] = len(group)
            try:
                self._run(group)
            except BaseException as error:  # noqa: BLE001 - handed to every job's UI thread, which reports it
                for job in group:
                    job.finish(error=error)

    def _run(self, group: list[Job]) -> None:
        def callback(event):  # keep only the newest event per stage: no queue, no wake-ups
            if all(job.stop.is_set() for job in group):
                raise Stopped()
            for i, job in enumerate(group):
                job.latest[event.stage] = event if len(group) == 1 else \
                    type(event)(event.stage, event.step, event.total, _rows(event.tokens, i, len(group)))

        if len(group) == 1:
            group[0].finish(output=self.pipe(**group[0].kwargs, callback=callback))
            return
        shared = {k: v for k, v in group[0].kwargs.items() if k not in ("prompt", "melody", "seed")}
        outputs = generate_batch(self.pipe, [job.kwargs["prompt"] for job in group], callback=callback, **shared)
        for job, out in zip(group, outputs):
            job.finish(**({"error": out} if isinstance(out, Exception) else {"output": out}))
