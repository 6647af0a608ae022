"""Label maps: voxels per label, Dice between versions, NIfTI and DICOM SEG volumes, alignment."""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
import pytest
from numpy.typing import NDArray
from pydicom.sr.codedict import codes

from imagehub.core.errors import InvalidInput
from imagehub.core.imaging.labels import (
    MAX_LABELS,
    LabelError,
    ShapeMismatch,
    align,
    dice,
    is_label_dtype,
    is_label_volume,
    label_counts,
    load_label_volume,
)
from imagehub.core.imaging.synthetic import ct_instance, ct_instance_bytes
from tests.support.changes import nifti_bytes as nifti

SIZE = 16


@pytest.fixture
def before() -> NDArray[np.uint8]:
    """Background, a 4x4x4 cube of label 1 and a 2x3x5 block of label 3 (no label 2)."""
    volume = np.zeros((6, 8, 10), dtype=np.uint8)
    volume[0:4, 0:4, 0:4] = 1
    volume[4:6, 5:8, 5:10] = 3
    return volume


def by_hand(before: NDArray[np.uint8], after: NDArray[np.uint8], label: int) -> float:
    a, b = before == label, after == label
    return 2.0 * float(np.sum(a & b)) / float(np.sum(a) + np.sum(b))


def test_counts_are_voxels_per_non_zero_label(before: NDArray[np.uint8]) -> None:
    expected = {label: int(np.sum(before == label)) for label in (1, 3)}
    assert label_counts(before) == expected
    assert label_counts(np.zeros((3, 3), dtype=np.uint8)) == {}
    assert label_counts(np.zeros((0,), dtype=np.uint8)) == {}


def test_counts_of_labels_beyond_bincount_range() -> None:
    volume = np.array([0, -1, -1, 70_000, 70_000, 70_000, 5], dtype=np.int64)
    assert label_counts(volume) == {-1: 2, 5: 1, 70_000: 3}


def test_dice_of_a_grown_a_new_and_a_removed_label(before: NDArray[np.uint8]) -> None:
    after = before.copy()
    after[0:4, 0:4, 4:6] = 1  # label 1 grows by half
    after[after == 3] = 0  # label 3 erased
    after[5, 0:2, 0:2] = 2  # label 2 new
    scores = dice(before, after)
    assert sorted(scores) == [1, 2, 3]
    assert scores[1] == pytest.approx(by_hand(before, after, 1))
    assert 0.0 < scores[1] < 1.0
    assert scores[2] == 0.0
    assert scores[3] == 0.0
    assert dice(before, before) == {1: 1.0, 3: 1.0}


def test_dice_of_a_shifted_label(before: NDArray[np.uint8]) -> None:
    after = np.roll(before, 1, axis=2)
    scores = dice(before, after)
    for label in (1, 3):
        assert scores[label] == pytest.approx(by_hand(before, after, label))


def test_different_grids_are_a_clear_invalid_input(before: NDArray[np.uint8]) -> None:
    with pytest.raises(ShapeMismatch, match=r"different shapes \(6x8x10 before, 6x8x9 after\)") as raised:
        dice(before, before[:, :, :9])
    assert isinstance(raised.value, InvalidInput)


def test_what_counts_as_a_label_volume(before: NDArray[np.uint8]) -> None:
    assert is_label_volume(before)
    assert is_label_volume(before.astype(np.float32))  # integer-valued floats
    assert is_label_volume(before > 0)
    assert not is_label_volume(before.astype(np.float32) + 0.5)
    assert not is_label_volume(np.array([1.0, np.nan]))
    assert not is_label_volume(np.arange(MAX_LABELS + 1, dtype=np.int16))  # an image: many values
    assert is_label_volume(np.arange(MAX_LABELS, dtype=np.int16))
    assert not is_label_volume(np.array(["a"]))
    assert is_label_dtype(np.dtype(np.uint8))
    assert is_label_dtype(np.dtype(np.float32), intent_code=1002)  # NIFTI_INTENT_LABEL
    assert not is_label_dtype(np.dtype(np.int16))


