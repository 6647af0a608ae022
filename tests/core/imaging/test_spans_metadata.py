"""Metadata read from a file's head cut into spans agrees with pydicom's reading of it.

``metadata_from_head`` is the fast path of ``inspect``; it may decline a file (None), and
then pydicom's path decides. These tests hold the two paths to the same answer on every
file at hand, check that the fast path really is the one taken for ordinary files, and
that whatever it declines still comes out right through ``inspect``.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import pydicom
import pydicom.data
import pytest
from pydicom.uid import ImplicitVRLittleEndian

from imagehub.core.imaging import InstanceMetadata, Unreadable, inspect_bytes
from imagehub.core.imaging.dicom import dicom_metadata, metadata_from_head, read_dataset
from imagehub.core.imaging.probe import HEAD_BYTES
from imagehub.core.imaging.synthetic import ct_instance_bytes
from tests.support.phi_corpus import write_phi_corpus

MR_SERIES = Path(__file__).resolve().parents[2] / "data" / "volume"
PYDICOM_FILES = Path(pydicom.data.__file__).parent / "test_files"


def _part10_files() -> list[Path]:
    """pydicom's bundled test files that carry the preamble (the fast path's only input)."""
    found = []
    for path in sorted(PYDICOM_FILES.rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                if handle.read(132)[128:132] == b"DICM":
                    found.append(path)
    assert len(found) > 40
    return found


def _by_pydicom(data: bytes) -> InstanceMetadata | Unreadable:
    stream = io.BytesIO(data)
    return dicom_metadata(read_dataset(stream), stream)


def _fast(data: bytes) -> InstanceMetadata | Unreadable | None:
    return metadata_from_head(data[:HEAD_BYTES], len(data))


def _implicit(data: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    for tag in [element.tag for element in ds if element.tag.group == 0]:  # command elements: not writable
        del ds[tag]
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _as_comparable(result: InstanceMetadata | Unreadable) -> object:
    """JSON, so that 120 and 120.0 (how the rows are stored) count as different."""
    return json.dumps(result.to_dict(), sort_keys=True) if isinstance(result, InstanceMetadata) else result


def test_every_pydicom_test_file_reads_the_same_or_is_declined() -> None:
    taken = 0
    for path in _part10_files():
        data = path.read_bytes()
        fast = _fast(data)
        if fast is None:
            continue
        taken += 1
        try:
            expected = _by_pydicom(data)
        except Exception:  # pydicom cannot read it; then the fast path must not have either
            pytest.fail(f"{path.name}: read by spans but pydicom fails on it")
        assert _as_comparable(fast) == _as_comparable(expected), path.name
    assert taken >= 30  # the fast path is the one ordinary files take


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_headers_full_of_identifiers_read_the_same(tmp_path: Path, implicit: bool) -> None:
    """Names in several character sets, nested sequences, every common VR."""
    corpus = write_phi_corpus(tmp_path, instances=8)
    for path in corpus.paths:
        data = path.read_bytes()
        data = _implicit(data) if implicit else data
        fast = _fast(data)
        assert fast is not None, path.name
        assert _as_comparable(fast) == _as_comparable(_by_pydicom(data)), path.name


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_ct_and_mr_instances_take_the_fast_path(implicit: bool) -> None:
    samples = [ct_instance_bytes(seed=3, slice_index=2)] + [
        p.read_bytes() for p in sorted(MR_SERIES.glob("*.dcm"))
    ]
    for data in samples:
        data = _implicit(data) if implicit else data
        fast = _fast(data)
        assert isinstance(fast, InstanceMetadata)
        assert fast.to_dict() == _by_pydicom(data).to_dict()  # type: ignore[union-attr]


def test_cut_files_read_as_pydicom_reads_them() -> None:
    """Every cut through the header, at the pixels and inside them: declined, or the same answer."""
    data = ct_instance_bytes(seed=5, slice_index=0)
    pixels = data.index(b"\xe0\x7f\x10\x00")
    cuts = [*range(140, pixels - 40, 7), *range(pixels - 40, pixels + 16), pixels + 1000, len(data) - 1]
    for cut in cuts:
        piece = data[:cut]
        fast = _fast(piece)
        if fast is not None:
            assert _as_comparable(fast) == _as_comparable(_by_pydicom(piece)), cut
        assert isinstance(inspect_bytes(piece, "cut.dcm"), Unreadable), cut
    short = _fast(data[: len(data) - 1])
    assert isinstance(short, Unreadable)
    assert "1 bytes short" in short.reason


def test_a_header_longer_than_the_head_is_left_to_pydicom() -> None:
    ds = pydicom.dcmread(io.BytesIO(ct_instance_bytes(seed=5, slice_index=0)))
    ds.ImageComments = "x" * (HEAD_BYTES + 10)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    data = out.getvalue()
    assert _fast(data) is None
    result = inspect_bytes(data, "long.dcm")
    assert isinstance(result, InstanceMetadata)
    assert result.to_dict() == _by_pydicom(data).to_dict()  # type: ignore[union-attr]


def _with(data: bytes, **attributes: object) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.mark.parametrize(
    ("charset", "name", "description"),
    [
        ("ISO_IR 192", "Müller^Jürgen", "Kopf 脳 MRI"),
        ("ISO_IR 100", "Ødegård^Åse", "Thorax à contraste"),
        ("GB18030", "王^小明", "头部"),
        (["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎", "頭部"),
        ("ISO_IR 144", "Иванов^Иван", "Голова"),
    ],
)
def test_names_in_other_character_sets_read_the_same(charset: object, name: str, description: str) -> None:
    data = _with(
        ct_instance_bytes(seed=2, rows=8, columns=8),
        SpecificCharacterSet=charset,
        PatientName=name,
        StudyDescription=description,
    )
    for variant in (data, _implicit(data)):
        fast = _fast(variant)
        assert isinstance(fast, InstanceMetadata)
        assert fast.patient_name == name
        assert _as_comparable(fast) == _as_comparable(_by_pydicom(variant))


def _element_at(data: bytes, tag: bytes) -> tuple[int, int]:
    """(start, end) of the explicit VR element with a 2-byte length whose tag bytes are ``tag``."""
    start = data.index(tag, 132)
    return start, start + 8 + struct.unpack_from("<H", data, start + 6)[0]


def _malformed() -> dict[str, bytes]:
    """Files whose oddity pydicom's path treats its own way: the fast path must decline them."""
    plain = ct_instance_bytes(seed=4, rows=8, columns=8)
    tagged = _with(plain, SpecificCharacterSet="ISO_IR 100")
    start, end = _element_at(plain, b"\x08\x00\x18\x00UI")
    inner = b"\x10\x00\x20\x00LO\x02\x00X "
    item = b"\xfe\xff\x00\xe0" + struct.pack("<L", len(inner)) + inner
    as_sequence = b"\x08\x00\x18\x00SQ\x00\x00" + struct.pack("<L", len(item)) + item
    meta_end = plain.index(b"\x08\x00", 144)  # the data set's first element
    command = b"\x00\x00\x00\x00UL\x04\x00" + struct.pack("<L", 0)
    return {
        "SOP Instance UID stored as a sequence": plain[:start] + as_sequence + plain[end:],
        "character set with a NUL inside": tagged.replace(b"ISO_IR 100", b"ISO_IR\x00100"),
        "character set stored as SS": tagged.replace(b"\x08\x00\x05\x00CS", b"\x08\x00\x05\x00SS"),
        "transfer syntax stored as US": plain.replace(b"\x02\x00\x10\x00UI", b"\x02\x00\x10\x00US", 1),
        "File Meta group length 18 bytes long": plain.replace(
            b"\x02\x00\x00\x00UL\x04\x00", b"\x02\x00\x00\x00UL\x12\x00", 1
        ),
        "a command element in the data set": plain[:meta_end] + command + plain[meta_end:],
    }


@pytest.mark.parametrize("case", list(_malformed()))
def test_oddities_pydicom_reads_its_own_way_are_declined(case: str) -> None:
    data = _malformed()[case]
    assert _fast(data) is None
    try:
        expected: object = _as_comparable(_by_pydicom(data))
    except Exception as error:  # inspect reports what pydicom raises as a corrupt file
        expected = type(error)
    result = inspect_bytes(data, "odd.dcm")
    if isinstance(expected, type):
        assert isinstance(result, Unreadable)
    else:
        assert _as_comparable(result) == expected
