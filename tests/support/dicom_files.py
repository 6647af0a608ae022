"""pydicom's bundled test files, found on disk (``get_testdata_file`` may try the network), and
series made for tests."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import JPEGLSLossless

from imagehub.core.imaging.synthetic import ct_instance_bytes

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def pydicom_file(name: str) -> Path:
    path = TEST_FILES / name
    assert path.is_file(), f"pydicom test file {name} is missing from {TEST_FILES}"
    return path


def jpeg_ls_series(count: int, damaged: set[int]) -> dict[str, bytes | None]:
    """A JPEG-LS CT series; the slices in ``damaged`` keep whole items but hold bytes no codec
    reads, which the pipeline indexes (their structure is sound) and no decoder can draw."""
    files: dict[str, bytes | None] = {}
    for index in range(count):
        ds = pydicom.dcmread(io.BytesIO(ct_instance_bytes(slice_index=index, rows=128, columns=128)))
        ds.compress(JPEGLSLossless, generate_instance_uid=False)
        if index in damaged:
            frame = next(generate_frames(ds.PixelData, number_of_frames=1))
            ds.PixelData = encapsulate([b"\x00" * len(frame)])
        out = io.BytesIO()
        ds.save_as(out)
        files[f"ct/{index:02d}.dcm"] = out.getvalue()
    return files
