"""One file through the whole de-identification: tags, free text, recipe, pixels, then a leak check.

The last step is the safety net: every identifying string the input header carried is
searched for in the output bytes, and an instance in which any survives is withheld,
whatever the rules above it said. A leak of one patient name is a failure.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import nibabel as nib
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from imagehub.core.deid import (
    DateShifter,
    Option,
    Profile,
    TagReport,
    UidMapper,
    deidentify_dataset,
    header_phi,
)
from imagehub.core.deid.encoded import EncodedFile, Unsupported
from imagehub.core.deid.engine import deidentify_encoded, repair_conditionals
from imagehub.core.deid.level import DatasetLevel
from imagehub.core.deid.ocr.base import OcrEngine
from imagehub.core.deid.pixels import PixelReport, RegionRule, at_risk, not_at_risk, redact_pixels
from imagehub.core.deid.recipe import Recipe, apply_recipe
from imagehub.core.deid.text import TextScrubber
from imagehub.core.imaging import Unreadable, inspect
from imagehub.core.imaging.sniff import nifti_header_size, sniff

# Identifying attributes an option keeps on purpose; their values are not leaks under it.
RETAINED_BY = {
    Option.RETAIN_DEVICE_IDENTITY: ("StationName", "DeviceSerialNumber", "DeviceUID"),
    Option.RETAIN_INSTITUTION_IDENTITY: (
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
    ),
}
PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010), little endian
MIN_LEAK_LENGTH = 4  # shorter strings ("M", "CT", "DR") match innocent bytes everywhere
NIFTI2_HEADER = 540
# Free-text fields of NIfTI-1 and NIfTI-2 headers (each version has only some of them).
NIFTI_TEXT_FIELDS = ("descrip", "aux_file", "db_name", "data_type", "intent_name")


@dataclass(frozen=True)
class Policy:
    """What a dataset (or a command line) asks of de-identification."""

    profile_name: str
    profile: Profile
    recipe: Recipe
    ocr: OcrEngine | None
    region_rules: Sequence[RegionRule] = ()
    scan_all_pixels: bool = False


@dataclass
class Tools:
    """Keyed helpers and engines, built once per worker."""

    uids: UidMapper
    dates: DateShifter
    scrubber: TextScrubber


@dataclass
class InstanceResult:
    output: bytes | None
    kind: str  # dicom | nifti
    error: str = ""
    needs_review: bool = False
    report: dict[str, Any] = field(default_factory=dict)
    identity: dict[str, str] = field(default_factory=dict)  # original UIDs: for a re-identification map only


def _header_bytes(output: bytes) -> bytes:
    """Everything but the pixel data's value: the part of a file that text can hide in, and
    where searching for a name does not match image bytes by chance. Elements after the
    pixels count too; for an output the encoded reader does not take (big endian...), the
    part before the last Pixel Data tag."""
    try:
        return EncodedFile(output).without_pixels()
    except (Unsupported, struct.error):
        pixels = output.rfind(PIXEL_DATA_TAG)
        return output[:pixels] if pixels > 0 else output


# Value representations that hold text; any other value but the pixels' is read as Latin-1.
_TEXT_VRS = frozenset(
    ("AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UR", "UT")
)
_PIXEL_TAGS = frozenset((0x7FE00008, 0x7FE00009, 0x7FE00010))  # float, double and plain pixel data


def _header_texts(output: bytes) -> list[str]:
    """Every text value the output stores, nested ones too, decoded with its character set
    (a deflated file is inflated first): what the leak check searches. Searching inside
    values, not the raw bytes, means the bytes of a neighbouring tag or length never join
    a name into a longer word. A file pydicom cannot read back is searched byte by byte."""
    try:
        ds = pydicom.dcmread(io.BytesIO(output), force=True)
        elements = [*ds.iterall(), *(ds.file_meta.iterall() if ds.file_meta is not None else ())]
    except Exception:
        return [_header_bytes(output).decode("latin-1")]
    texts: list[str] = []
    for element in elements:
        with contextlib.suppress(Exception):  # a malformed value: its raw bytes instead
            value = element.value
            if element.VR in _TEXT_VRS and value not in (None, ""):
                texts.append("\\".join(map(str, value)) if isinstance(value, MultiValue) else str(value))
            elif isinstance(value, bytes) and element.tag not in _PIXEL_TAGS:  # text can hide in binary too
                texts.append(value.decode("latin-1"))
    return texts


def _leaks(texts: Sequence[str], phi: Sequence[str]) -> int:
    """How many of the input's identifying strings still occur, as whole words, in the
    output's text values.

    Whole words, because a removed InstitutionName "TOSHIBA" is not leaked by the
    Manufacturer "TOSHIBA_MEC" that a profile keeps.
    """
    found = 0
    for value in phi:
        variants = {v.strip() for v in (value, value.replace("^", " "), *value.split("^"))}
        patterns = [
            re.compile(r"(?<!\w)" + re.escape(v) + r"(?!\w)", re.IGNORECASE)
            for v in variants
            if len(v) >= MIN_LEAK_LENGTH
        ]
        if any(pattern.search(text) for pattern in patterns for text in texts):
            found += 1
    return found


def _retained(ds: pydicom.Dataset, profile: Profile, kept: dict[Any, Any]) -> set[str]:
    """Values the profile's options or the recipe's KEEP lines leave in place on purpose."""
    retained = {str(element.value) for element in kept.values()}
    for option, keywords in RETAINED_BY.items():
        if option in profile.options:
            retained.update(str(ds[k].value) for k in keywords if k in ds)
    return retained


class _Unwritable(Exception):
    """pydicom refused to write the result; the message names only the error's type."""


