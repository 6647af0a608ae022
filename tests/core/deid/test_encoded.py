"""The tag path on encoded bytes must give what the pydicom path gives, element for element,
and must hand back to it (``Unsupported``) whatever it would not encode the same way."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit

from imagehub.core.deid import (
    PROFILES,
    AttributeAction,
    DateShifter,
    TagReport,
    UidMapper,
    Unsupported,
    deidentify_dataset,
    deidentify_encoded,
    header_phi,
)
from imagehub.core.deid.engine import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from imagehub.core.deid.instance import Policy, Tools, deidentify_file
from imagehub.core.deid.recipe import parse_recipe
from imagehub.core.deid.text import TextScrubber
from tests.support.phi_corpus import SENTINEL_PREFIX, PhiCorpus, write_phi_corpus

SECRET = b"encoded-secret"
Cleaner = Callable[[str, Sequence[str]], str]
# pydicom's own test files in little-endian syntaxes: implicit, explicit, JPEG, JPEG 2000,
# RLE, multi-frame, odd-sized, SR, waveform.
AGREEING = (
    "CT_small.dcm",
    "MR_small.dcm",
    "JPEG2000.dcm",
    "693_J2KR.dcm",
    "MR2_J2KI.dcm",
    "emri_small.dcm",
    "SC_rgb_rle.dcm",
    "SC_rgb_small_odd.dcm",
    "waveform_ecg.dcm",
    "liver.dcm",
    "reportsi.dcm",
)
HANDED_BACK = {
    "image_dfl.dcm": "transfer syntax",  # deflated
    "ExplVR_BigEnd.dcm": "transfer syntax",
    "rtstruct.dcm": "no preamble",
    "rtplan.dcm": "File Meta",  # no Implementation Version Name: pydicom's writer adds one
    "MR_truncated.dcm": "runs past its end",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> PhiCorpus:
    return write_phi_corpus(tmp_path_factory.mktemp("phi"), instances=8)


def _implicit(data: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _by_pydicom(data: bytes, profile: str, clean_text: Cleaner | None) -> tuple[bytes, TagReport]:
    ds = pydicom.dcmread(io.BytesIO(data))
    report = deidentify_dataset(
        ds,
        profile=PROFILES[profile],
        uids=UidMapper(SECRET),
        dates=DateShifter(SECRET),
        clean_text=clean_text,
    )
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue(), report


def _by_bytes(data: bytes, profile: str, clean_text: Cleaner | None) -> tuple[bytes, TagReport]:
    deny = header_phi(pydicom.dcmread(io.BytesIO(data))) if clean_text else ()
    return deidentify_encoded(
        data,
        profile=PROFILES[profile],
        uids=UidMapper(SECRET),
        dates=DateShifter(SECRET),
        clean_text=clean_text,
        deny=deny,
    )


def _entry(action: AttributeAction) -> tuple[str, ...]:
    before = action.before if action.vr == "SQ" else ""
    return action.path, action.keyword, action.vr, action.action, before, action.after


def _assert_same(data: bytes, profile: str, clean_text: Cleaner | None = None) -> None:
    expected, expected_report = _by_pydicom(data, profile, clean_text)
    output, report = _by_bytes(data, profile, clean_text)
    ours, theirs = pydicom.dcmread(io.BytesIO(output)), pydicom.dcmread(io.BytesIO(expected))
    assert ours.preamble == b"\x00" * 128
    assert ours.file_meta == theirs.file_meta
    assert ours.file_meta.FileMetaInformationGroupLength == theirs.file_meta.FileMetaInformationGroupLength
    assert sorted(ours.keys()) == sorted(theirs.keys())
    differing = [str(element) for element in ours if element != theirs[element.tag]]
    assert differing == []
    # A value's shape is summarised from what pydicom had at hand, raw or decoded ("3 values" or
    # "20 chars"); sequences, and everything else, must agree.
    assert [_entry(a) for a in report.actions] == [_entry(a) for a in expected_report.actions]
    assert (report.private_removed, report.sequences_walked) == (
        expected_report.private_removed,
        expected_report.sequences_walked,
    )


@pytest.mark.parametrize("profile", ["basic", "research"])
@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_the_phi_corpus_comes_out_as_the_pydicom_path_writes_it(
    corpus: PhiCorpus, profile: str, implicit: bool
) -> None:
    for path in corpus.paths:
        data = path.read_bytes()
        _assert_same(_implicit(data) if implicit else data, profile)


def test_free_text_cleaning_agrees_including_text_pydicom_must_encode(corpus: PhiCorpus) -> None:
    def cleaner(text: str, deny: Sequence[str]) -> str:
        return f"gelöscht {len(text)} {len(deny)}"  # not ASCII: encoded by pydicom's codec

    for path in corpus.paths[:3]:
        _assert_same(path.read_bytes(), "research", cleaner)
    scrubber = TextScrubber()
    _assert_same(corpus.paths[0].read_bytes(), "research", scrubber.clean)


def test_no_sentinel_survives_the_basic_profile(corpus: PhiCorpus) -> None:
    for path in corpus.paths:
        output, _ = _by_bytes(path.read_bytes(), "basic", None)
        assert SENTINEL_PREFIX.encode() not in output


@pytest.mark.parametrize("name", AGREEING)
@pytest.mark.parametrize("profile", ["basic", "research"])
def test_pydicom_test_files_agree(name: str, profile: str) -> None:
    _assert_same(Path(get_testdata_file(name)).read_bytes(), profile)


@pytest.mark.parametrize(("name", "reason"), HANDED_BACK.items())
def test_files_it_would_not_write_as_pydicom_does_are_handed_back(name: str, reason: str) -> None:
    with pytest.raises(Unsupported, match=reason):
        _by_bytes(Path(get_testdata_file(name)).read_bytes(), "basic", None)


def test_a_file_cut_short_or_without_preamble_is_handed_back(corpus: PhiCorpus) -> None:
    data = corpus.paths[0].read_bytes()
    for bad in (data[128:], data[:-3]):
        with pytest.raises(Unsupported):
            _by_bytes(bad, "basic", None)


def test_an_instance_takes_the_byte_path_unless_a_recipe_needs_the_dataset(corpus: PhiCorpus) -> None:
    data = corpus.paths[0].read_bytes()
    tools = Tools(UidMapper(SECRET), DateShifter(SECRET), TextScrubber())
    plain = Policy("basic", PROFILES["basic"], parse_recipe(""), None)
    result = deidentify_file(data, plain, tools)
    assert result.output == _by_bytes(data, "basic", tools.scrubber.clean)[0]
    assert result.report["uids"]["sop"] == UidMapper(SECRET).map(corpus.originals[0].sop_instance_uid)

    recipe = Policy(
        "basic", PROFILES["basic"], parse_recipe("FORMAT dicom\n%header\nREPLACE Modality OT\n"), None
    )
    replaced = deidentify_file(data, recipe, tools)
    assert replaced.output is not None
    assert pydicom.dcmread(io.BytesIO(replaced.output)).Modality == "OT"
    assert replaced.report["recipe"] == [{"field": "Modality", "action": "REPLACE"}]


# Hand-built files: what a scanner or an old converter may send, and pydicom reads its own way.

NAME = "HANDBUILT^SECRET"
UNDEFINED = 0xFFFFFFFF
_ITEM_OPEN = struct.pack("<HHL", 0xFFFE, 0xE000, UNDEFINED)
_ITEM_CLOSE = struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
_SEQUENCE_CLOSE = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)


def _dataset(syntax: str = ExplicitVRLittleEndian, *, pixels: bool = True) -> Dataset:
    """A small secondary capture carrying a name, an ID and a date; with 4x4 pixels unless
    the test adds its own or appends elements after where they would go."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.PatientName, ds.PatientID, ds.StudyDate, ds.Modality = NAME, "ID-4711", "20240317", "OT"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = (
        ds.SOPClassUID,
        ds.SOPInstanceUID,
    )
    ds.file_meta.TransferSyntaxUID = syntax
    if pixels:
        ds.Rows = ds.Columns = 4
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PixelData = bytes(range(16))
    return ds


