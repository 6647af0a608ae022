"""The PHI verification scan: does an instance still carry what its dataset's policy takes out?

Three scans, none of which changes the instance or quotes what it finds:

* **tags**: the policy (profile, then recipe) is applied to a copy, a dry run, and every
  attribute whose value would change is reported. What ImageHub's own de-identification
  leaves behind is recognised: its keyed replacement UIDs (``2.25.`` and a version-8 UUID),
  and dates it has already shifted where the instance says so (Patient Identity Removed,
  the method naming ImageHub, Longitudinal Temporal Information Modified). Private
  attributes the profile removes are counted together, one finding per instance.
* **free text**: text values the policy keeps (descriptions, comments, names in
  sequences) are read with the text scanner's pattern recognizers, with person-name
  patterns of this module, and against the identifying strings of the instance's own header;
  text the policy cleans (action C) and that its cleaning would change is reported here too.
* **pixels**: instances at risk of burned-in text, by the same rule the redaction step
  uses, are read with OCR; without an engine the scan says so and finds nothing.

A NIfTI file has no patient header, but its free-text header fields and extensions are
scanned like the text of a DICOM header. ``scan_file`` reads a stored file, whatever it
holds, through a seekable file object and scans what is DICOM or NIfTI, in bounded memory
whatever the file's size: a DICOM header is read without its pixel data and with values
over ``TEXT_WINDOW`` bytes left in the file, frames at risk are decoded one at a time, and
long text is scanned in windows of ``TEXT_WINDOW`` that overlap by ``TEXT_OVERLAP``, so that
an identifier across a window's edge is still whole in one of them.
"""

from __future__ import annotations

import codecs
import copy
import gzip
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, BinaryIO, Literal

import nibabel as nib
import pydicom
from numpy.typing import NDArray
from pydicom.charset import convert_encodings
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.utils import iter_pixels
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import BaseTag, Tag
from pydicom.uid import ExplicitVRLittleEndian

from imagehub.core.deid.actions import SHIFT, TEXT_VRS
from imagehub.core.deid.dates import DateShifter
from imagehub.core.deid.elements import vr_of
from imagehub.core.deid.engine import deidentify_dataset, repair_conditionals
from imagehub.core.deid.instance import NIFTI2_HEADER, NIFTI_TEXT_FIELDS, RETAINED_BY
from imagehub.core.deid.level import DatasetLevel
from imagehub.core.deid.ocr.base import OcrEngine
from imagehub.core.deid.phi import header_phi
from imagehub.core.deid.pixels import RegionRule, at_risk

# The redaction step's own frame decoding and OCR preparation: what it would read, the scan reads.
from imagehub.core.deid.pixels import _for_ocr as for_ocr
from imagehub.core.deid.pixels import _stored_frames as stored_frames
from imagehub.core.deid.profile import Profile
from imagehub.core.deid.recipe import Recipe, apply_recipe
from imagehub.core.deid.table import format_tag
from imagehub.core.deid.text import TextScrubber
from imagehub.core.deid.uids import UidMapper
from imagehub.core.errors import ImageHubError
from imagehub.core.imaging import Unreadable
from imagehub.core.imaging.dicom import dicom_metadata, is_instance, read_dataset
from imagehub.core.imaging.sniff import GZIP_MAGIC, nifti_header_size, sniff
from imagehub.core.imaging.sources import remaining_bytes

SCANNER_VERSION = "1"  # bump when a file's scan would change: cached scans are keyed by it

FindingKind = Literal["tag", "text", "pixels"]
PixelStatus = Literal["read", "skipped", "not at risk", "no pixel data"]
FileKind = Literal["dicom", "nifti", "other"]
Frames = Callable[[], Iterable[NDArray[Any]]]  # an instance's frames, decoded one at a time
Texts = Callable[[], Iterable[str]]  # a text value in pieces, read when scanned

