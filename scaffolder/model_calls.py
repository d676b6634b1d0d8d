"""Model calls in flight, `jobs` at a time, on threads that never hold up the process's exit.

A `ThreadPoolExecutor`'s threads are joined when Python exits, so Ctrl-C during a fill waited for
every model call still in flight: up to the request limit, once per SDK retry, minutes with a slow
model. These threads are daemons: an interrupted command exits at once, and a call that was still
running is dropped with the process. Nothing a dropped call returns is kept: only the fill keeps
files, after it has judged them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")


class ModelCalls(Generic[T]):
    """`call(item)` for every item, `jobs` at once; `futures` maps each call's future to its item
    (`concurrent.futures.wait` works on them). `stop()` starts no further call."""

    def __init__(self, call: Callable[[T], None], items: Iterable[T], jobs: int) -> None:
        self._call = call
        self._waiting: queue.SimpleQueue[tuple[Future[None], T]] = queue.SimpleQueue()
        self._stopped = threading.Event()
        self.futures: dict[Future[None], T] = {}
        for item in items:
            future: Future[None] = Future()
            self.futures[future] = item
            self._waiting.put((future, item))
        for _ in range(min(max(1, jobs), len(self.futures))):
            threading.Thread(target=self._work, name="scaffold-model-call", daemon=True).start()

    def _work(self) -> None:
        while not self._stopped.is_set():
            try:
                future, item = self._waiting.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                self._call(item)
            except BaseException as exc:  # the caller sees it through the future, as with an executor
                future.set_exception(exc)
            else:
                future.set_result(None)

    def stop(self) -> None:
        """No call starts after this; the ones not started are cancelled, the running ones are left
        to end on their own (or with the process)."""
        self._stopped.set()
        for future in self.futures:
            future.cancel()
