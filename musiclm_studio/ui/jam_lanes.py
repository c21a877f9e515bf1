"""The app's jam threads (``JamLanes``) and the jams made ready on them before Start (``PrimedJam``).

A lane is a thread that makes one jam's chunks at a time with its own torch thread count; the Jam tab
(``jam_tab.JamHandler``) holds one per playing jam and primes the jam a page's controls would start
on a lane no jam holds.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

import torch

from ..jam import JamChunk

PRIME_CHUNKS = 3  # chunks made before Start (``JamHandler.prime``): the first 1.2 s, made while the page waits
PRIME_DELAY_S = 0.3  # ... beginning this long after the last change (a change within it replaces it first)


class JamLane:
    """One thread that makes one jam's chunks at a time (``submit`` returns a ``Future``), with its own
    torch intra-op thread count (``torch_threads``; None: the process's).

    Why a thread of its own: Gradio runs each step of a generator on whichever of its worker threads
    is free, and a thread's first torch call builds that thread's team; on one steady thread the
    chunks after the first took 0.50 x their length, hopping between fresh threads 0.59-0.88 x
    (docs/jam.md). The thread count is OpenMP's per-thread setting: this thread takes
    ``torch_threads`` and the count that threads started later take is put back as it was.
    """

    def __init__(self, name: str, torch_threads: Optional[int] = None):
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.load = 0  # tasks submitted and not yet finished or dropped (the one running included)
        self._load_lock = threading.Lock()
        ready: Future = Future()
        self._thread = threading.Thread(target=self._serve, args=(torch_threads, ready), name=name, daemon=True)
        self._thread.start()
        ready.result()

    def _serve(self, torch_threads: Optional[int], ready: Future) -> None:
        if torch_threads:
            previous = torch.get_num_threads()  # this thread set up with the process's count first
            torch.set_num_threads(torch_threads)  # then its own count, which also becomes the default ...
            restore = threading.Thread(target=torch.set_num_threads, args=(previous,))
            restore.start()
            restore.join()  # ... so the default is put back from another thread
        ready.set_result(torch.get_num_threads())
        while True:
            function, future = self._tasks.get()
            result, error = None, None
            running = future.set_running_or_notify_cancel()
            if running:
                try:
                    result = function()
                except BaseException as caught:  # the caller's ``result()`` raises it
                    error = caught
            with self._load_lock:  # done before the caller hears of it
                self.load -= 1
            if running:
                future.set_result(result) if error is None else future.set_exception(error)

    def submit(self, function: Callable) -> Future:
        future: Future = Future()
        with self._load_lock:
            self.load += 1
        self._tasks.put((function, future))
        return future


class JamLanes:
    """The app's jam threads: ``count`` lanes (one per jam that may play at once); a jam holds one
    from Start to Stop (``lane()``). ``MUSICLM_JAM_THREADS`` sets each lane's torch threads."""

    def __init__(self, count: int, torch_threads: Optional[int] = None):
        self.lanes = [JamLane(f"jam-{i + 1}", torch_threads) for i in range(count)]
        self._holders = [0] * count
        self._lock = threading.Lock()

    @contextmanager
    def lane(self) -> Iterator[JamLane]:
        """The lane fewest jams hold (none, while the Start event's concurrency limit holds; a jam whose
        page went away without a Stop may hold one until Gradio closes it, and a lane runs its jams'
        chunks one after another, so sharing never blocks); of those, the one with the least work queued
        (priming: ``JamHandler.prime``)."""
        with self._lock:
            index = min(range(len(self.lanes)), key=lambda i: (self._holders[i], self.lanes[i].load))
            self._holders[index] += 1
        try:
            yield self.lanes[index]
        finally:
            with self._lock:
                self._holders[index] -= 1

    def idle(self) -> Optional[JamLane]:
        """A lane no jam holds, or None: of those, the one with the least work queued, and the last of
        equals (``lane()`` takes the first), so that priming does not wait behind priming it replaces,
        nor a Start that was not primed behind priming."""
        with self._lock:
            free = [i for i in range(len(self.lanes)) if not self._holders[i]]
            return self.lanes[min(free[::-1], key=lambda i: self.lanes[i].load)] if free else None

    def each(self, function: Callable) -> list:
        """Run ``function`` once on every lane (the app's warm-up) and return the results."""
        return [future.result() for future in [lane.submit(function) for lane in self.lanes]]


def jam_threads(max_jams: int) -> int:
    """Torch threads per jam lane: the process's threads shared out, a core per jam on a 2-core machine
    with 2 jams. With chromium on the same 2 cores, one jam on 1 thread started playing sooner and ran
    nearer real time than on 2 (docs/jam.md); alone, 2 threads are faster (``bench --jam``)."""
    return max(1, torch.get_num_threads() // max(1, max_jams))


class PrimedJam:
    """The jam that Start would start with some control values: built, and its first ``chunks`` chunks
    made, on a lane before Start is pressed (``JamHandler.prime``). The work begins ``delay_s`` after it
    is asked for, on the lane ``JamLanes.idle`` gives then (none: nothing is primed), so that a change
    that follows sooner replaces it before it begins (typing primes once, in a pause). ``chunks`` are
    the futures of the chunks, made one after another; ``begun`` is set once they are queued."""

    def __init__(self, settings: str, lanes: JamLanes, build: Callable, chunks: int = PRIME_CHUNKS,
                 delay_s: float = PRIME_DELAY_S):
        self.settings, self.lane, self.chunks, self._jam = settings, None, [], []
        self.begun, self._lock, self._dropped = threading.Event(), threading.Lock(), False
        self._timer = threading.Timer(delay_s, self._begin, (lanes, build, chunks))
        self._timer.daemon = True
        self._timer.start()

    def _begin(self, lanes: JamLanes, build: Callable, chunks: int) -> None:
        with self._lock:
            self.lane = None if self._dropped else lanes.idle()
            if self.lane is not None:
                self.chunks = [self.lane.submit(lambda: self._make(build))] + \
                    [self.lane.submit(self._make) for _ in range(chunks - 1)]
                self.begun.set()

    def _make(self, build: Optional[Callable] = None) -> Optional[JamChunk]:
        if build is not None:
            self._jam.append(build())
        return self._jam[0].next_chunk() if self._jam else None  # (nothing where building failed)

    def take(self) -> Optional[tuple]:
        """The jam and its chunks' futures, once the first is made; None where the first is not being
        made yet (it is dropped, and Start makes its own at once on the lane with the least work queued);
        raises what building the jam raised."""
        with self._lock:
            begun = bool(self.chunks) and (self.chunks[0].running() or self.chunks[0].done())
        if not begun:
            self.discard()
            return None
        self.chunks[0].result()
        return self._jam[0], list(self.chunks)

    def discard(self) -> None:
        """Free it: work not begun is dropped, and the jam is closed on its lane after the chunk in the
        making, if any."""
        with self._lock:
            if self._dropped:
                return
            self._dropped = True
            self._timer.cancel()
            for future in reversed(self.chunks):
                future.cancel()
            if self.lane is not None:
                self.lane.submit(lambda: self._jam and self._jam[0].close())
