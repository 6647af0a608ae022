"""Code versions of the assets: bump one when its output would change for the same commit.

Dagster shows them beside each materialisation, and the reprocessing schedule re-runs
every partition last built by another version.
"""

from imagehub.services.imaging_work import EXTRACTOR_VERSION

CODE_VERSIONS: dict[str, str] = {
    "raw_commit": "1",
    "instance_metadata": f"1-x{EXTRACTOR_VERSION}",
    "series_thumbnails": "1",
    "nifti_volumes": "1",
    "deidentified_commit": "1",
}