def _written(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _as_explicit(ds: Dataset) -> bytes:
    """Written element by element in explicit VR, whatever the File Meta says."""
    meta, body = DicomBytesIO(), DicomBytesIO()
    for buffer in (meta, body):
        buffer.is_implicit_VR, buffer.is_little_endian = False, True
    write_file_meta_info(meta, ds.file_meta, enforce_standard=True)
    write_dataset(body, ds)
    return b"\x00" * 128 + b"DICM" + meta.getvalue() + body.getvalue()


def _explicit_under_implicit_syntax() -> bytes:
    ds = _dataset(ImplicitVRLittleEndian)
    ds.SpecificCharacterSet = "ISO_IR 100"
    return _as_explicit(ds)


def _sequence_before_the_character_set() -> bytes:
    ds = _dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    record = Dataset()
    record.StudyDescription = "Knie Müller"
    sequence = DataElement(0x00041220, "SQ", DicomSequence([record]))
    sequence.is_undefined_length = True
    ds.add(sequence)
    return _written(ds)


def _item_past_its_sequence() -> bytes:
    ds = _dataset()
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3"
    ds.ReferencedImageSequence = DicomSequence([item])
    data = _written(ds)
    at = data.index(b"\xfe\xff\x00\xe0")  # the item's header: make its length reach past the sequence
    return data[: at + 4] + struct.pack("<L", struct.unpack_from("<L", data, at + 4)[0] + 8) + data[at + 8 :]


def _encapsulated_under_native_syntax() -> bytes:
    ds = _dataset(pixels=False)
    ds.add(DataElement(0x7FE00010, "OB", encapsulate([b"\xff\xd8\xff\xd9"])))
    ds[0x7FE00010].is_undefined_length = True
    return _as_explicit(ds)


def _native_pixels_under_jpeg_syntax() -> bytes:
    ds = _dataset(JPEGBaseline8Bit, pixels=False)
    ds.add(DataElement(0x7FE00010, "OB", b"\x00" * 16))
    return _as_explicit(ds)


def _item_tag_at_the_top_level() -> bytes:
    data = _written(_dataset(ImplicitVRLittleEndian, pixels=False))
    name = NAME.encode()
    return (
        data
        + struct.pack("<HHL", 0xFFFE, 0xE000, len(name) + 8)
        + struct.pack("<HHL", 0x10, 0x10, len(name))
        + name
    )


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (_explicit_under_implicit_syntax, "explicit VR data"),
        (_sequence_before_the_character_set, "before the character set"),
        (_item_past_its_sequence, "runs past the end of its sequence"),
        (_encapsulated_under_native_syntax, "does not suit its transfer syntax"),
        (_native_pixels_under_jpeg_syntax, "does not suit its transfer syntax"),
        (_item_tag_at_the_top_level, "an item or delimiter"),
    ],
)
def test_files_pydicom_reads_its_own_way_are_handed_back(build: Callable[[], bytes], reason: str) -> None:
    data = build()
    with pytest.raises(Unsupported, match=reason):
        _by_bytes(data, "basic", None)
    tools = Tools(UidMapper(SECRET), DateShifter(SECRET), TextScrubber())
    result = deidentify_file(data, Policy("basic", PROFILES["basic"], parse_recipe(""), None), tools)
    if result.output is not None:  # whatever the pydicom path writes carries none of it
        assert NAME.encode() not in result.output
        assert b"20240317" not in result.output


