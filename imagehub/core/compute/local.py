"""Run batches in the calling process: tests, tiny datasets, and machines without Ray."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

from imagehub.core.compute.base import BatchFn, batched

T = TypeVar("T")
R = TypeVar("R")


class LocalExecutor:
    name = "local"

    def map_batches(
        self, fn: BatchFn[T, R], items: Sequence[T], batch_size: int, *, gpus: float = 0.0
    ) -> Iterator[list[R]]:
        for batch in batched(items, batch_size):
            yield fn(batch)

    def close(self) -> None:
        return None