TEXT_WINDOW = 256 * 1024  # bytes of text scanned at once; longer header values stay in the file
TEXT_OVERLAP = 1024  # characters each window repeats of the one before: longer than any identifier

_DRY_RUN_SECRET = b"imagehub phi verification: dry run"  # any key: the outputs are only compared
_PIXEL_DATA = 0x7FE00010
# What the de-identification writes about itself; rewriting it is not a change of identifying data.
_METHOD_TAGS = frozenset({0x00120062, 0x00120063, 0x00120064, 0x00280303})
_IMAGEHUB_UID = re.compile(r"2\.25\.(\d{1,39})")
_PRIVATE_LISTED = 8  # private tags named in a finding; the rest are counted
_ACTION_WORDS = {
    "X": "removes",
    "Z": "empties",
    "D": "replaces with a dummy",
    "U": "replaces",
    "C": "cleans",
    SHIFT: "shifts",
    "recipe": "changes (dataset recipe)",
}
_NAME = r"[A-Z][A-Za-z'\-]+"
# Person names as free text writes them when no header value says which names to look for.
# (Carets alone do not make a name: descriptions use them too, "Abdomen^Liver".)
_PERSON_PATTERNS = (
    re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?\s+{_NAME}"),  # Dr. Smith
    re.compile(rf"\b(?i:patient(?:'s)?\s+name|patient|pt|name)\s*[:=]\s*{_NAME}"),  # Patient: Smith
)
# Codes, versions and device names: dotted numbers, URLs and build dates that read as addresses
# and dates. Only the instance's own identifying values and person names count in them.
_CODED = frozenset(
    {
        "CodeValue",
        "LongCodeValue",
        "CodingSchemeDesignator",
        "CodingSchemeVersion",
        "ContextIdentifier",
        "MappingResource",
        "Manufacturer",
        "ManufacturerModelName",
        "SoftwareVersions",
        "DeviceSerialNumber",
        "SecondaryCaptureDeviceManufacturer",
        "SecondaryCaptureDeviceManufacturerModelName",
        "SecondaryCaptureDeviceSoftwareVersions",
        "ImplementationVersionName",
        "ConvolutionKernel",
        "SequenceName",
    }
)
_NAME_ENTITIES = frozenset({"HEADER_PHI", "PERSON"})
_DUMMY_NAME = "ANONYMOUS"
_ENTITY_WORDS = {"HEADER_PHI": "an identifying value of this instance's header"}


@dataclass(frozen=True)
class Finding:
    """Something identifying that should not be there; ``where`` and ``detail`` never hold its value."""

    kind: FindingKind
    where: str  # a keyword path ("RequestAttributesSequence[0].RequestedProcedureID") or a pixel region
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "where": self.where, "detail": self.detail}


@dataclass(frozen=True)
class InstanceScan:
    """The findings of one instance, and what became of its pixels."""

    findings: list[Finding] = field(default_factory=list)
    pixels: PixelStatus = "not at risk"


@dataclass(frozen=True)
class FileScan:
    """One stored file: what it is (``other``: neither DICOM nor NIfTI, so not scanned) and its scan."""

    kind: FileKind
    findings: list[Finding] = field(default_factory=list)
    pixels: PixelStatus = "not at risk"


@dataclass(frozen=True)
class _Element:
    tag: BaseTag
    vr: str
    keyword_path: str
    value: object  # canonical: comparable, never shown


def _canonical(value: object) -> object:
    if value is None or value == "" or value == b"":
        return ""
    if isinstance(value, DicomSequence):
        return ("SQ", len(value))
    if isinstance(value, MultiValue | list | tuple):
        items = tuple(_canonical(item) for item in value)
        return items[0] if len(items) == 1 else (items or "")
    if isinstance(value, bytes):
        return value
    return str(value)


