"""Worker pools for transfers that stop promptly on Ctrl-C.

Python delivers Ctrl-C to the main thread only, and leaving a ``ThreadPoolExecutor`` block
waits for every queued task, so a push or pull would go on for minutes after the user
asked it to stop. Here queued tasks are cancelled, and running transfers see a stop flag
between chunks (``check_stop``); what was sent or fetched so far is kept, and the next run
resumes from there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

_STOP = threading.Event()


class Stopped(Exception):
    """A transfer gave up part way because the command is stopping."""


def check_stop() -> None:
    """Called between chunks of a transfer: raises ``Stopped`` once a pool is shutting down."""
    if _STOP.is_set():
        raise Stopped("stopped")


@contextmanager
def transfer_pool(workers: int) -> Iterator[ThreadPoolExecutor]:
    """A thread pool that, when its block fails or is interrupted, cancels what has not
    started and has running transfers stop at their next chunk before the error goes on."""
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        yield pool
    except BaseException:
        _STOP.set()
        try:
            pool.shutdown(wait=True, cancel_futures=True)
        finally:
            _STOP.clear()
        raise
    pool.shutdown(wait=True)
