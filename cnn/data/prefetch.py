"""Runs a batch iterator ahead of the training loop in a background thread.

While the device computes step t, the thread reads, decodes and transfers the batches of
steps t+1 ... t+size, so the loop never waits on the host unless the host is the bottleneck.
Order is kept (one producer, a FIFO queue), so a prefetched run sees exactly the batches of
an unprefetched one.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")

_END = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class Prefetcher(Generic[U]):
    """Iterates `transform(item)` for the items of `iterator`, computed up to `size` items ahead."""

    def __init__(self, iterator: Iterator[T], transform: Callable[[T], U] = lambda x: x, size: int = 2):
        if size < 1:
            raise ValueError(f"prefetch size must be at least 1, got {size}")
        self._iterator, self._transform = iterator, transform
        self._queue: queue.Queue = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="prefetch", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._iterator:
                if not self._put(self._transform(item)):
                    return
            self._put(_END)
        except BaseException as e:  # handed to the consumer, which raises it where it reads
            self._put(_Failure(e))

    def __iter__(self) -> Prefetcher[U]:
        return self

    def __next__(self) -> U:
        item = self._queue.get()
        if item is _END:
            self._queue.put(_END)  # stay exhausted
            raise StopIteration
        if isinstance(item, _Failure):
            raise item.error
        return item

    def close(self) -> None:
        """Stops the thread; items it had prepared are dropped."""
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> Prefetcher[U]:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
