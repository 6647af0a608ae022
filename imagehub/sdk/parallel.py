"""Worker pools for transfers that stop promptly on Ctrl-C.

Python delivers Ctrl-C to the main thread only, and leaving a ``ThreadPoolExecutor`` block
waits for every queued task, so a push or pull would go on for minutes after the user
asked it to stop. Here queued tasks are cancelled, and running transfers see their pool's
stop flag between chunks (``check_stop``); what was sent or fetched so far is kept, and the
next run resumes from there. Each pool has its own flag, so one command stopping leaves
transfers of other pools in the same process alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

_worker = threading.local()  # the stop flag of the pool whose worker this thread is


class Stopped(Exception):
    """A transfer gave up part way because its command is stopping."""


def check_stop() -> None:
    """Called between chunks of a transfer: raises ``Stopped`` once the calling worker's
    pool is shutting down (never outside a pool)."""
    stop: threading.Event | None = getattr(_worker, "stop", None)
    if stop is not None and stop.is_set():
        raise Stopped("stopped")


def _join(stop: threading.Event) -> None:
    _worker.stop = stop


@contextmanager
def transfer_pool(workers: int) -> Iterator[ThreadPoolExecutor]:
    """A thread pool that, when its block fails or is interrupted, cancels what has not
    started and has running transfers stop at their next chunk before the error goes on."""
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=workers, initializer=_join, initargs=(stop,))
    try:
        yield pool
    except BaseException:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
