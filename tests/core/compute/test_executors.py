"""Both executors give a batch function's results back in order, in batches."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from imagehub.core.compute import Executor, batched, open_executor
from imagehub.core.compute.local import LocalExecutor
from imagehub.core.config import Settings


def square_with_pid(batch: Sequence[int]) -> list[tuple[int, int]]:
    return [(n * n, os.getpid()) for n in batch]


@pytest.fixture(scope="module")
def ray_executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Executor]:
    settings = Settings(
        environment="test", data_dir=tmp_path_factory.mktemp("ray"), ray_num_cpus=2, ray_object_store_mb=80
    )
    executor = open_executor(settings)
    yield executor
    executor.close()


def test_batched_splits_and_refuses_empty_batches() -> None:
    assert [list(b) for b in batched([1, 2, 3, 4, 5], 2)] == [[1, 2], [3, 4], [5]]
    with pytest.raises(ValueError, match="at least 1"):
        list(batched([1], 0))


def test_local_executor_runs_in_this_process(tmp_path: Path) -> None:
    executor = open_executor(Settings(environment="test", data_dir=tmp_path, compute="local"))
    assert isinstance(executor, LocalExecutor)
    batches = list(executor.map_batches(square_with_pid, list(range(7)), 3))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [value for batch in batches for value, _ in batch] == [n * n for n in range(7)]
    assert {pid for batch in batches for _, pid in batch} == {os.getpid()}


def test_ray_executor_fans_out_in_order(ray_executor: Executor) -> None:
    assert ray_executor.name == "ray"
    items = list(range(100))
    batches = list(ray_executor.map_batches(square_with_pid, items, 7, gpus=0.25))  # no GPU here: still runs
    assert [value for batch in batches for value, _ in batch] == [n * n for n in items]
    assert os.getpid() not in {pid for batch in batches for _, pid in batch}  # worker processes did it
