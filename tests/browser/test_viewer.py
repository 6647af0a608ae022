"""The viewer widgets in a real browser: Cornerstone3D on our WADO-RS, NiiVue on NIfTI, sync, upload."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from playwright.sync_api import BrowserContext, Page
from pydicom.data import get_testdata_file

from imagehub.core.imaging.synthetic import ct_instance_bytes
from imagehub.services import datasets
from tests.support.browser import artifacts_dir
from tests.support.datasets import commit_files
from tests.support.dicom_files import jpeg_ls_series
from tests.support.portal import Portal, run_pipeline

READY = 60_000  # ms; software WebGL on a loaded two-core machine is slow the first time


def pixels(page: Page, selector: str, name: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """A screenshot of the element (kept as a CI artefact), as grey levels, optionally resized
    so that viewports of slightly different widths can be compared."""
    png = page.locator(selector).screenshot()
    (artifacts_dir() / f"{name}.png").write_bytes(png)
    image = Image.open(io.BytesIO(png)).convert("L")
    return np.asarray(image.resize(size) if size else image, dtype=np.float32)


def open_viewer(context: BrowserContext, url: str, element: str = "viewer-main") -> Page:
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector(f'#{element}[data-state="ready"]', state="attached", timeout=READY)
    page.add_style_tag(content=".ih-overlay { visibility: hidden }")  # compare images, not corner text
    return page


def no_csp_violations(page: Page) -> None:
    assert page.evaluate("window.__csp") == []


def test_ct_series_renders_every_slice_and_windowing_changes_pixels(
    context: BrowserContext, portal: Portal
) -> None:
    ct = portal.ct
    page = open_viewer(context, f"/lab/ct/view/{ct.first.id}?series={ct.series}")
    host = page.locator("#viewer-main")
    assert host.get_attribute("data-slice-count") == str(ct.slices)
    canvas = "#viewer-main .ih-viewport canvas"
    first = pixels(page, canvas, "ct-slice-0")
    assert first.std() > 10, "the canvas is blank"
    page.evaluate(f"window.imagehubViewers['viewer-main'].scrollTo({ct.slices - 1})")
    assert host.get_attribute("data-slice-index") == str(ct.slices - 1)
    last = pixels(page, canvas, "ct-slice-last")
    assert np.abs(first - last).mean() > 1, "scrolling did not change the image"
    page.evaluate("window.imagehubViewers['viewer-main'].setPreset('lung')")
    page.wait_for_selector('#viewer-main[data-voi="-600,1500"]', state="attached")
    lung = pixels(page, canvas, "ct-lung-window")
    page.evaluate("window.imagehubViewers['viewer-main'].setPreset('bone')")
    page.wait_for_selector('#viewer-main[data-voi="400,1800"]', state="attached")
    bone = pixels(page, canvas, "ct-bone-window")
    assert np.abs(lung - bone).mean() > 2, "windowing did not change the pixels"
    assert page.locator("#viewer-main .ih-fallback").is_hidden()
    no_csp_violations(page)


def test_mr_series_has_all_twenty_slices_reachable_by_mouse_wheel(
    context: BrowserContext, portal: Portal
) -> None:
    page = open_viewer(context, f"/lab/scans/view/main?series={portal.seeded.mr_series}")
    host = page.locator("#viewer-main")
    assert host.get_attribute("data-slice-count") == "20"
    box = page.locator("#viewer-main .ih-viewport").bounding_box()
    assert box
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(25):  # past the end: it must stop at the last slice
        page.mouse.wheel(0, 120)
        page.wait_for_timeout(40)
    page.wait_for_selector('#viewer-main[data-slice-index="19"]', state="attached", timeout=10_000)
    pixels(page, "#viewer-main", "mr-last-slice")
    no_csp_violations(page)


def test_niivue_renders_a_nifti_volume_with_a_label_map(context: BrowserContext, portal: Portal) -> None:
    listing = context.new_page()
    listing.goto("/lab/scans/series/main")
    href = listing.locator("article.series-card:has-text('spm - 3D normalized') a").first.get_attribute(
        "href"
    )
    assert href
    page = open_viewer(context, f"{href}&overlay=volumes/example_labels.nii.gz")
    viewer = "window.imagehubViewers['viewer-main']"
    assert page.evaluate(f"{viewer}.volumeCount()") == 2
    canvas = "#viewer-main canvas"
    labelled = pixels(page, canvas, "nifti-labels")
    assert labelled.std() > 5, "the NiiVue canvas is blank"
    page.evaluate(f"{viewer}.setOverlayOpacity(0)")
    page.wait_for_timeout(500)
    plain = pixels(page, canvas, "nifti-gray")
    assert np.abs(labelled - plain).mean() > 1, "the label map did not show"
    page.evaluate(f"{viewer}.setColormap('hot')")
    page.wait_for_timeout(500)
    hot = pixels(page, canvas, "nifti-hot")
    assert np.abs(plain - hot).mean() > 1, "the colormap did not change the pixels"
    no_csp_violations(page)


def test_compare_viewers_follow_each_other(context: BrowserContext, portal: Portal) -> None:
    ct = portal.ct
    url = f"/lab/ct/view-compare?left={ct.first.id}&right={ct.second.id}&series={ct.series}"
    page = open_viewer(context, url, "viewer-before")
    page.wait_for_selector('#viewer-after[data-state="ready"]', state="attached", timeout=READY)
    page.evaluate("window.imagehubViewers['viewer-after'].scrollTo(7)")
    page.wait_for_selector('#viewer-before[data-slice-index="7"]', state="attached", timeout=10_000)
    page.evaluate("window.imagehubViewers['viewer-before'].setPreset('lung')")
    page.wait_for_selector('#viewer-after[data-voi="-600,1500"]', state="attached", timeout=10_000)
    middle = ct.slices // 2
    page.evaluate(f"window.imagehubViewers['viewer-before'].scrollTo({middle})")
    page.wait_for_selector(f'#viewer-after[data-slice-index="{middle}"]', state="attached", timeout=10_000)
    before = pixels(page, "#viewer-before .ih-viewport canvas", "compare-before")
    after = pixels(page, "#viewer-after .ih-viewport canvas", "compare-after")
    # The edit is a white 100x100 square on a 512x512 slice: about 4% more white pixels.
    white_before, white_after = (before >= 250).mean(), (after >= 250).mean()
    assert white_after - white_before > 0.02, "the edited slice should show its white square"
    no_csp_violations(page)


def test_pages_work_without_the_widget(chromium, portal: Portal) -> None:  # type: ignore[no-untyped-def]
    context = chromium.new_context(base_url=portal.base, java_script_enabled=False)
    page = context.new_page()
    page.goto("/login")
    page.fill('input[name="username"]', "lab")
    page.fill('input[name="password"]', "correct horse battery staple")
    page.click('button[type="submit"]')
    page.goto(f"/lab/scans/view/main?series={portal.seeded.mr_series}")
    thumbnail = page.locator("#viewer-main img")
    assert thumbnail.is_visible()
    assert page.evaluate("document.querySelector('#viewer-main img').naturalWidth") > 0
    context.close()


def test_folder_upload_from_the_browser_becomes_one_commit(
    context: BrowserContext, portal: Portal, tmp_path: Path
) -> None:
    files = []
    for i, content in enumerate([b"first file", b"second file" * 1000, Path(__file__).read_bytes()]):
        path = tmp_path / f"upload-{i}.bin"
        path.write_bytes(content)
        files.append(path)
    page = context.new_page()
    page.goto("/lab/scans/upload/main")
    page.set_input_files("#upload-files", [str(p) for p in files])
    page.fill("#upload-prefix", "from-browser")
    page.fill("#upload-message", "Three files from a browser")
    page.click("#upload-start")
    page.wait_for_selector("#upload-commit", timeout=30_000)
    assert page.locator("#upload-progress").evaluate("bar => bar.value") == 1
    page.click("#upload-commit")
    assert "Three files from a browser" in page.content()
    with portal.platform.sessions() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="scans"))
        for path in files:
            entry = repo.stat("main", f"from-browser/{path.name}")
            assert entry.size == path.stat().st_size


def test_the_first_slice_is_drawn_from_its_frame_before_the_viewer_code_runs(
    context: BrowserContext, portal: Portal
) -> None:
    """With the Cornerstone chunk unavailable, the first slice still shows: drawn from the
    prefetched frame with the header's window, kept visible beside the error."""
    page = context.new_page()
    page.route("**/static/viewer/assets/dicomViewer-*.js", lambda route: route.abort())
    ct = portal.ct
    page.goto(f"/lab/ct/view/{ct.first.id}?series={ct.series}")
    page.wait_for_selector('#viewer-main[data-state="error"]', state="attached", timeout=READY)
    preview = page.locator("#viewer-main .ih-fallback canvas.ih-preview")
    preview.wait_for(state="visible", timeout=READY)
    assert preview.get_attribute("width") == "512"
    stats = page.evaluate(
        """() => {
          const c = document.querySelector('#viewer-main canvas.ih-preview');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let sum = 0, sq = 0, n = 0;
          for (let i = 0; i < d.length; i += 4) { sum += d[i]; sq += d[i] * d[i]; n += 1; }
          const mean = sum / n;
          return { mean, std: Math.sqrt(sq / n - mean * mean), gray: d[0] === d[1] && d[1] === d[2] };
        }"""
    )
    assert stats["std"] > 10, "the preview is blank"
    assert stats["gray"]
    assert page.evaluate("window.__firstRender") is not None  # the preview counts as the first image
    (artifacts_dir() / "ct-preview.png").write_bytes(preview.screenshot())


