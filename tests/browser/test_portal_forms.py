"""Portal forms in a real browser: HTMX comment forms show a refusal's reason in an alert by the
form and empty once the comment is saved (portal.js); the explore filters have hidden labels."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.test_viewer import no_csp_violations
from tests.support.accounts import PASSWORD
from tests.support.browser import signed_in_context
from tests.support.forms import DS, Site, running_site

# A conversation's page, where its comments go, and why a blank comment is refused there.
CONVERSATIONS = [
    (f"{DS}/issues/1", "#comments", "a comment cannot be empty"),
    (f"{DS}/proposals/1", "#timeline", "a comment needs some text"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("browser-forms")) as running:
        yield running


@pytest.fixture
def page(chromium: Browser, site: Site) -> Iterator[Page]:
    context = signed_in_context(chromium, site.base, "lab", PASSWORD)
    yield context.new_page()
    context.close()


@pytest.mark.parametrize(("url", "thread", "reason"), CONVERSATIONS)
def test_a_refused_comment_shows_the_servers_reason_by_the_form(
    page: Page, url: str, thread: str, reason: str
) -> None:
    page.goto(url)
    form = page.locator("#comment-form")
    form.locator("textarea[name=body]").fill("   ")  # passes the browser's check, not the server's
    with page.expect_response(lambda r: r.url.endswith("/comments")) as answered:
        form.locator("button[type=submit]").click()
    assert answered.value.status == 422
    alert = form.get_by_role("alert")
    expect(alert).to_have_text(
        "a comment cannot be empty" if "issues" in url else "a comment needs some text"
    )
    expect(form.locator("textarea[name=body]")).to_have_value("   ")  # kept, to correct
    assert page.url.endswith(url)  # no page of its own: the comment box stays where it was
    no_csp_violations(page)


@pytest.mark.parametrize(("url", "thread", "reason"), CONVERSATIONS)
def test_a_saved_comment_empties_the_form_and_clears_the_alert(
    page: Page, url: str, thread: str, reason: str
) -> None:
    page.goto(url)
    form = page.locator("#comment-form")
    box = form.locator("textarea[name=body]")
    box.fill(" ")
    form.locator("button[type=submit]").click()
    expect(form.get_by_role("alert")).to_have_text(reason)
    box.fill("Slice 4 looks fine to me")
    form.locator("button[type=submit]").click()
    expect(page.locator(thread)).to_contain_text("Slice 4 looks fine to me")
    expect(box).to_have_value("")
    expect(form.get_by_role("alert")).to_have_count(0)
    expect(form.locator("input[name=csrf_token]")).not_to_have_value("")  # the next comment still goes
    no_csp_violations(page)


def test_explore_filters_have_labels_read_but_not_shown(page: Page) -> None:
    page.goto("/?owner=lab")
    for name in ("Name or description", "Owner", "Modality"):
        expect(page.get_by_label(name, exact=True)).to_have_count(1)
        label = page.locator("label", has_text=name).bounding_box()
        assert label is not None
        assert label["width"] <= 1  # the placeholder says it on screen
    expect(page.get_by_label("Owner", exact=True)).to_have_value("lab")
