"""Medical-image understanding: what a file is (DICOM or NIfTI), how instances form series,
and the derived artefacts a dataset browser needs (thumbnails, NIfTI volumes for ML).

Framework-free and storage-agnostic: everything takes paths or byte streams.
"""

from imagehub.core.imaging.export import series_to_nifti
from imagehub.core.imaging.metadata import InstanceMetadata, Unreadable
from imagehub.core.imaging.pixels import Frames, decode_pixels
from imagehub.core.imaging.probe import inspect, inspect_bytes
from imagehub.core.imaging.series import Series, group_series
from imagehub.core.imaging.sources import Source
from imagehub.core.imaging.thumbnails import instance_thumbnail, series_thumbnail
from imagehub.core.imaging.window import Window, choose_window, to_uint8

__all__ = [
    "Frames",
    "InstanceMetadata",
    "Series",
    "Source",
    "Unreadable",
    "Window",
    "choose_window",
    "decode_pixels",
    "group_series",
    "inspect",
    "inspect_bytes",
    "instance_thumbnail",
    "series_thumbnail",
    "series_to_nifti",
    "to_uint8",
]