@dataclass
class _Tagged:
    """An instance after the tag path, the recipe and the pixel step."""

    ds: pydicom.Dataset  # the output's header
    output: bytes
    tags: TagReport
    recipe: list[tuple[str, str]]
    pixels: PixelReport | None
    kept: dict[Any, Any]  # elements a recipe KEEP line restored


def _on_bytes(
    data: bytes, ds: pydicom.Dataset, phi: list[str], policy: Policy, tools: Tools
) -> _Tagged | None:
    """The tag path on the encoded bytes (several times faster), when nothing after it needs
    pydicom's model: no recipe, no region rules, and pixels not at risk of burned-in text."""
    cleans_pixels = Option.CLEAN_PIXEL_DATA in policy.profile.options
    if (
        policy.recipe.actions
        or policy.region_rules
        or (cleans_pixels and at_risk(ds, all_instances=policy.scan_all_pixels))
    ):
        return None
    try:
        output, tags = deidentify_encoded(
            data,
            profile=policy.profile,
            uids=tools.uids,
            dates=tools.dates,
            clean_text=tools.scrubber.clean,
            deny=phi,
        )
    except Exception:  # Unsupported, or a value it cannot decode: the pydicom path decides
        return None
    header = pydicom.dcmread(io.BytesIO(output), stop_before_pixels=True)
    pixels = not_at_risk() if cleans_pixels else _unread_pixels(ds, policy)
    return _Tagged(header, output, tags, [], pixels, {})


def _unread_pixels(ds: pydicom.Dataset, policy: Policy) -> PixelReport | None:
    """Under a profile that does not clean pixel data (``basic``), an instance whose pixels
    may carry burned-in text is not read, but it is held for a person to look at."""
    if not at_risk(ds, all_instances=policy.scan_all_pixels):
        return None
    reason = "its pixels may carry burned-in text, which this profile does not clean: review it"
    return PixelReport(False, [], None, True, reason)


def _on_dataset(ds: pydicom.Dataset, policy: Policy, tools: Tools) -> _Tagged:
    kept = {tag: ds[tag] for tag in policy.recipe.kept if tag in ds}
    tags = deidentify_dataset(
        ds, profile=policy.profile, uids=tools.uids, dates=tools.dates, clean_text=tools.scrubber.clean
    )
    for element in kept.values():
        ds[element.tag] = element
    recipe_applied = apply_recipe(ds, policy.recipe)
    repair_conditionals(DatasetLevel(ds))  # the recipe may have removed a condition too
    pixels: PixelReport | None
    if Option.CLEAN_PIXEL_DATA in policy.profile.options:
        pixels = redact_pixels(
            ds, engine=policy.ocr, rules=policy.region_rules, all_instances=policy.scan_all_pixels
        )
    else:
        pixels = _unread_pixels(ds, policy)
    for tag in [element.tag for element in ds if element.tag.group == 0]:
        del ds[tag]  # command elements belong to network messages, and no file may carry them
    _complete_file_meta(ds)
    out = io.BytesIO()
    try:
        ds.save_as(out, enforce_file_format=True)
    except (ValueError, TypeError, AttributeError, OSError) as exc:  # the message may quote a value
        raise _Unwritable(type(exc).__name__) from exc
    return _Tagged(ds, out.getvalue(), tags, recipe_applied, pixels, kept)


_ENCODINGS = {  # (implicit VR, little endian) of a file read without File Meta
    (True, True): ImplicitVRLittleEndian,
    (False, True): ExplicitVRLittleEndian,
    (False, False): ExplicitVRBigEndian,
}


