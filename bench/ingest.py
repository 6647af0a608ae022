"""Ingest benchmark: synthetic 512x512 CT instances end to end, against a raw-I/O bound.

End to end is what a user waits for after dropping a scanner export beside the server:
hash and store every file, commit, then the pipeline's ``raw_commit`` and
``instance_metadata`` assets (metadata rows in the database) materialised by Dagster
with the work fanned out to Ray. The bound, measured in the same run on the same files,
is reading + SHA-256 + writing the same bytes with the same number of threads; the
durable bound adds the time until those writes are on disk, which ImageHub must wait for
before a commit may name a file. ImageHub's local store writes the bulk of each file with
direct I/O (``imagehub/core/storage/direct.py``), so a third bound does the same: read,
hash, write the same way, until on disk. Each timed step starts after a ``sync``, so none
pays for an earlier step's writes.

Overhead of Dagster and Ray is the end-to-end time minus the same work called directly
(import + metadata with the in-process executor), as a share of the end-to-end time.
Ray is started before timing, as a deployment keeps it running; its start-up is
reported on its own.

    .venv/bin/python bench/ingest.py [--instances 5000]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dagster import DagsterInstance, materialize

from imagehub.core.compute import open_executor
from imagehub.core.compute.local import LocalExecutor
from imagehub.core.config import Settings
from imagehub.core.imaging.synthetic import write_ct_study
from imagehub.core.storage import direct as direct_io
from imagehub.models.schema import upgrade
from imagehub.services import imaging
from imagehub.services.local_import import WORKERS, import_folder
from imagehub.services.pipeline import partition_key
from imagehub.services.platform import Platform, build_platform
from imagehub_assets.assets import instance_metadata, raw_commit
from imagehub_assets.partitions import dataset_commits
from imagehub_assets.resources import ImageHubResource, RayResource

SLICES_PER_SERIES = 250


def copy_hash(source: Path, target: Path) -> None:
    data = source.read_bytes()
    hashlib.sha256(data).hexdigest()
    target.write_bytes(data)


def copy_hash_direct(source: Path, target: Path) -> None:
    data = source.read_bytes()
    hashlib.sha256(data).hexdigest()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        if direct_io.suits(data):
            direct_io.write(fd, data)
        else:
            os.write(fd, data)
    finally:
        os.close(fd)


def bound(
    files: list[Path], out: Path, copy: Callable[[Path, Path], None] = copy_hash
) -> tuple[float, float]:
    """Seconds to read, hash and write every file; and until those writes are on disk, the
    floor for any store that must not lose a committed file."""
    os.sync()
    started = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(lambda p: copy(p, out / f"{p.parent.name}-{p.name}"), files))
    written = time.perf_counter() - started
    os.sync()
    return written, time.perf_counter() - started


def fresh_platform(root: Path, name: str, compute: str) -> Platform:
    platform = build_platform(Settings(environment="test", data_dir=root / name, compute=compute))  # type: ignore[arg-type]
    upgrade(platform.engine)
    return platform


def direct(platform: Platform, folder: Path) -> float:
    os.sync()  # each timed step starts with no earlier step's writes pending
    started = time.perf_counter()
    commit = import_folder(
        platform, folder, dataset="bench/ct", branch="main", author="bench", message="ingest"
    )
    ref = imaging.resolve_commit(platform, "bench/ct", commit.id)
    summary = imaging.index_metadata(platform, LocalExecutor(), ref)
    assert summary.counts["dicom"] > 0
    return time.perf_counter() - started


def through_dagster(
    platform: Platform, folder: Path, instance: DagsterInstance
) -> tuple[float, dict[str, int]]:
    settings = platform.settings
    resources = {
        "imagehub": ImageHubResource(
            data_dir=str(settings.data_dir), database_url=settings.effective_database_url
        ),
        "ray": RayResource(compute="ray"),
    }
    os.sync()
    started = time.perf_counter()
    commit = import_folder(
        platform, folder, dataset="bench/ct", branch="main", author="bench", message="ingest"
    )
    key = partition_key("bench/ct", commit.id)
    instance.add_dynamic_partitions(dataset_commits.name, [key])
    result = materialize(
        [raw_commit, instance_metadata], partition_key=key, instance=instance, resources=resources
    )
    elapsed = time.perf_counter() - started
    assert result.success
    counts = {
        name: value.value
        for name, value in result.asset_materializations_for_node("instance_metadata")[0].metadata.items()
        if isinstance(value.value, int)
    }
    return elapsed, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imagehub-bench-") as scratch:
        root = Path(scratch)
        folder = root / "export"
        series = max(1, args.instances // SLICES_PER_SERIES)
        files = write_ct_study(folder, series=series, slices=args.instances // series)
        size = sum(p.stat().st_size for p in files)
        print(f"{len(files)} instances, {size / 1e6:.0f} MB", file=sys.stderr)
        (root / "bound").mkdir()
        bound_s, durable_bound_s = bound(files, root / "bound")
        (root / "direct-bound").mkdir()
        _, direct_bound_s = bound(files, root / "direct-bound", copy_hash_direct)

        ray_started = time.perf_counter()
        ray_executor = open_executor(Settings(environment="test", data_dir=root / "probe"))
        ray_start_s = time.perf_counter() - ray_started
        try:
            direct_s = direct(fresh_platform(root, "direct", "local"), folder)
            with DagsterInstance.ephemeral() as instance:
                full_s, counts = through_dagster(fresh_platform(root, "dagster", "ray"), folder, instance)
        finally:
            ray_executor.close()

    rate = len(files) / full_s
    result = {
        "instances": len(files),
        "megabytes": round(size / 1e6, 1),
        "bound_s": round(bound_s, 2),
        "durable_bound_s": round(durable_bound_s, 2),
        "direct_durable_bound_s": round(direct_bound_s, 2),
        "direct_s": round(direct_s, 2),
        "end_to_end_s": round(full_s, 2),
        "ray_start_s": round(ray_start_s, 2),
        "instances_per_s": round(rate, 1),
        "bound_instances_per_s": round(len(files) / bound_s, 1),
        "share_of_bound": round(bound_s / full_s, 3),
        "share_of_durable_bound": round(durable_bound_s / full_s, 3),
        "share_of_direct_durable_bound": round(direct_bound_s / full_s, 3),
        "dagster_ray_overhead": round((full_s - direct_s) / full_s, 3),
        "metadata_counts": counts,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
