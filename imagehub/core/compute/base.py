"""The executor interface: map a batch function over items, results back in order.

Work is handed over in batches, never one task per file: a task costs milliseconds of
scheduling, an instance's metadata well under one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")

BatchFn = Callable[[Sequence[T]], list[R]]


def batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    if size < 1:
        raise ValueError("batch size must be at least 1")
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Executor(Protocol):
    """Runs a picklable, module-level batch function over items."""

    name: str

    def map_batches(
        self, fn: BatchFn[T, R], items: Sequence[T], batch_size: int, *, gpus: float = 0.0
    ) -> Iterator[list[R]]:
        """Yield each batch's results, in the order of ``items``.

        ``gpus`` is what one task would like of a GPU (OCR, inference); it is asked for
        only where the executor has GPUs, and the task still runs without one.
        """
        ...

    def close(self) -> None:
        """Release workers this executor started (never a cluster it joined)."""
        ...