def _elements(ds: Dataset, prefix: str = "", names: str = "") -> Iterator[tuple[str, _Element]]:
    """Every element at every depth by its tag path (the engine's report uses the same), the
    File Meta included; pixel data is left out."""
    meta = getattr(ds, "file_meta", None) if not prefix else None
    for source in (meta, ds):
        if source is None:
            continue
        for tag in list(source.keys()):
            if tag == _PIXEL_DATA:
                continue
            path = prefix + format_tag(tag)
            keyword = keyword_for_tag(tag) or format_tag(tag)
            keyword_path = names + keyword
            vr = vr_of(source, tag)
            value = source[tag].value
            yield path, _Element(tag, vr, keyword_path, _canonical(value))
            if vr == "SQ" and isinstance(value, DicomSequence):
                for index, item in enumerate(value):
                    yield from _elements(item, f"{path}[{index}].", f"{keyword_path}[{index}].")


def _imagehub_uid(value: object) -> bool:
    """A replacement UID as ImageHub's ``UidMapper`` makes them: a version-8, variant-2 UUID."""
    values = value if isinstance(value, tuple) else (value,)
    for uid in values:
        found = _IMAGEHUB_UID.fullmatch(str(uid))
        if found is None:
            return False
        number = int(found.group(1))
        if number >> 128 or (number >> 76) & 0xF != 0x8 or (number >> 62) & 0x3 != 0x2:
            return False
    return bool(values)


def _deidentified_by_imagehub(ds: Dataset) -> tuple[bool, bool]:
    """Whether ImageHub's de-identification marked the instance, and whether it shifted dates."""
    removed = str(ds.get("PatientIdentityRemoved", "")).strip().upper() == "YES"
    method = ds.get("DeidentificationMethod", "")
    first = str(method[0] if isinstance(method, MultiValue | list) and method else method)
    ours = removed and first.startswith("ImageHub")
    return ours, ours and str(ds.get("LongitudinalTemporalInformationModified", "")).upper() == "MODIFIED"


def _dry_run(
    ds: Dataset, profile: Profile, recipe: Recipe, scanner: TextScrubber | None
) -> tuple[Dataset, dict[str, str]]:
    """``ds`` as the policy would leave it, and the action taken at each path."""
    copied = copy.deepcopy(ds)
    # Without a scanner the scan does not judge free text, so cleaning leaves it as it is.
    clean = scanner.clean if scanner is not None else (lambda text, deny: text)
    kept = {tag: copied[tag] for tag in recipe.kept if tag in copied}
    report = deidentify_dataset(
        copied,
        profile=profile,
        uids=UidMapper(_DRY_RUN_SECRET),
        dates=DateShifter(_DRY_RUN_SECRET),
        clean_text=clean,
    )
    for element in kept.values():
        copied[element.tag] = element
    actions = {action.path: action.action for action in report.actions}
    apply_recipe(copied, recipe)
    for item in recipe.actions:
        actions.setdefault(format_tag(item.tag), "recipe")
    repair_conditionals(DatasetLevel(copied))
    return copied, actions