def test_palette_colour_and_secondary_captures_without_modality_render(
    context: BrowserContext, portal: Portal
) -> None:
    """A palette table arrives as InlineBinary, which Cornerstone does not read, and a capture
    with no Modality and no orientation stalled its NM check: both hung on "loading". Segmented
    tables, which Cornerstone does not read either, drew black."""
    platform = portal.platform
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="captures", author="lab")
    names = {
        "palette": "OBXXXX1A.dcm",
        "capture": "SC_jpeg_no_color_transform.dcm",
        "segmented-palette": "gdcm-US-ALOKA-16.dcm",
    }
    files: dict[str, bytes | None] = {
        f"{k}.dcm": Path(get_testdata_file(v)).read_bytes() for k, v in names.items()
    }
    commit = commit_files(platform, "lab", "captures", "main", files)
    run_pipeline(platform, "lab/captures", commit)
    for kind, name in names.items():
        series = pydicom.dcmread(get_testdata_file(name), stop_before_pixels=True).SeriesInstanceUID
        page = open_viewer(context, f"/lab/captures/view/main?series={series}")
        shown = pixels(page, "#viewer-main .ih-viewport canvas", f"{kind}-rendered")
        assert shown.std() > 10, f"the {kind} is blank"
        page.close()


def test_an_undecodable_slice_shows_a_message_and_every_other_slice_still_shows(
    context: BrowserContext, portal: Portal
) -> None:
    platform = portal.platform
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="damaged", author="lab")
    # The viewer orders slices by position, which for these files runs from the last to the
    # first: files 5 and 1 are the first slice shown and the fifth.
    files = jpeg_ls_series(6, damaged={5, 1})
    commit = commit_files(platform, "lab", "damaged", "main", files)
    run_pipeline(platform, "lab/damaged", commit)
    series = pydicom.dcmread(io.BytesIO(files["ct/00.dcm"] or b""), stop_before_pixels=True).SeriesInstanceUID
    page = open_viewer(context, f"/lab/damaged/view/main?series={series}")
    host, viewer = page.locator("#viewer-main"), "window.imagehubViewers['viewer-main']"
    message = page.locator("#viewer-main .ih-slice-error")
    assert host.get_attribute("data-slice-index") == "0"
    assert message.is_visible()
    assert message.inner_text().startswith("slice 1 could not be decoded: ")
    canvas = "#viewer-main .ih-viewport canvas"
    for index in (1, 2, 3, 5):
        page.evaluate(f"{viewer}.scrollTo({index})")
        assert host.get_attribute("data-slice-index") == str(index)
        assert message.is_hidden()
        assert pixels(page, canvas, f"damaged-series-{index}").std() > 10, f"slice {index + 1} is blank"
    page.evaluate(f"{viewer}.scrollTo(4).catch(() => {{}})")
    page.wait_for_selector('#viewer-main[data-slice-index="4"]', state="attached", timeout=10_000)
    message.wait_for(state="visible", timeout=10_000)
    assert message.inner_text().startswith("slice 5 could not be decoded: ")
    assert "cannot decode" in message.inner_text()  # the server's reason, not a bare HTTP status
    assert host.get_attribute("data-error") == message.inner_text()
    shot = page.locator("#viewer-main .ih-stage").screenshot()
    (artifacts_dir() / "damaged-slice-message.png").write_bytes(shot)
    page.evaluate(f"{viewer}.scrollTo(5)")  # scrolling goes on past it
    assert message.is_hidden()
    assert host.get_attribute("data-error") is None
    no_csp_violations(page)


