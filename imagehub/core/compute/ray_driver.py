"""Fan batches out to Ray: a local Ray with a bounded object store, or a cluster.

Only a bounded number of batches is in flight, so a million-file commit never puts a
million futures (or their results) in memory at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from imagehub.core.compute.base import BatchFn, batched

T = TypeVar("T")
R = TypeVar("R")
MB = 1024 * 1024


def _apply(fn: BatchFn[T, R], batch: list[T]) -> list[R]:
    """The one Ray task body; ``fn`` may be a partial carrying settings."""
    return fn(batch)


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None, num_cpus: int | None, object_store_mb: int) -> None:
        import ray

        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:
            options: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if address:
                options["address"] = address
            else:
                # With no address ray.init joins RAY_ADDRESS when set, else starts a local Ray.
                options["num_cpus"] = num_cpus
                options["object_store_memory"] = object_store_mb * MB
            ray.init(**options)
        resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
        self._in_flight = max(2, 2 * int(resources.get("CPU", 1)))
        self._has_gpus = resources.get("GPU", 0) > 0

    def map_batches(
        self, fn: BatchFn[T, R], items: Sequence[T], batch_size: int, *, gpus: float = 0.0
    ) -> Iterator[list[R]]:
        task: Any = self._ray.remote(_apply)
        if gpus and self._has_gpus:
            task = task.options(num_gpus=gpus)
        shipped_fn = self._ray.put(fn)
        pending: deque[Any] = deque()
        for batch in batched(items, batch_size):
            pending.append(task.remote(shipped_fn, list(batch)))
            if len(pending) >= self._in_flight:
                yield self._ray.get(pending.popleft())
        while pending:
            yield self._ray.get(pending.popleft())

    def close(self) -> None:
        if self._started_here and self._ray.is_initialized():
            self._ray.shutdown()