def _tag_findings(
    before: dict[str, _Element],
    after: dict[str, _Element],
    actions: dict[str, str],
    ds: Dataset,
    recipe: Recipe,
) -> list[Finding]:
    ours, dates_shifted = _deidentified_by_imagehub(ds)
    jittered = {format_tag(a.tag) for a in recipe.actions if a.action == "JITTER"}
    findings: list[Finding] = []
    private: list[str] = []
    gone: list[str] = []  # sequences removed or emptied: their items are not reported one by one
    for path, element in before.items():
        if int(element.tag) in _METHOD_TAGS or any(path.startswith(parent) for parent in gone):
            continue
        now = after.get(path)
        if now is not None and now.value == element.value:
            continue
        action = actions.get(path, "X" if now is None else "recipe")
        if element.value == "":
            continue  # an empty value carries nothing, whatever the profile puts in its place
        if element.vr == "UI" and _imagehub_uid(element.value):
            continue  # already replaced by ImageHub's keyed mapping
        already_moved = (action == SHIFT and dates_shifted) or path in jittered
        if ours and now is not None and now.value != "" and element.vr in ("DA", "DT") and already_moved:
            continue  # already moved by ImageHub: moving it again is no finding
        if element.vr == "SQ":
            gone.append(path + "[")
        if element.tag.is_private:
            private.append(path)
            continue
        if action == "C" and now is not None and element.vr in TEXT_VRS:
            detail = f"free text in {_leaf(element)} holds identifying text the profile cleans"
            findings.append(Finding("text", element.keyword_path, detail))
            continue
        words = _ACTION_WORDS.get(action, "changes")
        findings.append(
            Finding("tag", element.keyword_path, f"{_leaf(element)} holds a value the profile {words}")
        )
    if private:
        listed = ", ".join(private[:_PRIVATE_LISTED])
        more = f" (+{len(private) - _PRIVATE_LISTED} more)" if len(private) > _PRIVATE_LISTED else ""
        findings.append(
            Finding(
                "tag",
                "private attributes",
                f"{len(private)} private attribute(s) the profile removes: {listed}{more}",
            )
        )
    return findings


def _leaf(element: _Element) -> str:
    return element.keyword_path.rsplit(".", 1)[-1]


def text_entities(text: str, scanner: TextScrubber, deny: Sequence[str]) -> set[str]:
    """The kinds of identifier in ``text``: the scanner's, PERSON for names written as names."""
    found = {finding.entity for finding in scanner.findings(text, deny)} if text.strip() else set()
    if any(pattern.search(text) for pattern in _PERSON_PATTERNS):
        found.add("PERSON")
    return found


def text_windows(
    pieces: Iterable[str], window: int = TEXT_WINDOW, overlap: int = TEXT_OVERLAP
) -> Iterator[str]:
    """``pieces`` of one text (cut anywhere) as windows of at most ``window`` new characters,
    each led by the last ``overlap`` characters before it: an identifier of up to ``overlap``
    characters lies whole in some window, wherever the cuts fall."""
    tail = ""
    for piece in pieces:
        for start in range(0, len(piece), window):
            text = tail + piece[start : start + window]
            yield text
            tail = text[-overlap:] if overlap else ""


def _windowed_entities(pieces: Iterable[str], scanner: TextScrubber, deny: Sequence[str]) -> set[str]:
    """``text_entities`` of a text of any length, read window by window."""
    found: set[str] = set()
    for window in text_windows(pieces):
        found |= text_entities(window, scanner, deny)
    return found


def _describe_entities(entities: set[str]) -> str:
    return ", ".join(_ENTITY_WORDS.get(entity, f"{entity} pattern") for entity in sorted(entities))


def _retained_on_purpose(profile: Profile, recipe: Recipe) -> set[int]:
    """Attributes that an option or a recipe KEEP line leaves as they are, knowingly."""
    kept = {int(tag) for tag in recipe.kept}
    for option, keywords in RETAINED_BY.items():
        if option in profile.options:
            kept.update(int(Tag(keyword)) for keyword in keywords)
    return kept


def _text_values(value: object) -> list[str]:
    values = value if isinstance(value, tuple) else (value,)
    return [str(item) for item in values if isinstance(item, str) and item.strip()]


def _text_findings(
    before: dict[str, _Element],
    after: dict[str, _Element],
    deny: list[str],
    scanner: TextScrubber,
    retained: set[int],
    large: dict[str, Texts],
) -> list[Finding]:
    """Kept text read for identifiers; ``large`` reads the values left in the file by path, in
    their place in ``before`` a stand-in."""
    findings = []
    for path, element in before.items():
        now = after.get(path)
        if element.vr not in TEXT_VRS or now is None or now.value != element.value:
            continue  # not text, or not kept: the tag scan has reported it
        if int(element.tag) in retained and "[" not in path:
            continue
        entities = _windowed_entities(large[path](), scanner, deny) if path in large else set()
        for text in _text_values(element.value) if path not in large else ():
            entities |= _windowed_entities([text], scanner, deny)
            if element.vr == "PN" and text.strip() != _DUMMY_NAME:
                entities.add("PERSON")  # a name kept as a name
        if _leaf(element).split("[")[0] in _CODED:
            entities &= _NAME_ENTITIES
        if entities:
            where = element.keyword_path
            findings.append(
                Finding(
                    "text", where, f"free text in {_leaf(element)} matches {_describe_entities(entities)}"
                )
            )
    return findings


