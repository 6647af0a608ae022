"""Transport benchmark: push and pull against plain `cp` of the same tree, on this disk.

Two trees: DICOM-sized files (0.5 MB each) and many small files. For each, times
`add` + `commit` + `push` into a fresh dataset and a `clone` (pull) into a fresh folder
with an empty object cache, against `cp -r` of the same tree measured in the same run;
the server is `imagehub serve` in its own process on loopback, as deployed;
then `status` on the unchanged small-file tree against a bare walk + stat.

    .venv/bin/python bench/transport.py [--big-mb 2048] [--small-files 100000]

Ratios: ``*_rate_ratio`` is cp time / operation time (1.0 = as fast as cp);
``status_ratio`` is status time / walk+stat time. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imagehub.core.config import Settings
from imagehub.models.schema import upgrade
from imagehub.sdk.client import Client
from imagehub.sdk.objects import ObjectCache
from imagehub.sdk.workcopy import WorkingCopy
from imagehub.services.platform import build_platform
from tests.support.accounts import make_user
from tests.support.served import served


def make_tree(root: Path, count: int, size: int) -> int:
    block = os.urandom(size)
    for i in range(count):
        path = root / f"study{i // 1000:03d}" / f"series{i // 100 % 10}" / f"{i:06d}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(i.to_bytes(8, "big") + block[8:])  # unique content per file
    return count * size


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def walk_stat(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            os.stat(os.path.join(dirpath, name))


def run_tree(url: str, work: Path, name: str, count: int, size: int) -> dict[str, float]:
    source = work / f"{name}-source"
    total = make_tree(source, count, size)
    subprocess.run(["sync"], check=True)
    cp_s = timed(lambda: subprocess.run(["cp", "-r", str(source), str(work / f"{name}-cp")], check=True))
    client = Client(url, os.environ["IMAGEHUB_TOKEN"], cache=ObjectCache(work / f"{name}-cache-push"))
    client.create_dataset(f"bench/{name}")
    os.environ["IMAGEHUB_CACHE_DIR"] = str(work / f"{name}-cache-push")
    copy = WorkingCopy.clone(url, f"bench/{name}", work / f"{name}-wc")
    for item in source.iterdir():
        shutil.move(str(item), str(work / f"{name}-wc" / item.name))

    def push() -> None:
        copy.add(["."])
        copy.commit("bench")
        copy.push(workers=4)

    subprocess.run(["sync"], check=True)  # each timed step starts with no earlier step's writes pending
    push_s = timed(push)
    os.environ["IMAGEHUB_CACHE_DIR"] = str(work / f"{name}-cache-pull")
    subprocess.run(["sync"], check=True)
    pull_s = timed(lambda: WorkingCopy.clone(url, f"bench/{name}", work / f"{name}-pulled"))
    figures = {
        f"{name}_mb": total / 1e6,
        f"{name}_cp_s": cp_s,
        f"{name}_push_s": push_s,
        f"{name}_pull_s": pull_s,
        f"{name}_push_rate_ratio": cp_s / push_s,
        f"{name}_pull_rate_ratio": cp_s / pull_s,
    }
    if name == "small":
        copy.status()  # warm the stat cache, as any earlier command would have
        figures["status_s"] = timed(copy.status)
        figures["walk_stat_s"] = timed(lambda: walk_stat(work / f"{name}-wc"))
        figures["status_ratio"] = figures["status_s"] / figures["walk_stat_s"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--big-mb", type=int, default=2048, help="size of the 0.5 MB-file tree")
    parser.add_argument("--small-files", type=int, default=100_000, help="files in the small-file tree")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(
        dir=Path.cwd() / "var" if (Path.cwd() / "var").is_dir() else None
    ) as tmp:
        work = Path(tmp)
        platform = build_platform(Settings(environment="test", data_dir=work / "server"))
        upgrade(platform.engine)
        os.environ["IMAGEHUB_TOKEN"] = make_user(platform, "bench")
        platform.close()
        results: dict[str, float] = {}
        with served(work / "server") as url:
            for name, count, size in (
                ("big", args.big_mb * 2, 512 * 1024),
                ("small", args.small_files, 2048),
            ):
                results.update(run_tree(url, work, name, count, size))
                print("  ".join(f"{k}={v:.3f}" for k, v in results.items() if k.startswith(name)), flush=True)
    print(json.dumps({k: round(v, 4) for k, v in results.items()}, sort_keys=True))


if __name__ == "__main__":
    main()
