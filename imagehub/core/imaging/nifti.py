"""NIfTI-1/2 files, plain or gzip-compressed: header facts, the slice a thumbnail needs, and writing.

nibabel has no type hints, so its headers and images are ``Any`` at this boundary (as the
boto3 client is in the S3 driver); no other module of the package touches nibabel.
"""

from __future__ import annotations

import gzip
import io
import math
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import nibabel
import numpy as np
from nibabel.spatialimages import HeaderDataError
from numpy.typing import NDArray

from imagehub.core.imaging.metadata import InstanceMetadata, Unreadable
from imagehub.core.imaging.sniff import GZIP_MAGIC, NIFTI_HEADER_SIZES, nifti_header_size
from imagehub.core.imaging.sources import remaining_bytes

_nib: Any = nibabel

# "ni1"/"ni2" headers keep their voxels in a separate .img file, which a single blob cannot hold.
_SINGLE_FILE_MAGICS = (b"n+1", b"n+2")
_CHUNK = 1 << 20


class NiftiError(Exception):
    """Carries a human reason out of the checks below; converted before it leaves the package."""


def nifti_metadata(stream: BinaryIO) -> InstanceMetadata | Unreadable:
    """Header facts, once it is certain that all the voxels are there."""
    try:
        with _payload(stream) as payload:
            head = payload.read(max(NIFTI_HEADER_SIZES))
            try:
                header = _parse_header(head)
            except NiftiError:
                _count_to_end(payload)  # damaged gzip data, if that is the cause, explains it best
                raise
            available = len(head) + _count_to_end(payload)
    except NiftiError as error:
        return Unreadable(str(error))
    voxels = math.prod(header.get_data_shape())
    expected = header.get_data_offset() + voxels * header.get_data_dtype().itemsize
    if available < expected:
        return Unreadable(f"truncated NIfTI: image data is {expected - available} bytes short")
    return _metadata(header)


@contextmanager
def open_image(stream: BinaryIO) -> Iterator[Any]:
    """A lazily-read image: slicing ``dataobj`` reads only the voxels asked for."""
    with _payload(stream) as payload:
        size = nifti_header_size(payload.read(4))
        payload.seek(0)
        image_class = _nib.Nifti1Image if size == NIFTI_HEADER_SIZES[0] else _nib.Nifti2Image
        yield image_class.from_stream(payload)


def axial_slice(image: Any) -> tuple[NDArray[Any], tuple[float, float]]:
    """Middle axial slice of the first volume in radiological view (patient right on the
    left, anterior up), with its (row, column) spacing for an undistorted thumbnail. Grey
    values come as floats; colour voxels (RGB24, RGBA32) as rows x columns x 3 bytes."""
    orientation = _nib.io_orientation(image.affine)
    if np.isnan(orientation).any():
        orientation = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    world_axes = [int(axis) for axis in orientation[:, 0]]
    slice_axis = world_axes.index(2) if image.ndim > 2 else 2
    index: list[int | slice] = [slice(None)] * image.ndim
    if slice_axis < image.ndim:
        index[slice_axis] = image.shape[slice_axis] // 2
    index[3:] = [0] * (image.ndim - 3)
    plane = _displayable(np.asarray(image.dataobj[tuple(index)]))
    plane_axes = [axis for axis in range(3) if axis != slice_axis]
    if world_axes[plane_axes[0]] > world_axes[plane_axes[1]]:
        plane, plane_axes = np.swapaxes(plane, 0, 1), plane_axes[::-1]
    # Make indices grow toward R and A, then flip both: the left of the view is patient right
    # and the top is anterior.
    for dim, axis in enumerate(plane_axes):
        if orientation[axis, 1] > 0:
            plane = np.flip(plane, dim)
    zooms = image.header.get_zooms()
    return np.swapaxes(plane, 0, 1), (float(zooms[plane_axes[1]]), float(zooms[plane_axes[0]]))


def _displayable(plane: NDArray[Any]) -> NDArray[Any]:
    """Colour voxels (a record of R, G, B and maybe A bytes) as a last axis of three bytes;
    anything else as floats."""
    if plane.dtype.names:
        return np.stack([plane[channel] for channel in plane.dtype.names[:3]], axis=-1).astype(np.uint8)
    return plane.astype(np.float64)


@contextmanager
def _payload(stream: BinaryIO) -> Iterator[BinaryIO]:
    """The uncompressed bytes; gzip faults surface as ``NiftiError`` with a reason."""
    start = stream.tell()
    compressed = stream.read(2) == GZIP_MAGIC
    stream.seek(start)
    try:
        if not compressed:
            yield stream
            return
        with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
            yield unzipped  # type: ignore[misc]
    except EOFError as error:
        raise NiftiError("truncated NIfTI: the gzip stream ends early") from error
    except (OSError, zlib.error) as error:
        raise NiftiError(f"corrupt NIfTI: damaged gzip data ({error})") from error


def _count_to_end(payload: BinaryIO) -> int:
    if not isinstance(payload, gzip.GzipFile):
        return remaining_bytes(payload)
    count = 0
    while chunk := payload.read(_CHUNK):
        count += len(chunk)
    return count


def _parse_header(head: bytes) -> Any:
    size = nifti_header_size(head)
    if size is None:
        raise NiftiError("not a NIfTI file")
    if len(head) < size:
        raise NiftiError("truncated NIfTI: the header is incomplete")
    header_class = _nib.Nifti1Header if size == NIFTI_HEADER_SIZES[0] else _nib.Nifti2Header
    try:
        header = header_class.from_fileobj(io.BytesIO(head), check=True)
    except (HeaderDataError, ValueError) as error:
        raise NiftiError(f"corrupt NIfTI: {error}") from error
    if bytes(header["magic"])[:3] not in _SINGLE_FILE_MAGICS:
        raise NiftiError("unsupported NIfTI: only single-file images (.nii) can be read, not .hdr/.img pairs")
    return header


def _metadata(header: Any) -> InstanceMetadata:
    shape = tuple(int(size) for size in header.get_data_shape())
    codes = _nib.aff2axcodes(header.get_best_affine())
    description = bytes(header["descrip"]).split(b"\0", 1)[0].decode("latin-1").strip()
    return InstanceMetadata(
        kind="nifti",
        series_description=description or None,
        frames=math.prod(shape[3:]),
        shape=shape,
        spacing=_spacing(header.get_zooms()),
        orientation="".join(codes) if None not in codes else None,
    )


def _spacing(zooms: Any) -> tuple[float, ...] | None:
    """The voxel sizes; "nan" or "inf" in pixdim is no spacing (and not valid JSON either)."""
    found = tuple(float(zoom) for zoom in zooms)
    return found if all(math.isfinite(size) for size in found) else None


def encode_nifti(volume: NDArray[Any], affine: NDArray[np.float64]) -> bytes:
    """Gzip-compressed NIfTI-1 in millimetres, with the affine as both qform and sform (scanner
    space), so every reader agrees on the geometry; no timestamp, so equal volumes give equal bytes.
    Level 1: on noisy CT it is seven times faster than the default for 2% more bytes.
    The affine must be orthogonal (a qform holds no shear): ``export`` resamples tilted series."""
    image = _nib.Nifti1Image(volume, affine)
    image.header.set_xyzt_units("mm")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    return gzip.compress(image.to_bytes(), compresslevel=1, mtime=0)