def _decoded(frames: Frames) -> Iterator[NDArray[Any] | Exception]:
    """Each frame, or at the first that cannot be decoded the error, which ends them; errors of
    the store are raised: they say nothing of the file."""
    try:
        yield from frames()
    except ImageHubError:
        raise
    except Exception as error:  # codecs fail in many ways; the message may name internals only
        yield error


def _pixel_findings(
    ds: Dataset,
    frames: Frames | None,
    ocr: OcrEngine | None,
    rules: Sequence[RegionRule],
    all_instances: bool,
) -> tuple[list[Finding], PixelStatus]:
    if not any(rule.matches(ds) for rule in rules) and not at_risk(ds, all_instances=all_instances):
        return [], "not at risk"
    if frames is None:
        return [], "no pixel data"
    if ocr is None:
        return [], "skipped"
    findings = []
    for index, frame in enumerate(_decoded(frames)):
        if isinstance(frame, Exception):
            detail = f"at risk of burned-in text and cannot be decoded ({type(frame).__name__})"
            findings.append(Finding("pixels", "pixel data", detail))
            break
        boxes = ocr.detect(for_ocr(frame, ds))
        if boxes:
            left, top = min(box.x for box in boxes), min(box.y for box in boxes)
            right = max(box.x + box.width for box in boxes)
            bottom = max(box.y + box.height for box in boxes)
            findings.append(
                Finding(
                    "pixels",
                    f"frame {index}, x {left}-{right}, y {top}-{bottom}",
                    f"burned-in text detected in frame {index} ({len(boxes)} word(s), read by {ocr.name})",
                )
            )
    return findings, "read"


def verify_instance(
    ds: Dataset,
    *,
    profile: Profile,
    ocr: OcrEngine | None,
    text_scanner: TextScrubber | None,
    recipe: Recipe | None = None,
    scan_all_pixels: bool = False,
) -> InstanceScan:
    """Scan ``ds`` (left unchanged) under the policy; see the module's description."""
    return _verify(
        ds,
        _held_frames(ds),
        {},
        profile=profile,
        ocr=ocr,
        text_scanner=text_scanner,
        recipe=recipe,
        scan_all_pixels=scan_all_pixels,
    )


def _verify(
    ds: Dataset,
    frames: Frames | None,
    large: dict[str, Texts],
    *,
    profile: Profile,
    ocr: OcrEngine | None,
    text_scanner: TextScrubber | None,
    recipe: Recipe | None,
    scan_all_pixels: bool,
) -> InstanceScan:
    """``verify_instance`` of a header whose pixels, if any, ``frames`` decodes, and whose
    values too long to hold ``large`` reads by path."""
    recipe = recipe if recipe is not None else Recipe(())
    findings: list[Finding] = []
    try:
        dry, actions = _dry_run(ds, profile, recipe, text_scanner)
        before, after = dict(_elements(ds)), dict(_elements(dry))
    except Exception as error:  # a value pydicom cannot decode: the header cannot be vouched for
        findings.append(Finding("tag", "header", f"the header cannot be checked ({type(error).__name__})"))
    else:
        findings += _tag_findings(before, after, actions, ds, recipe)
        if text_scanner is not None:
            kept_on_purpose = set(header_phi(dry))
            deny = [value for value in header_phi(ds) if value not in kept_on_purpose]
            retained = _retained_on_purpose(profile, recipe)
            findings += _text_findings(before, after, deny, text_scanner, retained, large)
    pixels, status = _pixel_findings(ds, frames, ocr, recipe.regions, scan_all_pixels)
    return InstanceScan(findings + pixels, status)