def test_a_multi_valued_sop_instance_uid_reaches_the_file_meta_as_values() -> None:
    ds = _dataset()
    ds.SOPInstanceUID = ["1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.3"]
    _assert_same(_written(ds), "basic")


def test_a_safe_private_attribute_stored_as_a_sequence_is_removed() -> None:
    ds = _dataset()
    block = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    hidden = Dataset()
    hidden.PatientName = NAME
    block.add_new(0x0C, "SQ", DicomSequence([hidden]))  # on the safe list, as a B value (DS)
    data = _written(ds)
    _assert_same(data, "research")
    output, _ = _by_bytes(data, "research", None)
    assert NAME.encode() not in output


def _appended(data: bytes, tag: int, inside: bytes) -> bytes:
    """``data`` (implicit VR) with one more element of defined length holding ``inside``."""
    return data + struct.pack("<HHL", tag >> 16, tag & 0xFFFF, len(inside)) + inside


def _item_with_name() -> bytes:
    name = NAME.encode()
    element = struct.pack("<HHL", 0x0010, 0x0010, len(name)) + name
    return struct.pack("<HHL", 0xFFFE, 0xE000, len(element)) + element


def test_an_attribute_unknown_to_the_dictionary_goes_with_what_it_holds() -> None:
    data = _appended(_written(_dataset(ImplicitVRLittleEndian, pixels=False)), 0x0AAA0010, _item_with_name())
    for profile in ("basic", "research"):
        _assert_same(data, profile)
        output, report = _by_bytes(data, profile, None)
        assert NAME.encode() not in output
        assert ("(0AAA,0010)", "X") in [(a.path, a.action) for a in report.actions]