def test_the_viewer_sidebar_fits_its_column_with_long_values(context: BrowserContext, portal: Portal) -> None:
    """UIDs, a description and file names with no space to break at used to push the sidebar
    past its column; they wrap or are cut, with the whole value in a tooltip."""
    platform = portal.platform
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="long-values", author="lab")
    ds = pydicom.dcmread(io.BytesIO(ct_instance_bytes(rows=64, columns=64)))
    ds.SeriesDescription = "T1_MPRAGE_SAG_ISO_POSTCONTRAST_RECONSTRUCTED_AXIAL_MULTIPLANAR_X"
    out = io.BytesIO()
    ds.save_as(out)
    name = "acquisition_" + "0123456789" * 12 + ".dcm"
    commit = commit_files(platform, "lab", "long-values", "main", {f"scans/{name}": out.getvalue()})
    run_pipeline(platform, "lab/long-values", commit)
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"/lab/long-values/view/main?series={ds.SeriesInstanceUID}")
    sizes = page.evaluate(
        "(() => { const a = document.querySelector('main aside'), d = document.documentElement;"
        " return [a.scrollWidth, a.clientWidth, d.scrollWidth, window.innerWidth]; })()"
    )
    (artifacts_dir() / "long-values-sidebar.png").write_bytes(page.locator("main aside").screenshot())
    assert sizes[0] <= sizes[1], f"the sidebar overflows: {sizes[0]} px of content in {sizes[1]} px"
    assert sizes[2] <= sizes[3], "the page scrolls sideways"
    file_link = page.locator(f"main aside a[href$='{name}']")
    assert file_link.get_attribute("title") == f"scans/{name}"
    assert page.locator(f'main aside td[title="{ds.SeriesInstanceUID}"]').count() == 1
    assert page.locator("h2[title]").get_attribute("title") == ds.SeriesDescription
