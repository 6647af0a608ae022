"""The proposal page in a real browser: the changed series side by side, pinned comments as
markers on their slice, and pinning a new one by clicking the image."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.browser.test_viewer import READY, no_csp_violations
from tests.support.browser import artifacts_dir
from tests.support.portal import Portal
from tests.support.proposals import CtProposal, open_ct_proposal, pin

AT = (150.0, 120.0)  # inside the bright square the source branch painted on its middle slices


@pytest.fixture(scope="module")
def proposal(portal: Portal) -> CtProposal:
    return open_ct_proposal(portal)


def _open_review(context: BrowserContext, proposal: CtProposal) -> Page:
    page = context.new_page()
    page.goto(f"{proposal.url}?series={proposal.series}")
    for side in ("before", "after"):
        page.wait_for_selector(f'#viewer-{side}[data-state="ready"]', state="attached", timeout=READY)
    return page


def _scroll(page: Page, index: int) -> None:
    page.evaluate(f"window.imagehubViewers['viewer-after'].scrollTo({index})")
    page.wait_for_selector(f'#viewer-before[data-slice-index="{index}"]', state="attached", timeout=10_000)


def _expected_position(page: Page, x: float, y: float) -> tuple[float, float]:
    """Where image point (x, y) of a 512x512 slice is on screen: the image is fitted, centred,
    into the viewport box at the start (no zoom or pan)."""
    box = page.locator("#viewer-after .ih-viewport").bounding_box()
    assert box
    scale = min(box["width"], box["height"]) / 512
    left = box["x"] + (box["width"] - 512 * scale) / 2
    top = box["y"] + (box["height"] - 512 * scale) / 2
    return left + x * scale, top + y * scale


def test_pinned_comment_is_a_marker_on_its_slice_of_the_side_by_side_viewer(
    context: BrowserContext, portal: Portal, proposal: CtProposal
) -> None:
    middle = proposal.slices // 2
    note = pin(portal, proposal, actor="lab", body="Is this square real?", at=(middle, *AT))
    page = _open_review(context, proposal)
    before, after = (page.locator(f"#viewer-{s}").bounding_box() for s in ("before", "after"))
    assert before
    assert after
    assert before["x"] + before["width"] <= after["x"]  # side by side, the change on the right
    assert abs(before["y"] - after["y"]) < 2

    marker = page.locator(f'#viewer-after .ih-marker[data-comment="{note}"]')
    assert marker.count() == 1
    assert page.locator("#viewer-before .ih-marker[data-comment]").count() == 0
    assert marker.is_hidden()  # the viewers open on slice 0

    _scroll(page, middle)
    marker.wait_for(state="visible", timeout=10_000)
    assert marker.get_attribute("href") == f"#comment-{note}"
    assert marker.get_attribute("title") == "lab: Is this square real?"
    box = marker.bounding_box()
    assert box
    want_x, want_y = _expected_position(page, *AT)
    assert abs(box["x"] + box["width"] / 2 - want_x) < 3
    assert abs(box["y"] + box["height"] / 2 - want_y) < 3
    page.add_style_tag(content=".ih-overlay { visibility: hidden }")
    (artifacts_dir() / "proposal-review-marker.png").write_bytes(page.locator("#series-review").screenshot())

    _scroll(page, middle + 2)
    marker.wait_for(state="hidden", timeout=10_000)
    no_csp_violations(page)


def test_a_click_in_pin_mode_fills_the_form_and_the_saved_comment_becomes_a_marker(
    context: BrowserContext, proposal: CtProposal
) -> None:
    page = _open_review(context, proposal)
    _scroll(page, 3)
    pin_button = page.locator("#viewer-after .ih-toolbar button:has-text('Pin comment')")
    pin_button.click()
    assert pin_button.get_attribute("aria-pressed") == "true"
    want_x, want_y = _expected_position(page, 200.0, 300.0)
    page.mouse.click(want_x, want_y)
    form = page.locator("#pin-form")
    assert form.locator('input[name="slice"]').input_value() == "3"
    assert abs(float(form.locator('input[name="x"]').input_value()) - 200.0) < 2
    assert abs(float(form.locator('input[name="y"]').input_value()) - 300.0) < 2
    assert page.locator("#viewer-after .ih-marker--pending").is_visible()
    form.locator("textarea").fill("A dark spot here")
    with page.expect_navigation():
        form.locator('button[type="submit"]').click()
    assert "#comment-" in page.url
    page.wait_for_selector('#viewer-after[data-state="ready"]', state="attached", timeout=READY)
    saved = page.locator("#viewer-after .ih-marker[title='lab: A dark spot here']")
    assert saved.count() == 1
    _scroll(page, 3)
    saved.wait_for(state="visible", timeout=10_000)
    entry = page.locator("#timeline li.comment", has_text="A dark spot here")
    assert "at slice 4" in entry.inner_text()
    no_csp_violations(page)