def test_a_safe_private_attribute_is_kept_only_under_its_listed_vr() -> None:
    def siemens(vr: str, value: str, syntax: str = ExplicitVRLittleEndian) -> bytes:
        ds = _dataset(syntax)
        ds.private_block(0x0019, "SIEMENS MR HEADER", create=True).add_new(0x0C, vr, value)
        return _written(ds)

    for data, kept in (
        (siemens("IS", "1000"), True),  # B value, as listed
        (siemens("LO", NAME), False),
        (siemens("IS", "1000", ImplicitVRLittleEndian), False),  # implicit VR: not checkable
    ):
        _assert_same(data, "research")
        output, _ = _by_bytes(data, "research", None)
        assert (0x0019100C in pydicom.dcmread(io.BytesIO(output))) is kept
        assert NAME.encode() not in output


def test_uids_with_whitespace_and_a_character_set_stored_as_lo_agree() -> None:
    ds = _dataset()
    ds.add(DataElement(0x00080005, "LO", "ISO_IR 100"))
    ds.StudyDescription = "Knie Müller"
    data = _written(ds).replace(b"1.2.826.0.1.3680043.8.498.2\x00", b"1.2.826.0.1.3680043.8.498.2\t")
    assert b"498.2\t" in data
    _assert_same(data, "basic")
    _assert_same(data, "research", lambda text, deny: f"gelöscht {len(deny)}")


def test_a_sequence_unknown_to_the_dictionary_but_kept_by_the_table_stays_a_sequence() -> None:
    item = _item_with_name()[8:]  # the Patient Name element, in items of undefined length
    items = _ITEM_OPEN + item + _ITEM_CLOSE
    sequence = struct.pack("<HHL", 0x0010, 0x0043, UNDEFINED) + items + _SEQUENCE_CLOSE
    data = _written(_dataset(ImplicitVRLittleEndian))
    start = data.index(struct.pack("<HH", 0x0020, 0x000D))  # (0010,0043) goes before Study Instance UID
    data = data[:start] + sequence + data[start:]
    for profile in ("basic", "research"):
        _assert_same(data, profile)
        assert NAME.encode() not in _by_bytes(data, profile, None)[0]


def test_encapsulated_pixel_data_without_its_offset_table_is_handed_back() -> None:
    ds = _dataset(JPEGBaseline8Bit, pixels=False)
    pixels = struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF) + struct.pack(
        "<HHL", 0xFFFE, 0xE0DD, 0
    )
    with pytest.raises(Unsupported, match="offset table"):
        _by_bytes(_as_explicit(ds) + pixels, "basic", None)


# Safety rules beyond Table E.1-1, the same on both paths.


def _released(data: bytes, profile: str = "basic") -> bytes | None:
    tools = Tools(UidMapper(SECRET), DateShifter(SECRET), TextScrubber())
    return deidentify_file(data, Policy(profile, PROFILES[profile], parse_recipe(""), None), tools).output


def test_an_unknown_attribute_goes_whatever_its_vr() -> None:
    ds = _dataset()
    ds.add(DataElement(0x0AAA0010, "LO", NAME))  # explicit LO, but no dictionary entry
    data = _written(ds)
    _assert_same(data, "basic")
    output = _released(data)
    assert output is not None
    assert NAME.encode() not in output


