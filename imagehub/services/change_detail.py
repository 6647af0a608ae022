"""What a change did inside one imaging file: its DICOM header tag by tag, or its label map
label by label (voxels and Dice), between two versions.

The file diff says "ct/0012.dcm modified"; a reviewer of a change proposal needs to know
whether that was a corrected SeriesDescription or a re-exported pixel matrix, and whether an
annotator's edit grew the tumour label by 2% or replaced it. Both sides are read from object
storage at the two commits; files above a size limit are refused rather than read into memory.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, BinaryIO

import numpy as np
from pydicom.dataset import Dataset

from imagehub.core.errors import InvalidInput, NotFound
from imagehub.core.imaging.dicom import read_dataset
from imagehub.core.imaging.header_diff import TagChange, TagChangeKind, diff_headers
from imagehub.core.imaging.labels import (
    LabelError,
    LabelVolume,
    align,
    dice,
    is_label_dtype,
    label_counts,
    load_label_volume,
)
from imagehub.core.imaging.nifti import NiftiError, open_image
from imagehub.core.imaging.sniff import sniff
from imagehub.core.storage import ObjectStore
from imagehub.core.vcs import BlobId, BlobStore, Repository, blob_key
from imagehub.core.vcs.types import ChangeKind, Commit, Entry

MAX_HEADER_BYTES = 256 * 1024 * 1024  # a DICOM instance is read whole (pixel data is digested)
MAX_LABEL_BYTES = 256 * 1024 * 1024  # a label map is decoded whole, on both sides
MAX_LABEL_VOXELS = 256 * 1024 * 1024
DIFF_SCAN_LIMIT = 20_000  # changed paths looked at when listing label maps
HEADER_PROBES = 200  # NIfTI headers read to decide whether an unnamed file is a label map
_LABEL_NAME = re.compile(r"(seg|label|mask|annot)", re.IGNORECASE)
_NIFTI_SUFFIXES = (".nii", ".nii.gz")
_DICOM_SUFFIXES = (".dcm", ".dicom")
# Names that are certainly not DICOM, whatever media type an uploader gave them.
_OTHER_SUFFIXES = (
    ".txt",
    ".md",
    ".json",
    ".csv",
    ".tsv",
    ".yaml",
    ".yml",
    ".png",
    ".jpg",
    ".jpeg",
    ".pdf",
    ".zip",
    ".gz",
    ".npy",
    ".npz",
    ".h5",
    ".html",
    ".xml",
)


@dataclass(frozen=True)
class HeaderDiff:
    path: str
    left: str  # commit ids
    right: str
    change: str  # added | removed | modified | unchanged (the file as a whole)
    tags: list[TagChange]
    meta_changes: int  # how many of ``tags`` are in the file meta group

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "left": self.left,
            "right": self.right,
            "change": self.change,
            "tags": [tag.as_dict() for tag in self.tags],
            "meta_changes": self.meta_changes,
        }


@dataclass(frozen=True)
class LabelRow:
    label: int
    name: str
    voxels_before: int
    voxels_after: int
    dice: float

    @property
    def delta(self) -> int:
        return self.voxels_after - self.voxels_before


@dataclass(frozen=True)
class LabelChange:
    path: str
    left: str
    right: str
    change: str  # added | removed | modified | unchanged
    format: str  # nifti | seg
    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    voxels_before: dict[int, int]
    voxels_after: dict[int, int]
    dice: dict[int, float]
    names: dict[int, str] = field(default_factory=dict)

    @property
    def voxel_volume_mm3(self) -> float:
        """What one voxel holds, so counts can be read as millilitres (``voxels * this / 1000``)."""
        return float(np.prod(self.spacing)) if self.spacing else 0.0

    @property
    def rows(self) -> list[LabelRow]:
        return [
            LabelRow(
                label,
                self.names.get(label, ""),
                self.voxels_before.get(label, 0),
                self.voxels_after.get(label, 0),
                self.dice[label],
            )
            for label in sorted(self.dice)
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "left": self.left,
            "right": self.right,
            "change": self.change,
            "format": self.format,
            "shape": list(self.shape),
            "spacing": list(self.spacing),
            "voxel_volume_mm3": self.voxel_volume_mm3,
            "labels": [
                {
                    "label": row.label,
                    "name": row.name,
                    "voxels_before": row.voxels_before,
                    "voxels_after": row.voxels_after,
                    "delta": row.delta,
                    "dice": row.dice,
                }
                for row in self.rows
            ],
        }


@dataclass(frozen=True)
class LabelPath:
    """A changed file that looks like a label map, and why it was taken for one."""

    path: str
    change: str  # added | modified
    format: str  # nifti | seg
    reason: str  # name | header


def detail_kinds(path: str, media_type: str = "") -> tuple[str, ...]:
    """Which details a changed file offers, from its name and media type alone (cheap enough for
    every row of a file list): "header" for DICOM, "labels" for label maps named like one."""
    lower = path.lower()
    named = bool(_LABEL_NAME.search(lower.rsplit("/", 1)[-1]))
    if lower.endswith(_NIFTI_SUFFIXES):
        return ("labels",) if named else ()
    dicom = lower.endswith(_DICOM_SUFFIXES) or (
        media_type == "application/dicom" and not lower.endswith(_OTHER_SUFFIXES)
    )
    if not dicom:
        return ()
    return ("header", "labels") if named else ("header",)


# -- header diff -------------------------------------------------------------------------------------
def header_diff(store: ObjectStore, repo: Repository, left: str, right: str, path: str) -> HeaderDiff:
    """Tag changes of one DICOM file from ``left`` to ``right`` (commit ids or refs); a file on one
    side only shows every tag as added or removed."""
    was, now, before, after = _sides(repo, left, right, path)
    datasets = [_dataset(store, entry) if entry else Dataset() for entry in (was, now)]
    tags = [] if _same(was, now) else diff_headers(datasets[0], datasets[1])
    return HeaderDiff(path, before.id, after.id, _change(was, now), tags, sum(1 for tag in tags if tag.meta))


def _dataset(store: ObjectStore, entry: Entry) -> Dataset:
    if entry.size > MAX_HEADER_BYTES:
        raise InvalidInput(
            f"{entry.path} is {entry.size} bytes; header diffs read files up to {MAX_HEADER_BYTES} bytes"
        )
    with _open(store, entry) as stream:
        kind = sniff(stream)
        if kind not in ("dicom", "dicom-raw"):
            raise InvalidInput(f"{entry.path} is not a DICOM file: no header to compare")
        try:
            return read_dataset(stream, force=kind == "dicom-raw", pixels=True)
        except Exception as error:  # parsers fail on damaged bytes with every kind of exception
            raise InvalidInput(f"{entry.path} is not a readable DICOM file: {error}") from error


# -- label change ----------------------------------------------------------------------------------
def label_change(store: ObjectStore, repo: Repository, left: str, right: str, path: str) -> LabelChange:
    """Voxels per label on both sides and each label's Dice; a map on one side only compares
    with an empty map (every Dice 0)."""
    was, now, before, after = _sides(repo, left, right, path)
    volumes = [_label_volume(store, entry) if entry else None for entry in (was, now)]
    old, new = volumes
    if old is not None and new is not None:
        old, new = align(old, new)
    shown = new or old
    assert shown is not None
    counts_before = label_counts(old.labels) if old else {}
    counts_after = label_counts(new.labels) if new else {}
    if old is not None and new is not None:
        scores = dice(old.labels, new.labels)
    else:
        scores = {label: 0.0 for label in {**counts_before, **counts_after}}
    names = {**(old.names if old else {}), **(new.names if new else {})}
    return LabelChange(
        path,
        before.id,
        after.id,
        _change(was, now),
        shown.format,
        shown.shape,
        shown.spacing,
        counts_before,
        counts_after,
        scores,
        names,
    )


def _label_volume(store: ObjectStore, entry: Entry) -> LabelVolume:
    if entry.size > MAX_LABEL_BYTES:
        raise InvalidInput(
            f"{entry.path} is {entry.size} bytes; label changes read files up to {MAX_LABEL_BYTES} bytes"
        )
    data = b"".join(BlobStore(store).open(BlobId(entry.blob), 0, entry.size))
    _check_voxels(data, entry.path)
    try:
        return load_label_volume(data)
    except LabelError as error:
        raise LabelError(f"{entry.path}: {error}") from None


def _check_voxels(data: bytes, path: str) -> None:
    """Refuse a NIfTI whose decoded voxels would not fit, before decoding them."""
    stream = io.BytesIO(data)
    if sniff(stream) != "nifti":
        return
    try:
        with open_image(stream) as image:
            voxels = int(np.prod(image.shape))
    except (NiftiError, ValueError, OSError, EOFError):
        return  # loading says what is wrong with it
    if voxels > MAX_LABEL_VOXELS:
        raise InvalidInput(f"{path} has {voxels} voxels; label changes compare up to {MAX_LABEL_VOXELS}")


def changed_label_paths(
    store: ObjectStore, repo: Repository, left: str, right: str, *, limit: int = 100
) -> list[LabelPath]:
    """Added or modified files between two versions that look like label maps: NIfTI or DICOM
    named like one (seg, label, mask, annotation), or NIfTI whose header says labels (a label
    intent, or an 8-bit integer type). Bounded: at most ``DIFF_SCAN_LIMIT`` changed paths and
    ``HEADER_PROBES`` headers are looked at."""
    if not 0 < limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000")
    before, after = repo.resolve(left), repo.resolve(right)
    found: list[LabelPath] = []
    probes = 0
    for change in islice(repo.changes(before, after), DIFF_SCAN_LIMIT):
        entry = change.right
        if entry is None:
            continue
        lower = change.path.lower()
        named = bool(_LABEL_NAME.search(lower.rsplit("/", 1)[-1]))
        if lower.endswith(_NIFTI_SUFFIXES):
            if named:
                found.append(LabelPath(change.path, change.kind.value, "nifti", "name"))
            elif probes < HEADER_PROBES:
                probes += 1
                if _nifti_header_says_labels(store, entry):
                    found.append(LabelPath(change.path, change.kind.value, "nifti", "header"))
        elif named and lower.endswith(_DICOM_SUFFIXES):
            found.append(LabelPath(change.path, change.kind.value, "seg", "name"))
        if len(found) >= limit:
            break
    return found


def _nifti_header_says_labels(store: ObjectStore, entry: Entry) -> bool:
    try:
        with _open(store, entry) as stream, open_image(stream) as image:
            intent = int(image.header.get("intent_code", 0))
            return is_label_dtype(image.header.get_data_dtype(), intent)
    except Exception:  # an unreadable header is simply not a label map
        return False


# -- shared ----------------------------------------------------------------------------------------
def _sides(
    repo: Repository, left: str, right: str, path: str
) -> tuple[Entry | None, Entry | None, Commit, Commit]:
    if not path or len(path) > 1024:
        raise InvalidInput("name the file with path (at most 1024 characters)")
    before, after = repo.resolve(left), repo.resolve(right)
    was, now = repo.tree.get(before.tree, path), repo.tree.get(after.tree, path)
    if was is None and now is None:
        raise NotFound(f"no path {path!r} at {before.id[:12]} or {after.id[:12]}")
    return was, now, before, after


def _same(was: Entry | None, now: Entry | None) -> bool:
    return was is not None and now is not None and was.blob == now.blob


def _change(was: Entry | None, now: Entry | None) -> str:
    if was is None:
        return ChangeKind.ADDED.value
    if now is None:
        return ChangeKind.REMOVED.value
    return "unchanged" if was.blob == now.blob else ChangeKind.MODIFIED.value


def _open(store: ObjectStore, entry: Entry) -> BinaryIO:
    return store.open(blob_key(BlobId(entry.blob)), entry.size)


__all__ = [
    "HeaderDiff",
    "LabelChange",
    "LabelPath",
    "LabelRow",
    "TagChange",
    "TagChangeKind",
    "changed_label_paths",
    "detail_kinds",
    "header_diff",
    "label_change",
]