def scan_instance(
    ds: Dataset,
    *,
    profile: Profile,
    ocr: OcrEngine | None,
    text_scanner: TextScrubber | None,
    recipe: Recipe | None = None,
    scan_all_pixels: bool = False,
) -> list[Finding]:
    """What in ``ds`` the policy would still take out, or that reads as PHI; empty when clean.

    ``ocr`` None skips the pixel scan and ``text_scanner`` None the free-text scan; use
    ``verify_instance`` to learn whether the pixels were read.
    """
    return verify_instance(
        ds,
        profile=profile,
        ocr=ocr,
        text_scanner=text_scanner,
        recipe=recipe,
        scan_all_pixels=scan_all_pixels,
    ).findings


def _nifti_header(stream: BinaryIO) -> Any:
    """The header and extensions of a NIfTI file, gzipped or not, read to where the data starts."""
    start = stream.tell()
    zipped = stream.read(2) == GZIP_MAGIC
    stream.seek(start)
    source: BinaryIO = gzip.GzipFile(fileobj=stream, mode="rb") if zipped else stream  # type: ignore[assignment]
    head = source.read(4)
    source.seek(0 if zipped else start)
    kind: Any = nib.Nifti2Header if nifti_header_size(head) == NIFTI2_HEADER else nib.Nifti1Header
    return kind.from_fileobj(source)


def scan_nifti(stream: BinaryIO, *, text_scanner: TextScrubber | None) -> list[Finding]:
    """The free text of a NIfTI header (``descrip``, ``db_name``, ``aux_file``...) and its
    extensions, scanned with the text patterns: NIfTI has no header values to deny. The image
    data is never read."""
    try:
        header = _nifti_header(stream)
    except Exception as error:  # nibabel raises many types for damaged files
        if isinstance(error, ImageHubError):
            raise
        return [Finding("text", "header", f"the NIfTI header cannot be read ({type(error).__name__})")]
    if text_scanner is None:
        return []
    texts = [
        (name, bytes(header[name]).strip(b"\x00 ").decode("latin-1"))
        for name in NIFTI_TEXT_FIELDS
        if name in header
    ]
    texts += [
        (f"extension {index} (code {extension.get_code()})", extension.get_content().decode("latin-1"))
        for index, extension in enumerate(header.extensions)
        if isinstance(extension.get_content(), bytes)
    ]
    findings = []
    for where, text in texts:
        entities = _windowed_entities([text], text_scanner, [])
        if entities:
            findings.append(
                Finding("text", where, f"free text in {where} matches {_describe_entities(entities)}")
            )
    return findings


