"""Portal and viewer benchmark: do pages stay fast on big datasets, and is the viewer quick?

1. Portal pages on a 100k-file dataset against the same pages on a 100-file one (ratio;
   target: the big dataset's pages within 2x of the small one's, each under 300 ms).
2. Time from opening a series page to the viewer's first rendered image, for a 512x512
   CT series, in headless Chromium on loopback (target: under 500 ms), against the time
   the same page takes to load without running the widget (baseline).
3. Frames over WADO-RS, one request per frame as the viewer fetches them (target: 30+
   frames/s), against downloading the same instances whole (baseline).

    .venv/bin/python bench/viewer.py [--files 100000] [--slices 64]

The last line printed is one JSON object of all figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from imagehub.core.imaging.synthetic import ct_instance_bytes
from imagehub.core.vcs import BlobId, Entry
from imagehub.models.imaging import SeriesRow
from imagehub.models.vcs import SqlBlobIndex
from imagehub.services import datasets
from imagehub.services.platform import Platform
from tests.support.accounts import PASSWORD, make_user
from tests.support.browser import launch_chromium, signed_in_context
from tests.support.datasets import commit_files
from tests.support.platforms import migrated_platform
from tests.support.portal import run_pipeline
from tests.support.served import served

REPS = 9
SERIES_SIZE = 100


def path_of(i: int) -> str:
    return f"study{i // 10_000:03d}/series{i // SERIES_SIZE % 100:02d}/{i:08d}.dcm"


def seed_manifest(platform: Platform, name: str, files: int) -> None:
    """A dataset of ``files`` paths in two commits (the second adds a README), with series
    rows for both as the pipeline would have written them."""
    blob = BlobId("ab" * 32)
    with platform.sessions.begin() as session:
        dataset = datasets.create(session, owner="bench", name=name, author="bench")
        SqlBlobIndex(session).register([(blob, 524_288)])
        repo = datasets.repository(session, dataset)
        tree, _ = repo.build_tree(Entry(path_of(i), blob, 524_288, "application/dicom") for i in range(files))
        seed = repo.commit_tree("main", tree, author="bench", message="seed", metadata={})
    change = commit_files(platform, "bench", name, "main", {"README.md": b"# bench\n"}, "a small change")
    with platform.sessions.begin() as session:
        for commit_id in (seed.id, change.id):
            for s in range(max(1, files // SERIES_SIZE)):
                members = [path_of(i) for i in range(s * SERIES_SIZE, min(files, (s + 1) * SERIES_SIZE))]
                session.add(
                    SeriesRow(
                        dataset_id=dataset.id,
                        commit_id=commit_id,
                        series_key=f"1.2.826.0.1.{s:06d}",
                        kind="dicom",
                        study_uid="1.2.826.0.1",
                        modality="CT",
                        body_part="CHEST",
                        description=f"series {s}",
                        instances=len(members),
                        members=json.dumps(members),
                        thumbnail_key=None,
                    )
                )


def median_ms(fn: Callable[[], object]) -> float:
    fn()  # warm: first requests compile templates and fill caches
    times = []
    for _ in range(REPS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def page_figures(http: httpx.Client, name: str) -> dict[str, float]:
    def get(url: str) -> Callable[[], object]:
        def fetch() -> None:
            response = http.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code}")

        return fetch

    base = f"/bench/{name}"
    pages = {
        "home": f"{base}?ref=main",
        "tree_root": f"{base}/tree/main",
        "tree_folder": f"{base}/tree/main?path=study000/",
        "series": f"{base}/series/main",
        "commits": f"{base}/commits/main",
        "compare": f"{base}/compare?left=main~1&right=main",
    }
    return {page: median_ms(get(url)) for page, url in pages.items()}


def portal_pages(base: str) -> dict[str, float]:
    figures: dict[str, float] = {}
    with httpx.Client(base_url=base, timeout=60) as http:
        signed = http.post("/login", data={"username": "bench", "password": PASSWORD})
        if signed.status_code != 303:
            raise RuntimeError(f"sign-in failed: {signed.status_code}")
        small, big = page_figures(http, "small"), page_figures(http, "big")
    for page in small:
        figures[f"page_{page}_small_ms"] = small[page]
        figures[f"page_{page}_big_ms"] = big[page]
        figures[f"page_{page}_ratio"] = big[page] / small[page]
    return figures


def ct_dataset(platform: Platform, slices: int) -> tuple[str, str]:
    """A 512x512 CT series through the real pipeline: (series page URL, WADO series URL)."""
    with platform.sessions.begin() as session:
        datasets.create(session, owner="bench", name="ct", author="bench")
    files: dict[str, bytes | None] = {
        f"ct/{i:04d}.dcm": ct_instance_bytes(slice_index=i) for i in range(slices)
    }
    commit = commit_files(platform, "bench", "ct", "main", files, "CT series")
    run_pipeline(platform, "bench/ct", commit)
    with platform.sessions() as session:
        dataset = datasets.get(session, owner="bench", name="ct")
        row = session.query(SeriesRow).filter_by(dataset_id=dataset.id, commit_id=commit.id).one()
        series, study = row.series_key, row.study_uid
    root = f"/api/v1/datasets/bench/ct/refs/{commit.id}/dicomweb/studies/{study}/series/{series}"
    return f"/bench/ct/view/{commit.id}?series={series}", root


def first_image(base: str, page_url: str) -> dict[str, float]:
    """Navigation start to the first rendered image, as the page itself timed it."""
    with launch_chromium() as browser:
        context = signed_in_context(browser, base, "bench", PASSWORD)
        page = context.new_page()
        rendered, loaded, first_visit = [], [], 0.0
        for rep in range(REPS + 1):
            page.goto("about:blank")
            page.goto(page_url, wait_until="domcontentloaded")
            page.wait_for_selector('#viewer-main[data-state="ready"]', state="attached", timeout=60_000)
            first, dom = page.evaluate(
                "() => [window.__firstRender,"
                " performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd]"
            )
            if rep:  # the first visit fills the browser's and the server's caches
                rendered.append(first)
                loaded.append(dom)
            else:
                first_visit = first
        context.close()
    return {
        "first_image_first_visit_ms": first_visit,
        "first_image_ms": statistics.median(rendered),
        "page_loaded_ms": statistics.median(loaded),
        "first_image_over_page_load": statistics.median(rendered) / statistics.median(loaded),
    }


def frames_per_second(base: str, series_root: str, slices: int) -> dict[str, float]:
    with httpx.Client(base_url=base, timeout=60) as http:
        http.post("/login", data={"username": "bench", "password": PASSWORD})
        metadata = http.get(f"{series_root}/metadata").json()
        sops = [item["00080018"]["Value"][0] for item in metadata]
        content = series_root.split("/dicomweb/")[0] + "/objects/content"
        accept = {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'}

        def frames() -> None:
            for sop in sops:
                http.get(f"{series_root}/instances/{sop}/frames/1", headers=accept).raise_for_status()

        def whole_files() -> None:
            for i in range(slices):
                http.get(content, params={"path": f"ct/{i:04d}.dcm"}).raise_for_status()

        frames_s = median_ms(frames) / 1000
        files_s = median_ms(whole_files) / 1000
    return {
        "wado_frames_per_s": len(sops) / frames_s,
        "whole_files_per_s": slices / files_s,
        "frames_over_whole_files": (len(sops) / frames_s) / (slices / files_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--slices", type=int, default=64)
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, migrated_platform(Path(tmp), compute="local") as platform:
        make_user(platform, "bench")
        seed_manifest(platform, "small", 100)
        seed_manifest(platform, "big", args.files)
        page_url, series_root = ct_dataset(platform, args.slices)
        with served(Path(tmp)) as base:
            figures.update(portal_pages(base))
            figures.update(first_image(base, page_url))
            figures.update(frames_per_second(base, series_root, args.slices))
    for key, value in figures.items():
        print(f"{key:>34}: {value:10.2f}")
    print(json.dumps({k: round(v, 3) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
