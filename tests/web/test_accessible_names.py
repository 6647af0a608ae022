"""Every form control on the portal's pages has an accessible name (WCAG 4.1.2): a screen
reader must not announce a bare "edit text" where sighted users read a placeholder."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

import httpx
import pytest

from imagehub.services import datasets
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.forms import DS, Site, running_site
from tests.support.live_server import live_server

CONTROLS = {"input", "select", "textarea"}
UNNAMED_TYPES = {"hidden", "submit", "button", "reset", "image"}  # named by their value, or not shown


class Controls(HTMLParser):
    """Each shown form control with how it is named: its aria-label, a label around it, or a
    ``<label for>`` naming its id (resolved at the end, as labels may come after the control)."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.label_text: dict[str, str] = {}  # the for= of each label: its text
        self._labels: list[dict[str, str]] = []  # open labels, innermost last

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label":
            self._labels.append({"for": found.get("for") or "", "text": ""})
        elif tag in CONTROLS and found.get("type") not in UNNAMED_TYPES:
            found["_wrapped"] = "yes" if self._labels else None
            self.controls.append({"tag": tag, **found})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self._labels:
            label = self._labels.pop()
            if label["for"]:
                self.label_text[label["for"]] = label["text"].strip()

    def handle_data(self, data: str) -> None:
        for label in self._labels:
            label["text"] += data

    def unnamed(self) -> list[str]:
        def named(c: dict[str, str | None]) -> bool:
            by_for = bool(self.label_text.get(c.get("id") or ""))
            return bool(
                (c.get("aria-label") or "").strip() or c.get("aria-labelledby") or c["_wrapped"] or by_for
            )

        return [f"<{c['tag']} name={c.get('name')!r}>" for c in self.controls if not named(c)]


def controls_of(page: str) -> Controls:
    parser = Controls()
    parser.feed(page)
    return parser


def test_explore_filters_are_labelled(platform: Platform) -> None:
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="open", author="lab", visibility="public")
    with live_server(create_app(platform)) as base:
        page = httpx.get(f"{base}/", params={"q": "open", "owner": "lab", "modality": "CT"})
    assert page.status_code == 200
    found = controls_of(page.text)
    assert found.unnamed() == []
    filters = {
        c.get("id"): c.get("value") for c in found.controls if (c.get("id") or "").startswith("filter-")
    }
    assert filters == {"filter-q": "open", "filter-owner": "lab", "filter-modality": "CT"}
    assert {key: found.label_text[key] for key in filters} == {
        "filter-q": "Name or description",
        "filter-owner": "Owner",
        "filter-modality": "Modality",
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("names")) as running:
        yield running


@pytest.mark.parametrize(
    "path", ["/new", f"{DS}/issues/new", f"{DS}/issues/1", f"{DS}/proposals/new", f"{DS}/proposals/1"]
)
def test_form_pages_name_every_control(site: Site, path: str) -> None:
    with site.browser() as web:
        page = web.get(path)
    assert page.status_code == 200
    found = controls_of(page.text)
    assert found.controls  # the page's forms were found
    assert found.unnamed() == []
