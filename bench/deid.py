"""De-identification benchmark: our tag path against the `deid` package and dicognito.

One PHI-seeded corpus (every Annex E text attribute carries a unique sentinel), timed
in the same run, one process each (so the figures are per core):

- ``imagehub``: bytes in, Annex E tag de-identification (basic profile), bytes out, on the
  encoded file as ``imagehub deid`` and the pipeline run it;
- ``imagehub_research``: the research profile, whose options keep device identity and
  patient characteristics (sentinels there survive by design) and clean descriptors;
- ``imagehub_research_free_text``: the same with presidio cleaning the ``C`` attributes
  (it removes what it recognises; an arbitrary sentinel in a description stays), the
  header read once more for the cleaner's deny-list as the product does;
- ``imagehub_pydicom``: the basic profile through pydicom's dataset model (read, walk,
  write): the path taken for files the byte path hands back (big endian, deflated...);
- ``deid``: the `deid` package's default DICOM recipe through ``replace_identifiers``;
- ``dicognito``: ``Anonymizer.anonymize`` on each data set, read + write.

Each line counts the sentinels that survive in the output bytes (``imagehub`` must be 0).

    .venv/bin/python bench/deid.py [--instances 1000]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# This file is named like the `deid` package it measures: its own folder must not shadow it.
sys.path.remove(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pydicom

from imagehub.core.deid import (
    PROFILES,
    DateShifter,
    UidMapper,
    deidentify_dataset,
    deidentify_encoded,
    header_phi,
)
from imagehub.core.deid.text import TextScrubber
from tests.support.phi_corpus import SENTINEL_PREFIX, write_phi_corpus

KEY = b"benchmark-secret-benchmark-secret"
SENTINEL = re.compile(SENTINEL_PREFIX.encode() + rb"\d+X")


def leaks(outputs: list[bytes], sentinels: set[str]) -> int:
    """Sentinels found in the outputs: one regex pass, not one scan per sentinel."""
    found = {m.decode() for out in outputs for m in re.findall(SENTINEL, out)}
    return len(found & sentinels)


def timed(work: Callable[[], list[bytes]]) -> tuple[float, list[bytes]]:
    started = time.perf_counter()
    outputs = work()
    return time.perf_counter() - started, outputs


def ours(files: list[bytes], profile_name: str, scrubber: TextScrubber | None) -> list[bytes]:
    uids, dates, profile = UidMapper(KEY), DateShifter(KEY), PROFILES[profile_name]
    outputs = []
    for data in files:
        deny = header_phi(pydicom.dcmread(io.BytesIO(data))) if scrubber else ()
        output, _ = deidentify_encoded(
            data,
            profile=profile,
            uids=uids,
            dates=dates,
            clean_text=scrubber.clean if scrubber else None,
            deny=deny,
        )
        outputs.append(output)
    return outputs


def ours_on_pydicom(files: list[bytes]) -> list[bytes]:
    uids, dates, profile = UidMapper(KEY), DateShifter(KEY), PROFILES["basic"]
    outputs = []
    for data in files:
        ds = pydicom.dcmread(io.BytesIO(data))
        deidentify_dataset(ds, profile=profile, uids=uids, dates=dates)
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        outputs.append(out.getvalue())
    return outputs


def deid_package(paths: list[Path], out_dir: Path) -> list[bytes]:
    from deid.config import DeidRecipe
    from deid.dicom import replace_identifiers

    logging.getLogger("deid").setLevel(logging.ERROR)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = replace_identifiers(
        [str(p) for p in paths], deid=DeidRecipe(), save=True, output_folder=str(out_dir), overwrite=True
    )
    return [Path(p).read_bytes() for p in written]


def dicognito(files: list[bytes]) -> list[bytes]:
    from dicognito.anonymizer import Anonymizer

    anonymizer = Anonymizer(seed="benchmark")
    outputs = []
    for data in files:
        ds = pydicom.dcmread(io.BytesIO(data))
        anonymizer.anonymize(ds)
        out = io.BytesIO()
        ds.save_as(out)
        outputs.append(out.getvalue())
    return outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imagehub-deid-bench-") as scratch:
        root = Path(scratch)
        corpus = write_phi_corpus(root / "corpus", instances=args.instances, seed=7)
        files = [p.read_bytes() for p in corpus.paths]
        scrubber = TextScrubber()
        scrubber.clean("warm up John Doe", ["DOE^JOHN"])
        results: dict[str, tuple[float, int]] = {}
        for name, work in (
            ("imagehub", lambda: ours(files, "basic", None)),
            ("imagehub_research", lambda: ours(files, "research", None)),
            ("imagehub_research_free_text", lambda: ours(files, "research", scrubber)),
            ("imagehub_pydicom", lambda: ours_on_pydicom(files)),
            ("deid", lambda: deid_package(corpus.paths, root / "deid-out")),
            ("dicognito", lambda: dicognito(files)),
        ):
            seconds, outputs = timed(work)
            results[name] = (seconds, leaks(outputs, corpus.sentinels))
            print(
                f"{name}: {len(files) / seconds:.0f} instances/s, {results[name][1]} sentinel leaks",
                file=sys.stderr,
            )
    rate = {name: len(files) / seconds for name, (seconds, _) in results.items()}
    print(
        json.dumps(
            {
                "instances": len(files),
                "sentinels": len(corpus.sentinels),
                "instances_per_s": {k: round(v, 1) for k, v in rate.items()},
                "sentinel_leaks": {k: v for k, (_, v) in results.items()},
                "ratio_vs_deid": round(rate["imagehub"] / rate["deid"], 2),
                "ratio_vs_dicognito": round(rate["imagehub"] / rate["dicognito"], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
