"""What a DICOM object that is not (only) an image says, for people to read: a structured
report's content tree, an RT structure set's regions, an RT plan's beams, an RT dose's grid.

Their headers are nested sequences that a flat table shows as Python reprs; here they
become labelled lines and nested items. Reading is tolerant: a malformed item shows what
could be read of it, and a tree is cut at ``MAX_ITEMS`` so that a huge report stays a page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from imagehub.core.errors import InvalidInput
from imagehub.core.imaging import header
from imagehub.core.imaging.dicom import read_dataset
from imagehub.core.imaging.metadata import describe
from imagehub.core.imaging.sniff import sniff
from imagehub.core.imaging.sources import Source, open_source

MAX_ITEMS = 500  # content items shown of one document; the rest are counted
MAX_DEPTH = 12  # SR trees nest, a malicious one without end


@dataclass(frozen=True)
class Item:
    """One line of a document: ``name: value``, with the items nested under it."""

    name: str
    value: str = ""
    children: tuple[Item, ...] = ()


@dataclass(frozen=True)
class Document:
    """``kind`` in words ("structured report"), its key facts, and its items (the report's
    content tree, the regions or beams); ``omitted`` counts items cut off at ``MAX_ITEMS``."""

    kind: str
    facts: tuple[tuple[str, str], ...]
    items: tuple[Item, ...] = ()
    omitted: int = 0


def read_document(source: Source, name: str) -> Document | None:
    """The document in a DICOM file; None for a file that is none of these (an ordinary image,
    not DICOM at all). Raises ``InvalidInput`` when the file cannot be parsed."""
    with open_source(source) as stream:
        kind = sniff(stream)
        if kind not in ("dicom", "dicom-raw"):
            return None
        try:
            ds = read_dataset(stream, force=kind == "dicom-raw")
            return _document(ds)
        except Exception as error:
            raise InvalidInput(f"cannot read {name}: {describe(error)}") from error


def _document(ds: Dataset) -> Document | None:
    modality = header.text(ds, "Modality") or ""
    if modality == "SR" or (modality == "" and "ContentSequence" in ds):
        return _report(ds)
    if modality == "RTSTRUCT" or "StructureSetROISequence" in ds:
        return _structures(ds)
    if modality == "RTPLAN":
        return _plan(ds)
    if modality == "RTDOSE":
        return _dose(ds)
    return None


class _Budget:
    """Items left to show of one document."""

    def __init__(self) -> None:
        self.left = MAX_ITEMS
        self.omitted = 0

    def take(self) -> bool:
        if self.left <= 0:
            self.omitted += 1
            return False
        self.left -= 1
        return True


def _facts(pairs: Iterable[tuple[str, Any]]) -> tuple[tuple[str, str], ...]:
    return tuple((label, str(value)) for label, value in pairs if value not in (None, ""))


def _sequence(ds: Dataset, keyword: str) -> list[Dataset]:
    """The items of a sequence; a malformed one reads as none."""
    return _values(header.raw_value(ds, keyword))


def _values(value: Any) -> list[Any]:
    """A multi-valued element's values, a single value as one, nothing as none."""
    if value is None:
        return []
    return list(value) if isinstance(value, Sequence | MultiValue | list | tuple) else [value]


def _meaning(ds: Dataset, keyword: str) -> str | None:
    """The code meaning of a code sequence's first item (its value when it has no meaning)."""
    items = _sequence(ds, keyword)
    if not items:
        return None
    return header.text(items[0], "CodeMeaning") or header.text(items[0], "CodeValue")


# -- Structured reports (PS3.3 C.17.3) -------------------------------------------------------------
def _report(ds: Dataset) -> Document:
    budget = _Budget()
    facts = _facts(
        [
            ("Title", _meaning(ds, "ConceptNameCodeSequence")),
            ("Completion", header.text(ds, "CompletionFlag")),
            ("Verification", header.text(ds, "VerificationFlag")),
            ("Content date", header.text(ds, "ContentDate")),
        ]
    )
    items = _content(_sequence(ds, "ContentSequence"), budget, 0)
    return Document("structured report", facts, items, budget.omitted)


def _content(items: list[Dataset], budget: _Budget, depth: int) -> tuple[Item, ...]:
    found = []
    for item in items:
        if not budget.take():
            continue
        children = _sequence(item, "ContentSequence")
        if depth >= MAX_DEPTH:
            budget.omitted += len(children)
            children = []
        name = _meaning(item, "ConceptNameCodeSequence") or "(unnamed)"
        found.append(Item(name, _content_value(item), _content(children, budget, depth + 1)))
    return tuple(found)


