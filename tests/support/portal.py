"""A dataset with real images, two versions and the pipeline run on both: what portal tests look at."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import nibabel
import numpy as np
import pydicom
from dagster import instance_for_test, materialize
from pydicom.data import get_testdata_file

from imagehub.core.imaging.synthetic import ct_instance_bytes
from imagehub.core.vcs import Commit
from imagehub.services import datasets
from imagehub.services.pipeline import partition_key
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from imagehub_assets.assets import ASSETS
from imagehub_assets.partitions import dataset_commits
from tests.assets.conftest import resources_for
from tests.support.accounts import PASSWORD, make_user
from tests.support.datasets import commit_files
from tests.support.live_server import live_server
from tests.support.platforms import migrated_platform

VOLUME = Path(__file__).parents[1] / "data" / "volume"
README = b"# Brain MR study\n\nTwenty slices of a **real** MR series.\n\n<script>alert(1)</script>\n"


@dataclass(frozen=True)
class Seeded:
    first: Commit  # README, six MR slices, one CT instance, a text file
    second: Commit  # all twenty MR slices, the CT removed, a NIfTI volume and its label map added
    mr_series: str
    ct_series: str


def run_pipeline(platform: Platform, dataset: str, commit: Commit) -> None:
    key = partition_key(dataset, commit.id)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(dataset_commits.name, [key])
        result = materialize(ASSETS, partition_key=key, instance=instance, resources=resources_for(platform))
        assert result.success


ANATOMICAL = Path(nibabel.__file__).parent / "tests" / "data" / "anatomical.nii"


def nifti_bytes() -> bytes:
    """A small real 3D NIfTI volume from nibabel's test data, gzipped as datasets usually hold them."""
    return gzip.compress(ANATOMICAL.read_bytes())


def label_map_bytes() -> bytes:
    """A label map over that volume (0 background, 1 and 2 by intensity), as a segmentation would be."""
    image = nibabel.load(ANATOMICAL)
    data = np.asarray(image.dataobj, dtype=np.float32)
    labels = (data > np.percentile(data, 60)).astype(np.uint8) + (data > np.percentile(data, 85))
    out = nibabel.Nifti1Image(labels.astype(np.uint8), image.affine)
    return gzip.compress(out.to_bytes())


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
    second_files["volumes/example_labels.nii.gz"] = label_map_bytes()
    second = commit_files(platform, owner, name, "main", second_files, "All twenty slices; CT moved out")
    for commit in (first, second):
        run_pipeline(platform, f"{owner}/{name}", commit)
    mr = pydicom.dcmread(slices[0], stop_before_pixels=True).SeriesInstanceUID
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"), stop_before_pixels=True).SeriesInstanceUID
    return Seeded(first, second, str(mr), str(ct))


@dataclass(frozen=True)
class SeededCt:
    """A 512x512 CT series, then the same series with its two middle slices edited (same UIDs):
    whichever way a viewer orders the stack, display index ``slices // 2`` shows an edit."""

    first: Commit
    second: Commit
    series: str
    slices: int


def seed_ct(platform: Platform, slices: int = 24, owner: str = "lab", name: str = "ct") -> SeededCt:
    with platform.sessions.begin() as session:
        datasets.create(session, owner=owner, name=name, author=owner, description="Synthetic chest CT")
    files: dict[str, bytes | None] = {
        f"ct/{i:04d}.dcm": ct_instance_bytes(slice_index=i) for i in range(slices)
    }
    first = commit_files(platform, owner, name, "main", files, "CT series")
    changed: dict[str, bytes | None] = {}
    for index in (slices // 2 - 1, slices // 2):
        edited = pydicom.dcmread(io.BytesIO(files[f"ct/{index:04d}.dcm"] or b""))
        pixels = edited.pixel_array.copy()
        pixels[100:200, 100:200] = pixels.max()  # a bright square: a visible, reviewable change
        edited.PixelData = pixels.tobytes()
        out = io.BytesIO()
        edited.save_as(out)
        changed[f"ct/{index:04d}.dcm"] = out.getvalue()
    second = commit_files(platform, owner, name, "main", changed, "Mark the middle slices")
    for commit in (first, second):
        run_pipeline(platform, f"{owner}/{name}", commit)
    return SeededCt(first, second, str(edited.SeriesInstanceUID), slices)


@dataclass(frozen=True)
class Portal:
    base: str
    platform: Platform
    seeded: Seeded
    ct: SeededCt

    @contextmanager
    def browser(self, username: str = "lab") -> Iterator[httpx.Client]:
        """An HTTP client signed in through the login form, holding the session cookie."""
        with httpx.Client(base_url=self.base) as client:
            response = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"})
            assert response.status_code == 303, response.text
            yield client


@contextmanager
def running_portal(data_dir: Path) -> Iterator[Portal]:
    """Users ``lab`` (owner of everything) and ``outsider``, both datasets, the app on loopback."""
    with migrated_platform(data_dir, dagster_url="http://dagster.example:3000") as platform:
        for user in ("lab", "outsider"):
            make_user(platform, user)
        seeded, ct = seed(platform), seed_ct(platform)
        with live_server(create_app(platform)) as base:
            yield Portal(base, platform, seeded, ct)