def _pieces(stream: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    """``length`` bytes of ``stream`` from ``start``, ``TEXT_WINDOW`` at a time."""
    for offset in range(0, length, TEXT_WINDOW):
        stream.seek(start + offset)
        yield stream.read(min(TEXT_WINDOW, length - offset))


def _decoded_text(stream: BinaryIO, start: int, length: int, encoding: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    for piece in _pieces(stream, start, length):
        yield decoder.decode(piece)
    yield decoder.decode(b"", final=True)


def _vr(raw: RawDataElement) -> str:
    if raw.VR:
        return str(raw.VR)
    try:
        return str(dictionary_VR(raw.tag))
    except KeyError:
        return "UN"


def _set_aside(ds: Dataset, stream: BinaryIO) -> dict[str, Texts]:
    """Values ``read_dataset`` left in the file: a sequence is read, as its items are scanned
    like the rest; text is read in windows when scanned; each keeps a short stand-in of its
    kind in ``ds``, as what a profile does to a value depends on its tag, not its length."""
    codec = convert_encodings(ds.get("SpecificCharacterSet") or "ISO_IR 6")[0]
    large: dict[str, Texts] = {}
    for tag in list(ds.keys()):
        raw = ds.get_item(tag, keep_deferred=True)
        if not isinstance(raw, RawDataElement) or raw.value is not None or not raw.length:
            continue
        vr = _vr(raw)
        if vr == "SQ":
            ds[tag] = raw._replace(value=b"".join(_pieces(stream, raw.value_tell, raw.length)))
            continue
        stand_in = b"deferred" if vr in TEXT_VRS else bytes(8)
        ds[tag] = raw._replace(value=stand_in, length=len(stand_in))
        if vr in TEXT_VRS:
            large[format_tag(tag)] = partial(_decoded_text, stream, raw.value_tell, raw.length, codec)
    return large


def _held_frames(ds: Dataset) -> Frames | None:
    """The frames of an instance read whole."""
    return (lambda: iter(stored_frames(ds))) if _PIXEL_DATA in ds else None


def _streamed_frames(stream: BinaryIO, start: int, ds: Dataset) -> Frames:
    """The frames of the file ``stream`` holds from ``start``, each read when decoded."""
    syntax = ds.file_meta.get("TransferSyntaxUID")

    def frames() -> Iterator[NDArray[Any]]:
        stream.seek(start)
        yield from iter_pixels(stream, transfer_syntax_uid=syntax)

    return frames


def _read_instance(stream: BinaryIO, kind: str) -> tuple[Dataset, Frames | None, dict[str, Texts]] | None:
    """The header, its pixels (None without) and its long text values; None when the file cannot
    be read as an instance, cut off included."""
    start = stream.tell()
    try:
        ds = read_dataset(stream, force=kind == "dicom-raw", defer=TEXT_WINDOW)
        if kind == "dicom-raw" and not is_instance(ds):
            return None
        if isinstance(dicom_metadata(ds, stream), Unreadable):
            return None
        if ds.file_meta.get("TransferSyntaxUID", ExplicitVRLittleEndian).is_deflated:
            stream.seek(start)  # pydicom inflates the data set whole: no value has a place in the file
            whole = pydicom.dcmread(stream, force=kind == "dicom-raw")
            return whole, _held_frames(whole), {}
        has_pixels = remaining_bytes(stream) > 0  # reading stopped at a pixel data element
        ds.buffer = None  # the stream is not part of the header: copies of it leave it alone
        large = _set_aside(ds, stream)
    except ImageHubError:
        raise  # the store failed, not the file
    except Exception:  # pydicom fails on damaged bytes with many types
        return None
    return ds, _streamed_frames(stream, start, ds) if has_pixels else None, large


def scan_file(
    stream: BinaryIO,
    *,
    profile: Profile,
    ocr: OcrEngine | None,
    text_scanner: TextScrubber | None,
    recipe: Recipe | None = None,
    scan_all_pixels: bool = False,
) -> FileScan:
    """Scan a stored file (a seekable file object) by its format, whatever its name says.

    A file that looks like DICOM but cannot be read cannot be vouched for: that is a finding.
    Errors of the OCR engine itself (a crash, a timeout) and of the store are raised, as they
    say nothing of the file.
    """
    kind = sniff(stream)
    if kind == "nifti":
        return FileScan("nifti", scan_nifti(stream, text_scanner=text_scanner))
    if kind not in ("dicom", "dicom-raw"):
        return FileScan("other")
    instance = _read_instance(stream, kind)
    if instance is None:
        return FileScan(
            "dicom", [Finding("tag", "file", "cannot be read as DICOM, so it cannot be checked for PHI")]
        )
    ds, frames, large = instance
    scan = _verify(
        ds,
        frames,
        large,
        profile=profile,
        ocr=ocr,
        text_scanner=text_scanner,
        recipe=recipe,
        scan_all_pixels=scan_all_pixels,
    )
    return FileScan("dicom", scan.findings, scan.pixels)
