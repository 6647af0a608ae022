"""Series without pixel data (RT plans, structured reports) say so on the viewer pages, with no
thumbnail and no viewer: both asked the server for images it cannot make and showed a 404."""

from __future__ import annotations

import hashlib
import html
import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import nibabel
import pydicom
import pytest
from pydicom.data import get_testdata_file

from imagehub.services import datasets
from tests.support.datasets import commit_files
from tests.support.dicom_files import jpeg_ls_series
from tests.support.portal import Portal, run_pipeline

DS = "/lab/documents"
DOCUMENTS = {
    "plan/rtplan.dcm": "rtplan.dcm",
    "report/sr.dcm": "test-SR.dcm",
    "structures/rtstruct.dcm": "rtstruct.dcm",
}
DOSE = {"dose/rtdose.dcm": "rtdose.dcm"}  # an RT object that is an image too (its dose grid)
CIFTI = Path(nibabel.__file__).parent / "tests" / "data" / "row_major.dconn.nii"  # 1 x 1 x 1 in space


@pytest.fixture(scope="module")
def first(portal: Portal) -> str:
    """Commits an RT plan and a structured report, then a CT beside them; the first commit's id."""
    platform = portal.platform
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="documents", author="lab")
    files: dict[str, bytes | None] = {
        path: Path(get_testdata_file(name)).read_bytes() for path, name in (DOCUMENTS | DOSE).items()
    }
    files["cifti/row_major.dconn.nii"] = CIFTI.read_bytes()
    commit = commit_files(platform, "lab", "documents", "main", files)
    run_pipeline(platform, "lab/documents", commit)
    files = {"ct/ct.dcm": Path(get_testdata_file("CT_small.dcm")).read_bytes()}
    run_pipeline(platform, "lab/documents", commit_files(platform, "lab", "documents", "main", files))
    return commit.id


@pytest.fixture(scope="module")
def web(portal: Portal, first: str) -> Iterator[httpx.Client]:
    with portal.browser() as client:
        yield client


def series_uid(name: str) -> str:
    # force: the RT structure set is stored without preamble or file meta information
    ds = pydicom.dcmread(get_testdata_file(name), stop_before_pixels=True, force=True)
    return str(ds.SeriesInstanceUID)


def assert_document_panel(
    html: str, element_id: str, says: str = "This series is a document (no images)"
) -> None:
    panel = re.search(rf'<div class="document-series" id="{element_id}"[^>]*>(.*?)</div>', html, re.S)
    assert panel, f"no document panel #{element_id}"
    assert says in panel.group(1)
    assert "<img" not in panel.group(1)


def test_a_cifti_file_says_it_holds_no_image_on_a_grid(web: httpx.Client) -> None:
    """The pipeline made it no thumbnail (its check passed), and the viewer would draw one voxel."""
    key = "nifti:" + hashlib.sha256(CIFTI.read_bytes()).hexdigest()
    page = web.get(f"{DS}/view/main", params={"series": key})
    assert page.status_code == 200
    assert_document_panel(page.text, "viewer-main", "This file holds no image on a spatial grid")
    assert 'data-ih-viewer="nifti"' not in page.text


@pytest.mark.parametrize("name", DOCUMENTS.values())
def test_a_document_series_page_has_a_panel_not_a_viewer_or_thumbnail(web: httpx.Client, name: str) -> None:
    page = web.get(f"{DS}/view/main", params={"series": series_uid(name)})
    assert page.status_code == 200
    assert_document_panel(page.text, "viewer-main")
    assert "data-ih-viewer" not in page.text
    assert "/series/thumbnail" not in page.text
    assert "/static/viewer/viewer.js" not in page.text  # nothing to mount
    assert f"{DS}/file/" in page.text  # its files are still listed


def test_an_image_series_beside_it_still_gets_the_viewer(web: httpx.Client) -> None:
    page = web.get(f"{DS}/view/main", params={"series": series_uid("CT_small.dcm")}).text
    assert 'data-ih-viewer="dicom"' in page
    assert "/series/thumbnail" in page
    assert "document-series" not in page


