"""Run an iterator in a background thread a few items ahead of its consumer.

The demo's producers (generating a block, encoding COPY data) are numpy-heavy and its
consumer mostly waits on the database socket, both of which release the GIL, so a
thread is enough to keep the generator, the encoder and the database server busy at
the same time.  Memory stays bounded: at most ``depth`` items wait in the queue.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def prefetch(items: Iterator[T], depth: int = 1) -> Generator[T, None, None]:
    """``items``, produced by a background thread up to ``depth`` items ahead.

    An exception in the thread is raised here; closing this iterator (or leaving the
    loop over it) stops the thread after its current item.
    """
    done = object()
    slots: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any, error: BaseException | None = None) -> None:
        while not stop.is_set():
            try:
                slots.put((item, error), timeout=0.1)
                return
            except queue.Full:
                continue

    def run() -> None:
        try:
            for item in items:
                put(item)
                if stop.is_set():
                    return
            put(done)
        except BaseException as exc:
            put(done, exc)

    thread = threading.Thread(target=run, name="demo-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join()
