"""A dataset with real images, two versions and the pipeline run on both: what portal tests look at."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import nibabel
import pydicom
from dagster import instance_for_test, materialize
from pydicom.data import get_testdata_file

from imagehub.core.vcs import Commit
from imagehub.services import datasets
from imagehub.services.pipeline import partition_key
from imagehub.services.platform import Platform
from imagehub_assets.assets import ASSETS
from imagehub_assets.partitions import dataset_commits
from tests.assets.conftest import resources_for
from tests.support.datasets import commit_files

VOLUME = Path(__file__).parents[1] / "data" / "volume"
README = b"# Brain MR study\n\nTwenty slices of a **real** MR series.\n\n<script>alert(1)</script>\n"


@dataclass(frozen=True)
class Seeded:
    first: Commit  # README, six MR slices, one CT instance, a text file
    second: Commit  # all twenty MR slices, the CT removed, a NIfTI volume added
    mr_series: str
    ct_series: str


def run_pipeline(platform: Platform, dataset: str, commit: Commit) -> None:
    key = partition_key(dataset, commit.id)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(dataset_commits.name, [key])
        result = materialize(ASSETS, partition_key=key, instance=instance, resources=resources_for(platform))
        assert result.success


def nifti_bytes() -> bytes:
    """A small real 3D NIfTI volume from nibabel's test data, gzipped as datasets usually hold them."""
    return gzip.compress((Path(nibabel.__file__).parent / "tests" / "data" / "anatomical.nii").read_bytes())


def seed(platform: Platform, owner: str = "lab", name: str = "scans") -> Seeded:
    with platform.sessions.begin() as session:
        datasets.create(session, owner=owner, name=name, author=owner, description="Brain MR and a CT")
    slices = sorted(VOLUME.glob("*.dcm"))
    first_files: dict[str, bytes | None] = {f"mr/{p.name}": p.read_bytes() for p in slices[:6]}
    first_files["ct/ct.dcm"] = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    first_files["README.md"] = README
    first_files["notes.txt"] = b"acquired 2024"
    first = commit_files(platform, owner, name, "main", first_files, "First six slices and a CT")
    second_files: dict[str, bytes | None] = {f"mr/{p.name}": p.read_bytes() for p in slices[6:]}
    second_files["ct/ct.dcm"] = None
    second_files["volumes/example.nii.gz"] = nifti_bytes()
    second = commit_files(platform, owner, name, "main", second_files, "All twenty slices; CT moved out")
    for commit in (first, second):
        run_pipeline(platform, f"{owner}/{name}", commit)
    mr = pydicom.dcmread(slices[0], stop_before_pixels=True).SeriesInstanceUID
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"), stop_before_pixels=True).SeriesInstanceUID
    return Seeded(first, second, str(mr), str(ct))
