"""Every portal page on a seeded dataset, through a real server and a signed-in browser session."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import httpx
import pytest

from imagehub.services import audit, datasets
from tests.support.accounts import PASSWORD
from tests.support.datasets import commit_files
from tests.support.portal import Portal

DS = "/lab/scans"


@pytest.fixture(scope="module")
def web(portal: Portal) -> Iterator[httpx.Client]:
    with portal.browser() as client:
        yield client


def _attrs(html: str, element_id: str) -> dict[str, str]:
    tag = re.search(rf'<div[^>]*id="{element_id}"[^>]*>', html)
    assert tag, f"no element #{element_id}"
    return dict(re.findall(r'(data-[\w-]+)="([^"]*)"', tag.group(0)))


def test_anonymous_visitors_are_sent_to_sign_in_and_come_back(portal: Portal) -> None:
    with httpx.Client(base_url=portal.base) as anonymous:
        assert "Sign in" in anonymous.get("/").text
        away = anonymous.get(f"{DS}/tree/main")
        assert away.status_code == 303
        assert away.headers["location"] == "/login?next=%2Flab%2Fscans%2Ftree%2Fmain"
        wrong = anonymous.post("/login", data={"username": "lab", "password": "nope", "next": "/x"})
        assert wrong.status_code == 401
        assert "Wrong username or password" in wrong.text
        back = anonymous.post(
            "/login", data={"username": "lab", "password": PASSWORD, "next": f"{DS}/tree/main"}
        )
        assert back.status_code == 303
        assert back.headers["location"] == f"{DS}/tree/main"
        assert anonymous.get(back.headers["location"]).status_code == 200
        offsite = anonymous.post(
            "/login", data={"username": "lab", "password": PASSWORD, "next": "//evil.example"}
        )
        assert offsite.headers["location"] == "/"


def test_explore_lists_readable_datasets_with_filters(portal: Portal, web: httpx.Client) -> None:
    page = web.get("/").text
    assert f'href="{DS}"' in page
    assert "Brain MR and a CT" in page
    assert ">MR<" in page
    assert f'href="{DS}"' in web.get("/", params={"modality": "mr"}).text
    assert f'href="{DS}"' not in web.get("/", params={"modality": "CT"}).text  # the CT left main
    assert f'href="{DS}"' not in web.get("/", params={"q": "no such words"}).text
    with portal.browser("outsider") as outsider:
        assert f'href="{DS}"' not in outsider.get("/").text


def test_home_names_its_ref_in_the_url_and_unknown_refs_are_not_found(web: httpx.Client) -> None:
    bare = web.get(DS)
    assert bare.status_code == 303
    assert bare.headers["location"] == f"{DS}?ref=main"
    assert web.get(DS, params={"ref": "no-such-ref"}).status_code == 404


def test_explore_does_not_summarise_a_raw_default_branch(portal: Portal, web: httpx.Client) -> None:
    with portal.platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="scanner-export", author="lab", default_branch="raw")
    page = web.get("/", params={"q": "scanner-EXPORT"}).text
    assert 'href="/lab/scanner-export"' in page
    assert "raw data: open the dataset to see it" in page
    assert 'href="/lab/scans"' not in page  # the text filter runs in the database query
    assert web.get("/", params={"q": "100%_"}).status_code == 200


def test_home_renders_the_datasheet_safely_with_stats_and_clone_command(
    portal: Portal, web: httpx.Client
) -> None:
    page = web.get(DS, params={"ref": "main"}).text
    assert "<h1>Brain MR study</h1>" in page
    assert "<strong>real</strong>" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page
    assert f"imagehub clone lab/scans --url {portal.base}" in page
    assert re.search(r"<th>Files</th><td>24</td>", page)  # 20 MR, a volume, its labels, README, notes
    size = web.get(f"{DS}/-/size/main").text
    assert 'title="24 files"' in size


def test_a_datasheet_too_large_to_show_is_named_not_offered_again(portal: Portal, web: httpx.Client) -> None:
    with portal.platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="big-sheet", author="lab")
    commit_files(portal.platform, "lab", "big-sheet", "main", {"README.md": b"# Big\n" + b"x" * 600_000})
    page = web.get("/lab/big-sheet", params={"ref": "main"}).text
    assert 'id="datasheet-too-large"' in page
    assert 'href="/lab/big-sheet/file/main?path=README.md"' in page
    assert 'id="add-datasheet"' not in page


def test_tree_pages_folders_and_loads_more_rows_as_a_fragment(portal: Portal, web: httpx.Client) -> None:
    root = web.get(f"{DS}/tree/main").text
    assert "mr/</a>" in root
    assert "volumes/</a>" in root
    assert ">README.md</a>" in root
    mr = web.get(f"{DS}/tree/main", params={"path": "mr/"}).text
    names = re.findall(r'class="file"><td><a [^>]*>([^<]+)</a>', mr)
    assert len(names) == 20
    assert names == sorted(names)
    fragment = web.get(
        f"{DS}/tree/main", params={"path": "mr/", "after": f"mr/{names[4]}"}, headers={"HX-Request": "true"}
    )
    assert "<html" not in fragment.text
    assert re.findall(r'class="file"><td><a [^>]*>([^<]+)</a>', fragment.text) == names[5:]


def test_file_page_shows_the_header_and_links_into_the_viewer(portal: Portal, web: httpx.Client) -> None:
    listing = web.get(f"{DS}/tree/main", params={"path": "mr/"}).text
    first = "mr/" + re.findall(r'class="file"><td><a [^>]*>([^<]+)</a>', listing)[0]
    page = web.get(f"{DS}/file/main", params={"path": first}).text
    assert "<th>modality</th><td>MR</td>" in page
    assert f"/view/main?series={portal.seeded.mr_series}" in page
    assert "Not an image" in web.get(f"{DS}/file/main", params={"path": "notes.txt"}).text


def test_series_page_shows_thumbnails_that_load_with_the_session(portal: Portal, web: httpx.Client) -> None:
    page = web.get(f"{DS}/series/main").text
    assert "20 instances" in page
    assert "FSE PD AXIAL OBL" in page
    assert "1 file" in page
    thumbnails = re.findall(
        r'src="(/api/v1/datasets/lab/scans/refs/[0-9a-f]{64}/series/thumbnail\?[^"]+)"', page
    )
    assert len(thumbnails) == 3
    for src in thumbnails:
        image = web.get(src.replace("&amp;", "&"))
        assert image.status_code == 200
        assert image.content.startswith(b"\x89PNG")


def test_viewer_page_mounts_the_dicom_widget_pinned_to_the_commit(portal: Portal, web: httpx.Client) -> None:
    seeded = portal.seeded
    page = web.get(f"{DS}/view/main", params={"series": seeded.mr_series}).text
    attrs = _attrs(page, "viewer-main")
    assert attrs["data-ih-viewer"] == "dicom"
    assert attrs["data-wado-root"] == f"/api/v1/datasets/lab/scans/refs/{seeded.second.id}/dicomweb"
    assert attrs["data-series"] == seeded.mr_series
    assert attrs["data-study"]
    assert "/static/viewer/viewer.js" in page
    assert "<img" in page
    assert "instance_metadata" in page
    assert re.search(r"dicom 20, [^<]*nifti 2", page)  # what the metadata step found at this commit
    assert "http://dagster.example:3000/assets/instance_metadata?partition=" in page
    assert f"?series={seeded.mr_series}&amp;as=volume" in page
    as_volume = web.get(f"{DS}/view/main", params={"series": seeded.mr_series, "as": "volume"}).text
    volume = _attrs(as_volume, "viewer-main")
    assert volume["data-ih-viewer"] == "nifti"
    nifti = web.get(volume["data-volume-url"].replace("&amp;", "&"))
    assert nifti.status_code == 200
    assert nifti.content[:2] == b"\x1f\x8b"


def test_a_label_map_can_be_laid_over_a_volume(portal: Portal, web: httpx.Client) -> None:
    series = re.findall(r"series=(nifti%3A[0-9a-f]{64})", web.get(f"{DS}/series/main").text)
    pages = [web.get(f"{DS}/view/main?series={key}").text for key in series]
    volume = next(
        key for key, page in zip(series, pages, strict=True) if 'data-volume-name="example.nii.gz"' in page
    )
    plain = pages[series.index(volume)]
    assert '<option value="volumes/example_labels.nii.gz"' in plain
    page = web.get(f"{DS}/view/main?series={volume}&overlay=volumes/example_labels.nii.gz").text
    attrs = _attrs(page, "viewer-main")
    assert attrs["data-overlay-name"] == "example_labels.nii.gz"
    labels = web.get(attrs["data-overlay-url"].replace("&amp;", "&"))
    assert labels.status_code == 200
    assert web.get(f"{DS}/view/main?series={volume}&overlay=no/such.nii").status_code == 404


def test_viewer_page_mounts_niivue_for_a_nifti_volume(portal: Portal, web: httpx.Client) -> None:
    series = re.findall(r"series=(nifti%3A[0-9a-f]{64})", web.get(f"{DS}/series/main").text)
    views = [_attrs(web.get(f"{DS}/view/main?series={key}").text, "viewer-main") for key in series]
    attrs = next(a for a in views if a["data-volume-name"] == "example.nii.gz")
    assert attrs["data-ih-viewer"] == "nifti"
    assert attrs["data-volume-name"] == "example.nii.gz"
    content = web.get(attrs["data-volume-url"].replace("&amp;", "&"))
    assert content.status_code == 200
    assert content.content[:2] == b"\x1f\x8b"


def test_commit_log_and_commit_page_describe_the_change_in_series(portal: Portal, web: httpx.Client) -> None:
    seeded = portal.seeded
    log = web.get(f"{DS}/commits/main").text
    assert log.index(seeded.second.id[:10]) < log.index(seeded.first.id[:10])
    page = web.get(f"{DS}/commit/{seeded.second.id}").text
    rows = dict(
        re.findall(r'<tr class="series-change (\w+)">.*?<span class="mono muted">([^<]+)</span>', page, re.S)
    )
    assert set(rows) == {"added", "removed", "modified"}
    assert rows["removed"].startswith(seeded.ct_series[:20])
    assert rows["modified"].startswith(seeded.mr_series[:20])
    assert "14 files" in page  # MR gained fourteen slices
    assert re.search(r'<td class="removed">removed</td>\s*<td><a [^>]*>ct/ct.dcm</a>', page)


def test_compare_page_and_side_by_side_viewers(portal: Portal, web: httpx.Client) -> None:
    seeded = portal.seeded
    page = web.get(f"{DS}/compare", params={"left": seeded.first.id, "right": "main"}).text
    assert page.count('class="series-change') == 4  # MR modified, CT removed, volume and labels added
    link = f"/view-compare?left={seeded.first.id}&amp;right={seeded.second.id}&amp;series={seeded.mr_series}"
    assert link in page
    both = web.get(f"{DS}{link.replace('&amp;', '&')}").text
    before, after = _attrs(both, "viewer-before"), _attrs(both, "viewer-after")
    assert before["data-sync"] == after["data-sync"] == "compare"
    assert seeded.first.id in before["data-wado-root"]
    assert seeded.second.id in after["data-wado-root"]
    assert "Choose two versions" in web.get(f"{DS}/compare").text


def test_upload_page_is_for_writers_only(portal: Portal, web: httpx.Client) -> None:
    page = web.get(f"{DS}/upload/main").text
    form = re.search(r'<form id="upload-form"[^>]*>', page)
    assert form
    assert 'data-api="/api/v1/datasets/lab/scans"' in form.group(0)
    assert re.search(r'data-csrf="[\w-]{20,}"', form.group(0))
    with portal.browser("outsider") as outsider:
        assert outsider.get(f"{DS}/upload/main").status_code == 404  # not even told it exists
    assert web.get(f"{DS}/upload/no-such-branch").status_code == 404


def test_raw_branches_ask_for_a_purpose_and_record_it(portal: Portal, web: httpx.Client) -> None:
    with portal.platform.sessions.begin() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="scans"))
        repo.create_branch("raw", "main")
    asked = web.get(f"{DS}/tree/raw")
    assert asked.status_code == 428
    assert 'name="purpose"' in asked.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', asked.text)
    assert csrf
    stated = web.post(
        "/purpose", data={"purpose": "QA of IRB-7", "next": f"{DS}/tree/raw", "csrf_token": csrf.group(1)}
    )
    assert stated.status_code == 303
    assert web.get(f"{DS}/tree/raw").status_code == 200
    with portal.platform.sessions() as session:
        opened = audit.search(session, action="phi.open", dataset="lab/scans", limit=10)
    assert any(e.ref == "raw" and e.purpose == "QA of IRB-7" for e in opened)


def test_commit_page_loads_more_file_changes_as_a_fragment(portal: Portal, web: httpx.Client) -> None:
    second = portal.seeded.second.id
    fragment = web.get(f"{DS}/commit/{second}", params={"after": "mr/"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "ct/ct.dcm" not in fragment.text  # before the cursor
    assert "volumes/example.nii.gz" in fragment.text


def test_a_stated_purpose_may_be_in_any_script_and_ends_with_the_session(portal: Portal) -> None:
    with portal.platform.sessions.begin() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="scans"))
        repo.create_branch("raw-2", "main")
    with portal.browser() as web:
        asked = web.get(f"{DS}/tree/raw-2")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', asked.text)
        assert csrf
        purpose = "IRB 審査 2026"
        web.post("/purpose", data={"purpose": purpose, "next": "/", "csrf_token": csrf.group(1)})
        assert web.get(f"{DS}/tree/raw-2").status_code == 200
        again = web.post("/login", data={"username": "lab", "password": PASSWORD, "next": "/"})
        assert again.status_code == 303
        assert web.get(f"{DS}/tree/raw-2").status_code == 428  # a new session states its own purpose
    with portal.platform.sessions() as session:
        opened = audit.search(session, action="phi.open", dataset="lab/scans", limit=50)
    assert any(e.ref == "raw-2" and e.purpose == purpose for e in opened)


def test_sign_in_refuses_forms_posted_from_other_sites(portal: Portal) -> None:
    with httpx.Client(base_url=portal.base) as client:
        form = {"username": "lab", "password": PASSWORD, "next": "/"}
        assert client.post("/login", data=form, headers={"Origin": "http://evil.example"}).status_code == 403
        assert client.post("/login", data=form, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
        assert client.post("/login", data=form, headers={"Origin": portal.base}).status_code == 303


def test_fragments_ask_a_signed_out_browser_to_sign_in(portal: Portal) -> None:
    with httpx.Client(base_url=portal.base) as anonymous:
        fragment = anonymous.get(f"{DS}/-/size/main", headers={"HX-Request": "true"})
    assert fragment.status_code == 401
    assert fragment.headers["HX-Redirect"].startswith("/login?next=")


def test_errors_are_pages_not_tracebacks(web: httpx.Client) -> None:
    missing = web.get("/lab/no-such-dataset")
    assert missing.status_code == 404
    assert "<h1>Not found</h1>" in missing.text
    bad = web.get(f"{DS}/tree/no-such-ref")
    assert bad.status_code == 404
    assert "no branch, tag or commit" in bad.text
    assert web.get(f"{DS}/tree/main", params={"path": "../etc"}).status_code == 422
    assert web.get(f"{DS}/tree/main", params={"path": "no/such/folder"}).status_code == 404
    invalid = web.get(f"{DS}/file/main")  # no path
    assert invalid.status_code == 422
    assert "<h1>" in invalid.text
    assert web.post("/purpose", data={"purpose": "x" * 10}).status_code == 403  # no CSRF token


def test_static_files_are_named_by_content_and_kept_for_good(web: httpx.Client) -> None:
    page = web.get("/").text
    css = re.search(r'href="(/static/portal/portal\.css\?v=([0-9a-f]{16}))"', page)
    assert css is not None
    kept = web.get(css.group(1))
    assert kept.status_code == 200
    assert kept.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert hashlib.sha256(kept.content).hexdigest()[:16] == css.group(2)  # a change renames it
    plain = web.get("/static/portal/portal.css")
    assert plain.headers["cache-control"] == "no-cache"  # unversioned: revalidated
    assert web.get("/").headers["cache-control"] == "no-store"  # pages may carry PHI


def test_the_sign_in_page_does_not_send_visitors_back_to_itself(portal: Portal) -> None:
    with httpx.Client(base_url=portal.base) as anonymous:
        form = anonymous.get("/login", params={"next": "/login?next=%2Flogin"}).text
        assert 'href="/login?next=' not in form  # no header link to the page itself
        assert 'name="next" value="/"' in form
    with portal.browser() as signed_in:
        away = signed_in.get("/login", params={"next": f"{DS}/tree/main"})
        assert away.status_code == 303
        assert away.headers["location"] == f"{DS}/tree/main"
