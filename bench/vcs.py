"""Versioning-engine benchmark: does cost follow the change, not the dataset?

For datasets of 1k, 100k and 1M paths, on SQLite and PostgreSQL, times branch
creation, a commit of 100 changed paths, a diff of 100 changed paths and a clean
merge, each with a cold node cache; then a commit of 500k changed paths on the 1M
dataset. ``*_ratio`` figures are the 1M-path time over the 1k-path time.

    .venv/bin/python bench/vcs.py [--sizes 1000,100000,1000000] [--backends sqlite,postgresql]

The last line printed is one JSON object of all figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imagehub.core.config import Settings
from imagehub.core.vcs import BlobId, ChangeSet, Entry
from imagehub.core.vcs.nodes import SHARED_CACHE
from imagehub.models.schema import upgrade
from imagehub.models.vcs import SqlBlobIndex
from imagehub.services import datasets
from imagehub.services.platform import Platform, build_platform
from tests.support.postgres import fresh_database

CHANGED = 100
REPS = 7
BRANCH_REPS = 200
BIG_COMMIT = 500_000


def path_of(i: int) -> str:
    return f"study{i // 10_000:04d}/series{i // 100 % 100:02d}/{i:08d}.dcm"


def blob_of(i: int, version: int) -> BlobId:
    return BlobId(hashlib.sha256(f"{i}:{version}".encode()).hexdigest())


def entry(i: int, version: int = 0) -> Entry:
    return Entry(path_of(i), blob_of(i, version), 524_288, "application/dicom")


def cold(fn: Callable[[], object]) -> float:
    SHARED_CACHE._nodes.clear()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class Bench:
    def __init__(self, platform: Platform, n: int) -> None:
        self.platform = platform
        self.n = n
        self.rng = random.Random(n)
        self.version = 1
        with platform.sessions.begin() as session:
            datasets.create(session, owner="bench", name=f"n{n}", author="bench")

    def repo(self, session):  # type: ignore[no-untyped-def]
        return datasets.repository(session, datasets.get(session, owner="bench", name=f"n{self.n}"))

    def seed(self) -> float:
        start = time.perf_counter()
        with self.platform.sessions.begin() as session:
            repo = self.repo(session)
            tree, _ = repo.build_tree(entry(i) for i in range(self.n))
            repo.commit_tree("main", tree, author="bench", message="seed", metadata={})
        return time.perf_counter() - start

    def change_set(self, count: int, parity: int | None) -> tuple[ChangeSet, list[tuple[BlobId, int]]]:
        """``count`` random paths; a parity keeps two sides of a merge apart."""
        self.version += 1
        pool = range(self.n) if parity is None else range(parity, self.n, 2)
        picked = self.rng.sample(pool, count)
        changes = ChangeSet()
        blobs = []
        for i in picked:
            changes.puts[path_of(i)] = entry(i, self.version)
            blobs.append((blob_of(i, self.version), 524_288))
        return changes, blobs

    def commit(self, branch: str, count: int = CHANGED, parity: int | None = None) -> float:
        changes, blobs = self.change_set(count, parity)
        with self.platform.sessions.begin() as session:
            SqlBlobIndex(session).register(blobs)  # the upload step, not timed
        with self.platform.sessions.begin() as session:
            return cold(lambda: self.repo(session).commit(branch, changes, author="bench", message="m"))

    def branch(self, name: str) -> float:
        with self.platform.sessions.begin() as session:
            return cold(lambda: self.repo(session).create_branch(name, "main"))

    def diff(self) -> float:
        with self.platform.sessions() as session:
            repo = self.repo(session)
            return cold(lambda: repo.diff("main~1", "main", limit=10_000))

    def merge(self, rep: int) -> float:
        self.branch(f"merge{rep}")
        self.commit(f"merge{rep}", parity=0)
        self.commit("main", parity=1)
        with self.platform.sessions.begin() as session:
            return cold(lambda: self.repo(session).merge(f"merge{rep}", "main", author="bench"))


def measure(platform: Platform, n: int) -> dict[str, float]:
    bench = Bench(platform, n)
    figures = {"seed_s": bench.seed()}
    branch_times = sorted(bench.branch(f"b{i}") for i in range(BRANCH_REPS))
    figures["branch_p50_ms"] = 1000 * statistics.median(branch_times)
    figures["branch_p99_ms"] = 1000 * branch_times[int(0.99 * (len(branch_times) - 1))]
    commits, diffs = [], []
    for _ in range(REPS):
        commits.append(bench.commit("main"))
        diffs.append(bench.diff())
    figures["commit100_ms"] = 1000 * statistics.median(commits)
    figures["diff100_ms"] = 1000 * statistics.median(diffs)
    figures["merge_ms"] = 1000 * statistics.median(bench.merge(r) for r in range(3))
    if n >= 1_000_000:
        figures["commit500k_s"] = bench.commit("main", BIG_COMMIT)
    return figures


def databases(backends: list[str], tmp: Path) -> Iterator[tuple[str, str]]:
    for backend in backends:
        if backend == "sqlite":
            yield backend, f"sqlite:///{tmp / 'bench.db'}"
        else:
            with fresh_database("bench") as url:
                yield backend, url


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend, url in databases(args.backends.split(","), Path(tmp)):
            platform = build_platform(Settings(environment="test", data_dir=Path(tmp), database_url=url))
            upgrade(platform.engine)
            per_size = {}
            for n in sizes:
                per_size[n] = measure(platform, n)
                row = "  ".join(f"{k}={v:.2f}" for k, v in per_size[n].items())
                print(f"{backend:10s} n={n:>9,}  {row}", flush=True)
                results.update({f"{backend}_{n}_{k}": round(v, 3) for k, v in per_size[n].items()})
            small, large = per_size[min(sizes)], per_size[max(sizes)]
            for op in ("branch_p50_ms", "commit100_ms", "diff100_ms", "merge_ms"):
                results[f"{backend}_{op.removesuffix('_ms')}_ratio"] = round(large[op] / small[op], 3)
            platform.close()
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