# -- NIfTI ---------------------------------------------------------------------------------------
def test_a_nifti_label_map_and_a_changed_version(before: NDArray[np.uint8]) -> None:
    old = load_label_volume(nifti(before, (0.5, 0.8, 2.0)))
    assert (old.format, old.shape) == ("nifti", (6, 8, 10))
    assert old.spacing == pytest.approx((0.5, 0.8, 2.0))
    assert label_counts(old.labels) == label_counts(before)
    assert old.positions is None
    changed = before.copy()
    changed[0:2, 0:4, 0:4] = 0  # an annotator trimmed label 1
    new = load_label_volume(nifti(changed))
    aligned = align(old, new)  # a NIfTI grid needs no aligning
    assert aligned[0] is old
    assert aligned[1] is new
    scores = dice(old.labels, new.labels)
    assert scores == {1: pytest.approx(by_hand(before, changed, 1)), 3: 1.0}
    assert label_counts(new.labels)[1] == label_counts(before)[1] // 2


def test_a_trailing_single_volume_axis_is_dropped(before: NDArray[np.uint8]) -> None:
    loaded = load_label_volume(nifti(before[..., np.newaxis], zooms=(0.5, 0.8, 2.0, 1.0)))
    assert loaded.shape == (6, 8, 10)
    assert loaded.spacing == pytest.approx((0.5, 0.8, 2.0))


@pytest.mark.parametrize(
    ("volume", "why"),
    [
        (np.linspace(-1000.0, 1000.0, 6 * 8 * 10).reshape(6, 8, 10).astype(np.float32), "not a label map"),
        (np.arange(6 * 8 * 10, dtype=np.int16).reshape(6, 8, 10), "not a label map"),
        (np.zeros((4, 4, 4, 3), dtype=np.uint8), "is a series, not one label map"),
    ],
    ids=["float-image", "int16-image", "4d-series"],
)
def test_images_are_refused_as_label_maps(volume: NDArray[np.generic], why: str) -> None:
    with pytest.raises(LabelError, match=why):
        load_label_volume(nifti(volume, (1.0,) * volume.ndim))


def test_unreadable_or_unknown_files_are_refused() -> None:
    with pytest.raises(LabelError, match="neither a NIfTI file nor a DICOM SEG"):
        load_label_volume(b"just some text, not an image")
    with pytest.raises(LabelError, match="unreadable NIfTI"):
        load_label_volume(nifti(np.zeros((4, 4, 4), np.uint8))[:60])
    with pytest.raises(LabelError, match="not a segmentation"):
        load_label_volume(ct_instance_bytes(rows=SIZE, columns=SIZE))


# -- DICOM SEG -----------------------------------------------------------------------------------
def _segment(number: int, label: str) -> hd.seg.SegmentDescription:
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=label,
        segmented_property_category=codes.SCT.Tissue,
        segmented_property_type=codes.SCT.Tissue,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )


def seg_bytes(
    mask: NDArray[np.generic],
    segments: tuple[str, ...] = ("liver", "lesion"),
    kind: hd.seg.SegmentationTypeValues = hd.seg.SegmentationTypeValues.BINARY,
) -> bytes:
    """A SEG over a small synthetic CT series (one slice per mask plane), made with highdicom;
    highdicom leaves out frames of empty slices, as real SEGs do."""
    sources = [ct_instance(slice_index=i, rows=SIZE, columns=SIZE) for i in range(mask.shape[0])]
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=mask,
        segmentation_type=kind,
        segment_descriptions=[_segment(n, label) for n, label in enumerate(segments, start=1)],
        series_instance_uid=hd.UID(),
        series_number=100,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="ImageHub tests",
        manufacturer_model_name="labels",
        software_versions="1",
        device_serial_number="1",
    )
    out = io.BytesIO()
    seg.save_as(out)
    return out.getvalue()


