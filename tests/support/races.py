"""Run pieces of database work in concurrent transactions, released at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy.orm import Session

from imagehub.services.platform import Platform


def race(
    platform: Platform, work: dict[str, Callable[[Session], object]]
) -> tuple[dict[str, object], list[str]]:
    """Run each piece of work in its own transaction, all released at once: what each
    returned, and the errors that aborted any."""
    results: dict[str, object] = {}
    errors: list[str] = []
    barrier = threading.Barrier(len(work))

    def run(name: str, step: Callable[[Session], object]) -> None:
        try:
            with platform.sessions.begin() as session:
                barrier.wait()
                results[name] = step(session)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")

    threads = [threading.Thread(target=run, args=item) for item in work.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, errors