def test_comparing_a_document_series_shows_the_panel_on_both_sides(web: httpx.Client, first: str) -> None:
    page = web.get(
        f"{DS}/view-compare", params={"left": first, "right": "main", "series": series_uid("rtplan.dcm")}
    ).text
    assert_document_panel(page, "viewer-before")
    assert_document_panel(page, "viewer-after")
    assert "data-ih-viewer" not in page
    assert "/series/thumbnail" not in page


def file_page(web: httpx.Client, path: str) -> str:
    """The file page, once every image on it is known to load (a broken thumbnail was a 404)."""
    page = web.get(f"{DS}/file/main", params={"path": path})
    assert page.status_code == 200
    for src in re.findall(r'<img[^>]* src="([^"]+)"', page.text):
        assert web.get(html.unescape(src)).status_code == 200, src
    assert "{'" not in page.text, "a Python dict repr"
    return page.text


def document_text(page: str) -> str:
    """The document section's text: a line per fact ("LabelValue") and per item ("  name: value",
    indented two spaces per level of nesting)."""
    section = re.search(r'<section class="document" id="document">(.*?)</section>', page, re.S)
    assert section, "no document section"
    lines, depth = [], 0
    for tag, text in re.findall(r"<(/?ul|li|tr)\b[^>]*>|<[^>]*>|([^<]+)", section.group(1)):
        depth += {"ul": 1, "/ul": -1}.get(tag, 0)
        if tag in ("li", "tr"):
            lines.append("  " * depth)
        elif text.strip() and lines:
            lines[-1] += html.unescape(text)
    return "\n".join(line.rstrip() for line in lines)


def test_a_structured_report_page_shows_its_content_tree_and_no_thumbnail(web: httpx.Client) -> None:
    page = file_page(web, "report/sr.dcm")
    assert "<img" not in page.split("<aside>")[0].split("</header>")[-1]
    assert "No image: structured report." in page
    text = document_text(page)
    assert "TitleDiagnosis" in text.splitlines()
    assert "    Diameter: 3.0 cm" in text  # nested under its container
    assert "  Some UID: 1.2.3.4.5" in text
    assert "      Code: Sample Code 1" in text


@pytest.mark.parametrize(
    ("path", "kind", "says"),
    [
        ("structures/rtstruct.dcm", "RT structure set", ["  patient: 3 contours, EXTERNAL"]),
        ("plan/rtplan.dcm", "RT plan", ["Plan labelPlan1", "  Field 1: STATIC, PHOTON, 2 control points"]),
    ],
)
def test_an_rt_page_summarises_it_without_a_thumbnail(
    web: httpx.Client, path: str, kind: str, says: list[str]
) -> None:
    page = file_page(web, path)
    assert f"No image: {kind}." in page
    text = document_text(page)
    for line in says:
        assert line in text


def test_an_rt_dose_page_shows_its_grid_and_a_thumbnail_that_loads(web: httpx.Client) -> None:
    page = file_page(web, "dose/rtdose.dcm")
    assert re.search(r'<img class="thumb"[^>]* src="[^"]*/objects/thumbnail\?path=dose', page)
    text = document_text(page)
    assert "Dose grid10 x 10 x 15" in text.splitlines()
    assert "Dose unitsRELATIVE" in text.splitlines()


def test_an_image_page_shows_acquisition_parameters_as_a_table(web: httpx.Client) -> None:
    page = file_page(web, "ct/ct.dcm")
    assert "<th>KVP</th><td>120.0</td>" in page
    assert 'id="document"' not in page  # an ordinary image is not read as a document


def test_a_series_without_a_thumbnail_shows_no_broken_image(portal: Portal, web: httpx.Client) -> None:
    """A series whose middle slice cannot be decoded gets no thumbnail from the pipeline; its
    viewer page showed one anyway, as a 404."""
    platform = portal.platform
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="undecodable", author="lab")
    files = jpeg_ls_series(1, damaged={0})
    run_pipeline(platform, "lab/undecodable", commit_files(platform, "lab", "undecodable", "main", files))
    series = pydicom.dcmread(io.BytesIO(files["ct/00.dcm"] or b""), stop_before_pixels=True).SeriesInstanceUID
    page = web.get("/lab/undecodable/view/main", params={"series": str(series)})
    assert page.status_code == 200
    assert 'data-ih-viewer="dicom"' in page.text  # the viewer still mounts and says why
    assert "/series/thumbnail" not in page.text
    assert "without JavaScript the facts on this page are what you get" in page.text