@pytest.fixture
def seg_mask() -> NDArray[np.uint8]:
    """Four slices: the first empty, liver on slices 1 and 3, a lesion on slice 2."""
    mask = np.zeros((4, SIZE, SIZE), dtype=np.uint8)
    mask[1, 2:6, 2:6] = 1
    mask[2, 8:12, 8:14] = 2
    mask[3, 0:3, 0:3] = 1
    return mask


def test_a_dicom_seg_becomes_one_label_map(seg_mask: NDArray[np.uint8]) -> None:
    volume = load_label_volume(seg_bytes(seg_mask))
    assert volume.format == "seg"
    assert volume.names == {1: "liver", 2: "lesion"}
    assert volume.shape == (3, SIZE, SIZE)  # the empty slice has no frame
    assert label_counts(volume.labels) == label_counts(seg_mask)
    assert volume.positions is not None
    assert len(volume.positions) == 3
    source = ct_instance(rows=SIZE, columns=SIZE)
    thickness = float(np.diff(sorted(volume.positions))[0])
    assert volume.spacing == (thickness, *(float(v) for v in source.PixelSpacing))


def test_two_seg_versions_on_different_slices_are_aligned(seg_mask: NDArray[np.uint8]) -> None:
    changed = seg_mask.copy()
    changed[3] = 0  # liver removed from the last slice
    changed[0, 4:8, 4:8] = 1  # and drawn on the first
    changed[2, 8:12, 8:10] = 0  # the lesion shrinks
    old, new = load_label_volume(seg_bytes(seg_mask)), load_label_volume(seg_bytes(changed))
    assert old.positions != new.positions
    old_aligned, new_aligned = align(old, new)
    assert old_aligned.shape == new_aligned.shape == (4, SIZE, SIZE)
    assert old_aligned.positions == new_aligned.positions
    assert label_counts(old_aligned.labels) == label_counts(seg_mask)
    assert label_counts(new_aligned.labels) == label_counts(changed)
    scores = dice(old_aligned.labels, new_aligned.labels)
    assert scores == {
        1: pytest.approx(by_hand(seg_mask, changed, 1)),
        2: pytest.approx(by_hand(seg_mask, changed, 2)),
    }


def test_seg_frames_of_another_size_cannot_be_aligned(seg_mask: NDArray[np.uint8]) -> None:
    old = load_label_volume(seg_bytes(seg_mask))
    other = np.zeros((2, SIZE, SIZE), dtype=np.uint8)
    other[0, 0:2, 0:2] = 1
    new = load_label_volume(seg_bytes(other))
    smaller = type(new)(new.labels[:, :8, :8], new.spacing, new.format, new.names, new.positions)
    with pytest.raises(ShapeMismatch, match="different frame sizes"):
        align(old, smaller)


def test_a_seg_of_one_segment_names_it_in_the_shared_groups() -> None:
    """With one segment, highdicom (like most writers) shares its number across frames."""
    mask = np.zeros((3, SIZE, SIZE), dtype=np.uint8)
    mask[1:3, 4:8, 4:8] = 1
    volume = load_label_volume(seg_bytes(mask, ("liver",)))
    assert (volume.shape, volume.names) == ((2, SIZE, SIZE), {1: "liver"})
    assert label_counts(volume.labels) == {1: int(mask.sum())}


def test_a_fractional_seg_counts_voxels_of_at_least_half() -> None:
    fractions = np.zeros((3, SIZE, SIZE), dtype=np.float32)
    fractions[1, 2:6, 2:6] = 0.9
    fractions[1, 6:8, 2:6] = 0.2
    volume = load_label_volume(seg_bytes(fractions, ("liver",), hd.seg.SegmentationTypeValues.FRACTIONAL))
    assert label_counts(volume.labels) == {1: int(np.sum(fractions >= 0.5))}


def test_overlapping_segments_are_refused() -> None:
    masks = np.zeros((3, SIZE, SIZE, 2), dtype=bool)
    masks[1, 2:6, 2:6, 0] = True
    masks[1, 4:8, 4:8, 1] = True
    with pytest.raises(LabelError, match="segments overlap"):
        load_label_volume(seg_bytes(masks))
