"""Files for change-detail tests: a small CT slice with a chosen description, and a NIfTI label
map with an edited version (label 1 grown, label 2 erased, label 4 new)."""

from __future__ import annotations

import gzip
import io

import nibabel
import numpy as np
import pydicom
from numpy.typing import NDArray

from imagehub.core.imaging.synthetic import ct_instance_bytes


def nifti_bytes(volume: NDArray[np.generic], zooms: tuple[float, ...] = (0.8, 0.8, 2.5)) -> bytes:
    """A gzipped NIfTI of ``volume`` with these voxel sizes (one per axis)."""
    image = nibabel.Nifti1Image(volume, np.diag([*zooms[:3], 1.0]))
    image.header.set_zooms(zooms)
    return gzip.compress(image.to_bytes())


def label_map() -> NDArray[np.uint8]:
    volume = np.zeros((8, 10, 12), dtype=np.uint8)
    volume[1:5, 2:6, 2:8] = 1
    volume[5:8, 6:10, 0:4] = 2
    return volume


def relabelled() -> NDArray[np.uint8]:
    """``label_map`` after an annotator's pass: label 1 grows by two slices, 2 is erased, 4 is new."""
    volume = label_map()
    volume[5:7, 2:6, 2:8] = 1
    volume[volume == 2] = 0
    volume[0, 0:2, 0:2] = 4
    return volume


def ct_described(description: str) -> bytes:
    """A 16x16 synthetic CT slice whose SeriesDescription is ``description``."""
    ds = pydicom.dcmread(io.BytesIO(ct_instance_bytes(rows=16, columns=16)))
    ds.SeriesDescription = description
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()