def _content_value(item: Dataset) -> str:
    kind = header.text(item, "ValueType")
    if kind is None:
        reference = _values(header.raw_value(item, "ReferencedContentItemIdentifier"))
        return f"see item {'.'.join(map(str, reference))}" if reference else ""
    simple = {
        "TEXT": "TextValue",
        "DATE": "Date",
        "TIME": "Time",
        "DATETIME": "DateTime",
        "PNAME": "PersonName",
        "UIDREF": "UID",
    }
    if kind in simple:
        return header.text(item, simple[kind]) or ""
    if kind == "CODE":
        return _meaning(item, "ConceptCodeSequence") or ""
    if kind == "NUM":
        return _measurement(item)
    if kind in ("IMAGE", "COMPOSITE", "WAVEFORM"):
        referenced = _sequence(item, "ReferencedSOPSequence")
        uid = header.text(referenced[0], "ReferencedSOPInstanceUID") if referenced else None
        return f"{kind.lower()} {uid}" if uid else kind.lower()
    if kind in ("SCOORD", "SCOORD3D"):
        count = len(_values(header.raw_value(item, "GraphicData")))
        return f"{header.text(item, 'GraphicType') or 'shape'} ({count} coordinates)"
    if kind == "TCOORD":
        return header.text(item, "TemporalRangeType") or ""
    return ""  # CONTAINER: its children say it


def _measurement(item: Dataset) -> str:
    values = _sequence(item, "MeasuredValueSequence")
    if not values:
        return "(no value)"
    number = header.text(values[0], "NumericValue") or "?"
    units = _sequence(values[0], "MeasurementUnitsCodeSequence")
    unit = header.text(units[0], "CodeValue") if units else None
    return f"{number} {unit}" if unit and unit != "1" else number


# -- RT structure sets, plans and doses (PS3.3 C.8.8) ----------------------------------------------
def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _structures(ds: Dataset) -> Document:
    budget = _Budget()
    contours = {
        header.integer(roi, "ReferencedROINumber"): len(_sequence(roi, "ContourSequence"))
        for roi in _sequence(ds, "ROIContourSequence")
    }
    kinds = {
        header.integer(seen, "ReferencedROINumber"): header.text(seen, "RTROIInterpretedType")
        for seen in _sequence(ds, "RTROIObservationsSequence")
    }
    regions = []
    for roi in _sequence(ds, "StructureSetROISequence"):
        if not budget.take():
            continue
        number = header.integer(roi, "ROINumber")
        described = [_count(contours.get(number, 0), "contour"), kinds.get(number) or ""]
        regions.append(
            Item(header.text(roi, "ROIName") or f"ROI {number}", ", ".join(d for d in described if d))
        )
    facts = _facts(
        [
            ("Label", header.text(ds, "StructureSetLabel")),
            ("Name", header.text(ds, "StructureSetName")),
            ("Date", header.text(ds, "StructureSetDate")),
            ("Regions of interest", len(_sequence(ds, "StructureSetROISequence"))),
        ]
    )
    return Document("RT structure set", facts, tuple(regions), budget.omitted)


def _plan(ds: Dataset) -> Document:
    budget = _Budget()
    fractions = _sequence(ds, "FractionGroupSequence")
    metersets = {
        header.integer(ref, "ReferencedBeamNumber"): header.text(ref, "BeamMeterset")
        for group in fractions
        for ref in _sequence(group, "ReferencedBeamSequence")
    }
    beams = []
    for beam in _sequence(ds, "BeamSequence") + _sequence(ds, "IonBeamSequence"):
        if not budget.take():
            continue
        number = header.integer(beam, "BeamNumber")
        points = header.integer(beam, "NumberOfControlPoints")
        described = [
            header.text(beam, "BeamType"),
            header.text(beam, "RadiationType"),
            _count(points, "control point") if points is not None else None,
            f"meterset {metersets[number]}" if metersets.get(number) else None,
        ]
        beams.append(
            Item(header.text(beam, "BeamName") or f"Beam {number}", ", ".join(d for d in described if d))
        )
    facts = _facts(
        [
            ("Plan label", header.text(ds, "RTPlanLabel")),
            ("Plan name", header.text(ds, "RTPlanName")),
            ("Plan date", header.text(ds, "RTPlanDate")),
            ("Geometry", header.text(ds, "RTPlanGeometry")),
            ("Fractions planned", _first_integer(fractions, "NumberOfFractionsPlanned")),
            ("Beams", len(beams) + budget.omitted),
        ]
    )
    return Document("RT plan", facts, tuple(beams), budget.omitted)


def _first_integer(items: list[Dataset], keyword: str) -> int | None:
    return header.integer(items[0], keyword) if items else None


def _dose(ds: Dataset) -> Document:
    rows, columns = header.integer(ds, "Rows"), header.integer(ds, "Columns")
    frames = header.integer(ds, "NumberOfFrames") or 1
    spacing = header.numbers(ds, "PixelSpacing", 2)
    offsets = _values(header.raw_value(ds, "GridFrameOffsetVector"))
    facts = _facts(
        [
            ("Dose grid", f"{columns} x {rows} x {frames}" if rows and columns else None),
            ("Pixel spacing", f"{spacing[0]:g} x {spacing[1]:g} mm" if spacing else None),
            ("Frame offsets", f"{offsets[0]} to {offsets[-1]} mm" if len(offsets) > 1 else None),
            ("Dose units", header.text(ds, "DoseUnits")),
            ("Dose type", header.text(ds, "DoseType")),
            ("Summation", header.text(ds, "DoseSummationType")),
            ("Grid scaling", header.text(ds, "DoseGridScaling")),
        ]
    )
    return Document("RT dose", facts)