def test_uids_the_table_does_not_list_are_replaced_and_class_uids_kept() -> None:
    ds = _dataset()
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.7"
    ds.VolumeFrameOfReferenceUID = ds.FrameOfReferenceUID  # not in Table E.1-1
    ds.SOPInstanceUIDOfConcatenationSource = ds.SOPInstanceUID
    item = Dataset()
    item.ReferencedSOPClassUID = ds.SOPClassUID
    item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    ds.ReferencedImageSequence = DicomSequence([item])
    data = _written(ds)
    _assert_same(data, "basic")
    out = pydicom.dcmread(io.BytesIO(_by_bytes(data, "basic", None)[0]))
    mapper = UidMapper(SECRET)
    assert (
        out.VolumeFrameOfReferenceUID == out.FrameOfReferenceUID == mapper.map("1.2.826.0.1.3680043.8.498.7")
    )
    assert out.SOPInstanceUIDOfConcatenationSource == out.SOPInstanceUID
    assert out.SOPInstanceUID == mapper.map("1.2.826.0.1.3680043.8.498.1")
    assert out.SOPClassUID == out.ReferencedImageSequence[0].ReferencedSOPClassUID == ds.SOPClassUID
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


def test_a_known_sequence_stored_as_un_goes_with_its_items() -> None:
    name = NAME.encode()
    element = struct.pack("<HHL", 0x0008, 0x1050, len(name)) + name  # Performing Physician, implicit VR
    items = struct.pack("<HHL", 0xFFFE, 0xE000, len(element)) + element
    sequence = struct.pack("<HH2sHL", 0x0008, 0x1120, b"UN", 0, len(items)) + items  # Referenced Patient
    data = _written(_dataset())
    at = data.index(struct.pack("<HH", 0x0010, 0x0010))  # before Patient's Name
    data = data[:at] + sequence + data[at:]
    assert pydicom.dcmread(io.BytesIO(data)).get_item(0x00081120).VR == "UN"  # as stored
    output = _released(data)
    assert output is not None
    assert name not in output
    assert 0x00081120 not in pydicom.dcmread(io.BytesIO(output))


def test_the_leak_check_reads_past_the_pixel_data() -> None:
    ds = _dataset(pixels=False)
    ds.add(DataElement(0x7FE00010, "OB", b"\x00" * 64))
    ds.add(DataElement(0x7FE00020, "OW", NAME.encode()))  # retired Coefficients SDVN, kept by the table
    result = _released(_written(ds))
    assert result is None  # withheld: the name follows the pixels, where a check used to stop


def test_the_file_meta_names_imagehub_and_no_sending_system() -> None:
    ds = _dataset()
    ds.file_meta.SourcePresentationAddress = "dicom://pacs.example-clinic.org:104"
    ds.file_meta.ImplementationVersionName = "CLINIC_CT1"
    data = _written(ds)
    _assert_same(data, "basic")
    meta = pydicom.dcmread(io.BytesIO(_by_bytes(data, "basic", None)[0])).file_meta
    assert "SourcePresentationAddress" not in meta
    assert (meta.ImplementationClassUID, meta.ImplementationVersionName) == (
        IMPLEMENTATION_CLASS_UID,
        IMPLEMENTATION_VERSION_NAME,
    )


def test_whatever_stops_the_byte_path_the_pydicom_path_takes_over(
    corpus: PhiCorpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = corpus.paths[0].read_bytes()
    recipe = parse_recipe("FORMAT dicom\n%header\nKEEP Modality\n")  # forces the pydicom path
    tools = Tools(UidMapper(SECRET), DateShifter(SECRET), TextScrubber())
    by_dataset = deidentify_file(data, Policy("basic", PROFILES["basic"], recipe, None), tools).output

    def broken(*args: object, **kwargs: object) -> None:
        raise RecursionError("a value the byte path cannot decode")

    monkeypatch.setattr("imagehub.core.deid.instance.deidentify_encoded", broken)
    result = deidentify_file(data, Policy("basic", PROFILES["basic"], parse_recipe(""), None), tools)
    assert result.output is not None
    assert result.output == by_dataset