def _complete_file_meta(ds: pydicom.Dataset) -> None:
    """A file read without its File Meta (a bare dataset, as some exporters write) is
    written out as a Part-10 file: its transfer syntax is the encoding it was read in, and
    its storage UIDs are the (de-identified) instance's own."""
    meta = ds.file_meta
    if "TransferSyntaxUID" not in meta:
        encoding = _ENCODINGS.get(tuple(ds.original_encoding))  # type: ignore[arg-type]
        if encoding is None:
            raise _Unwritable("no transfer syntax: the file says neither its own nor how it was encoded")
        meta.TransferSyntaxUID = encoding
    for stored, own in (
        ("MediaStorageSOPClassUID", "SOPClassUID"),
        ("MediaStorageSOPInstanceUID", "SOPInstanceUID"),
    ):
        if stored not in meta:
            if own not in ds:
                raise _Unwritable(f"no {own}: a file without File Meta needs one to be written")
            setattr(meta, stored, ds[own].value)


def _dicom(data: bytes, policy: Policy, tools: Tools, *, force: bool) -> InstanceResult:
    checked = inspect(io.BytesIO(data), "instance.dcm")  # truncated or damaged files stop here
    if isinstance(checked, Unreadable):
        return InstanceResult(None, "dicom", checked.reason)
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=force)
    except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
        return InstanceResult(None, "dicom", f"unreadable DICOM: {type(exc).__name__}")
    phi = header_phi(ds)
    identity = {
        "sop_instance_uid": str(ds.get("SOPInstanceUID", "")),
        "series_instance_uid": str(ds.get("SeriesInstanceUID", "")),
        "study_instance_uid": str(ds.get("StudyInstanceUID", "")),
    }
    try:
        done = _on_bytes(data, ds, phi, policy, tools) or _on_dataset(ds, policy, tools)
    except _Unwritable as exc:
        return InstanceResult(None, "dicom", f"cannot write the de-identified instance: {exc}")
    out_ds = done.ds
    retained = _retained(out_ds, policy.profile, done.kept)
    leaks = _leaks(_header_texts(done.output), [p for p in phi if p not in retained])
    report = {
        "modality": str(out_ds.get("Modality", "")),
        "sop_class_uid": str(out_ds.get("SOPClassUID", "")),
        "uids": {
            "study": str(out_ds.get("StudyInstanceUID", "")),
            "series": str(out_ds.get("SeriesInstanceUID", "")),
            "sop": str(out_ds.get("SOPInstanceUID", "")),
        },
        "actions": [vars(a) for a in done.tags.actions],
        "private_removed": done.tags.private_removed,
        "recipe": [{"field": f, "action": a} for f, a in done.recipe],
        "pixels": vars(done.pixels) if done.pixels is not None else None,
    }
    if leaks:
        return InstanceResult(
            None,
            "dicom",
            f"withheld: {leaks} identifying header value(s) survived de-identification",
            True,
            report,
        )
    needs_review = bool(done.pixels and done.pixels.needs_review)
    return InstanceResult(done.output, "dicom", "", needs_review, report, identity)


def _nifti(data: bytes) -> InstanceResult:
    """NIfTI carries no patient header, but free-text fields and extensions can hold anything."""
    compressed = data[:2] == b"\x1f\x8b"
    try:
        raw = gzip.decompress(data) if compressed else data
        kind = nib.Nifti2Image if nifti_header_size(raw[:4]) == NIFTI2_HEADER else nib.Nifti1Image
        image = kind.from_bytes(raw)
    except Exception as exc:  # nibabel raises many types for damaged files
        return InstanceResult(None, "nifti", f"unreadable NIfTI: {type(exc).__name__}")
    header = image.header
    present = [name for name in NIFTI_TEXT_FIELDS if name in header]
    cleared = [name for name in present if bytes(header[name]).strip(b"\x00 ")]
    for name in present:
        header[name] = b""
    extensions = len(header.extensions)
    header.extensions.clear()
    output = image.to_bytes()
    report = {"cleared_fields": cleared, "extensions_removed": extensions}
    return InstanceResult(gzip.compress(output, 6) if compressed else output, "nifti", "", False, report)


def deidentify_file(data: bytes, policy: Policy, tools: Tools) -> InstanceResult:
    """De-identify one file's bytes; anything not DICOM or NIfTI is refused, never copied.

    Whatever goes wrong with one file withholds that file and names the error's type
    (never its message, which may quote a header value); the run goes on.
    """
    kind = sniff(io.BytesIO(data))
    try:
        if kind in ("dicom", "dicom-raw"):
            return _dicom(data, policy, tools, force=kind == "dicom-raw")
        if kind == "nifti":
            return _nifti(data)
    except Exception as exc:  # one bad file must not stop a run of thousands
        return InstanceResult(
            None,
            "dicom" if kind.startswith("dicom") else kind,
            f"could not de-identify: {type(exc).__name__}",
        )
    return InstanceResult(None, "other", "not a DICOM or NIfTI file: withheld, it cannot be checked for PHI")
