"""DICOMweb (QIDO-RS, WADO-RS, STOW-RS) driven by the real dicomweb-client against a live server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom.encaps import encapsulate

from imagehub.core.imaging.synthetic import ct_instance_bytes
from imagehub.services import access, audit, datasets
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import bearer, make_user
from tests.support.datasets import commit_files
from tests.support.dicom_files import pydicom_file
from tests.support.live_server import live_server
from tests.support.platforms import migrated_platform
from tests.support.ports import free_port

DS = "/api/v1/datasets/lab/scans"
DICOM = "application/dicom"
EXPLICIT = "1.2.840.10008.1.2.1"  # Explicit VR Little Endian
OTHER_FILES = ["CT_small.dcm", "MR_small.dcm", "rtdose.dcm", "JPGExtended.dcm", "SC_rgb_rle_2frame.dcm"]


def part10(ds: pydicom.Dataset) -> bytes:
    """The bytes dicomweb-client sends for a data set (it encodes with ``dcmwrite``)."""
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds)
    return buffer.getvalue()


def parts_of(response: httpx.Response) -> list[tuple[str, bytes]]:
    """(Content-Type, body) of each part of a multipart/related response."""
    boundary = response.headers["content-type"].split("boundary=")[1].encode()
    chunks = response.content.split(b"--" + boundary)[1:-1]
    parsed = []
    for chunk in chunks:
        head, _, body = chunk.partition(b"\r\n\r\n")
        parsed.append((head.decode().split("Content-Type: ")[1], body[:-2]))
    return parsed


@dataclass
class Hub:
    base: str
    token: str
    platform: Platform

    def client(self, ref: str = "main", token: str | None = None) -> DICOMwebClient:
        return DICOMwebClient(url=f"{self.base}{DS}/refs/{ref}/dicomweb", headers=bearer(token or self.token))

    def here(self, uri: str) -> str:
        """``uri`` on this server: dicomweb-client sends a Host header without the port, so the
        server's absolute URIs name port 80."""
        return self.base + urlparse(uri).path

    def http(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.base}{DS}/refs/main/dicomweb", headers=bearer(token or self.token)
        )


def post_parts(
    hub: Hub, parts: list[bytes], url: str = "/studies", token: str | None = None, content_type: str = DICOM
) -> httpx.Response:
    """A STOW-RS request of these parts, each labelled application/dicom."""
    body = (
        b"".join(b"--XyZ\r\nContent-Type: application/dicom\r\n\r\n" + p + b"\r\n" for p in parts)
        + b"--XyZ--\r\n"
    )
    headers = {"Content-Type": f'multipart/related; type="{content_type}"; boundary=XyZ'}
    with hub.http(token) as http:
        return http.post(url, content=body, headers=headers)


def stow_result(response: httpx.Response) -> pydicom.Dataset:
    return pydicom.Dataset.from_json(response.json())


def head_of(hub: Hub) -> str:
    with hub.platform.sessions() as session:
        dataset = datasets.get(session, owner="lab", name="scans")
        return datasets.repository(session, dataset).resolve("main").id


@pytest.fixture
def hub(platform: Platform) -> Iterator[Hub]:
    token = make_user(platform, "lab")
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="scans", author="lab")
    with live_server(create_app(platform)) as base:
        yield Hub(base, token, platform)


@pytest.fixture(scope="module")
def ct_series() -> list[pydicom.Dataset]:
    """Four 512x512 slices of one synthetic CT series."""
    return [pydicom.dcmread(io.BytesIO(ct_instance_bytes(seed=11, slice_index=i))) for i in range(4)]


@pytest.fixture(scope="module")
def others() -> dict[str, pydicom.Dataset]:
    """Single- and multi-frame, native and compressed (JPEG extended, RLE) files of pydicom's."""
    return {name: pydicom.dcmread(pydicom_file(name)) for name in OTHER_FILES}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_store_search_and_retrieve(
    hub: Hub, ct_series: list[pydicom.Dataset], others: dict[str, pydicom.Dataset]
) -> None:
    client = hub.client()
    sent = [*ct_series, *others.values()]
    stored = client.store_instances(sent)
    assert len(stored.ReferencedSOPSequence) == len(sent)
    assert "FailedSOPSequence" not in stored or not stored.FailedSOPSequence
    ct = ct_series[0]

    # QIDO-RS: studies by patient, name wildcards, date ranges, pages
    studies = client.search_for_studies()
    assert len(studies) == len({ds.StudyInstanceUID for ds in sent})
    found = client.search_for_studies(search_filters={"PatientID": ct.PatientID})
    assert [s["0020000D"]["Value"][0] for s in found] == [ct.StudyInstanceUID]
    study = pydicom.Dataset.from_json(found[0])
    assert (study.NumberOfStudyRelatedSeries, study.NumberOfStudyRelatedInstances) == (1, 4)
    assert study.ModalitiesInStudy == "CT"
    assert str(study.PatientName) == str(ct.PatientName)
    assert study.RetrieveURL.endswith(f"/refs/main/dicomweb/studies/{ct.StudyInstanceUID}")
    family = str(ct.PatientName).split("^")[0]
    by_name = client.search_for_studies(search_filters={"PatientName": f"{family.lower()[:3]}*"})
    assert ct.StudyInstanceUID in [s["0020000D"]["Value"][0] for s in by_name]
    in_2004 = client.search_for_studies(search_filters={"StudyDate": "20040101-20041231"})
    assert {s["00080020"]["Value"][0][:4] for s in in_2004} == {"2004"}
    assert len(in_2004) == 3  # CT_small, MR_small and JPGExtended; the others are from other years
    paged = [client.search_for_studies(offset=n, limit=2) for n in (0, 2, 4)]
    assert [s["0020000D"] for page in paged for s in page] == [s["0020000D"] for s in studies]

    # QIDO-RS: series and instances, with the study attributes a search of all series returns
    series = client.search_for_series(search_filters={"Modality": "CT"})
    assert {s["0020000E"]["Value"][0] for s in series} == {
        ct.SeriesInstanceUID,
        others["CT_small.dcm"].SeriesInstanceUID,
    }
    assert all("00100010" in s for s in series)
    instances = client.search_for_instances(
        ct.StudyInstanceUID, ct.SeriesInstanceUID, fields=["BodyPartExamined"]
    )
    assert [i["00080018"]["Value"][0] for i in instances] == [ds.SOPInstanceUID for ds in ct_series]
    assert (instances[0]["00280010"]["Value"], instances[0]["00280100"]["Value"]) == ([512], [16])
    with hub.http() as http:
        bad = http.get("/studies", params={"PatientAge": "042Y"})
        assert bad.status_code == 400
        assert "cannot search on PatientAge" in bad.json()["detail"]
        assert (
            http.get("/studies", params={"Foo": "1"}).json()["detail"].startswith("unknown query key 'Foo'")
        )

    # WADO-RS: the stored bytes, unchanged
    retrieved = client.retrieve_instance(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    assert retrieved.PixelData == ct.PixelData
    with hub.http() as http:
        response = http.get(
            f"/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}/instances/{ct.SOPInstanceUID}"
        )
        assert response.headers["content-type"].startswith('multipart/related; type="application/dicom"')
        assert parts_of(response) == [(f"application/dicom; transfer-syntax={EXPLICIT}", part10(ct))]
        assert response.headers["content-security-policy"] == "sandbox; default-src 'none'"
    whole = client.retrieve_series(ct.StudyInstanceUID, ct.SeriesInstanceUID)
    assert sorted(ds.SOPInstanceUID for ds in whole) == sorted(ds.SOPInstanceUID for ds in ct_series)

    # WADO-RS: metadata, with pixel and other bulk data by reference
    metadata = client.retrieve_series_metadata(ct.StudyInstanceUID, ct.SeriesInstanceUID)
    assert len(metadata) == 4
    assert all(m["7FE00010"]["BulkDataURI"].endswith("/bulkdata/7FE00010") for m in metadata)
    small = others["CT_small.dcm"]
    header = client.retrieve_instance_metadata(
        small.StudyInstanceUID, small.SeriesInstanceUID, small.SOPInstanceUID
    )
    private = hub.here(header["00431029"]["BulkDataURI"])  # 2 KiB of private OB data
    assert client.retrieve_bulkdata(private) == [small[0x00431029].value]
    assert client.retrieve_bulkdata(hub.here(header["7FE00010"]["BulkDataURI"])) == [small.PixelData]
    dose = others["rtdose.dcm"]  # 15 frames: one value, not a part per frame
    header = client.retrieve_instance_metadata(
        dose.StudyInstanceUID, dose.SeriesInstanceUID, dose.SOPInstanceUID
    )
    assert client.retrieve_bulkdata(hub.here(header["7FE00010"]["BulkDataURI"])) == [dose.PixelData]

    # WADO-RS: frames as native little-endian bytes, decoded when the file is compressed
    def frames(ds: pydicom.Dataset, numbers: list[int]) -> list[bytes]:
        return client.retrieve_instance_frames(
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, numbers
        )

    assert frames(ct, [1]) == [ct.PixelData]
    size = len(dose.PixelData) // 15
    assert frames(dose, [15, 2]) == [dose.PixelData[14 * size :], dose.PixelData[size : 2 * size]]
    jpeg = others["JPGExtended.dcm"]
    assert frames(jpeg, [1]) == [jpeg.pixel_array.astype("<u2").tobytes()]
    rle = others["SC_rgb_rle_2frame.dcm"]
    assert frames(rle, [2]) == [rle.pixel_array[1].tobytes()]
    with hub.http() as http:
        url = f"/studies/{dose.StudyInstanceUID}/series/{dose.SeriesInstanceUID}"
        url += f"/instances/{dose.SOPInstanceUID}"
        frame = http.get(f"{url}/frames/3")
        assert parts_of(frame) == [
            (
                "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1",
                dose.PixelData[2 * size : 3 * size],
            )
        ]
        beyond = http.get(f"{url}/frames/16")
        assert beyond.status_code == 404
        assert "has 15 frame(s): there is no frame 16" in beyond.json()["detail"]
        assert http.get(f"{url}/frames/0").status_code == 400

    # WADO-RS: rendered images
    jpeg = client.retrieve_instance_rendered(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    assert Image.open(io.BytesIO(jpeg)).format == "JPEG"  # the default for a single frame
    assert Image.open(io.BytesIO(jpeg)).size == (512, 512)
    with hub.http() as http:
        url = f"/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}"
        jpeg_image = http.get(
            f"{url}/instances/{ct.SOPInstanceUID}/frames/1/rendered",
            params={"window": "40,400,linear", "viewport": "128,64"},
            headers={"Accept": "image/jpeg"},
        )
        assert jpeg_image.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(jpeg_image.content)).size == (64, 64)
        middle = http.get(f"{url}/rendered", params={"viewport": "256,256"})
        assert Image.open(io.BytesIO(middle.content)).size == (256, 256)
        assert http.get(f"{url}/rendered", params={"window": "40,-1"}).status_code == 400

    with hub.platform.sessions() as session:
        viewed = audit.search(session, action="image.view", dataset="lab/scans", limit=1000)
    assert len(viewed) == 17  # one per WADO request above that was answered with an image
    assert {e.object for e in viewed} >= {ct.SOPInstanceUID, ct.SeriesInstanceUID, dose.SOPInstanceUID}


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_stored_study_is_found_at_once_and_stored_again_without_a_commit(hub: Hub) -> None:
    slices = [
        pydicom.dcmread(io.BytesIO(ct_instance_bytes(seed=3, slice_index=i, rows=64, columns=64)))
        for i in range(2)
    ]
    client = hub.client()
    client.store_instances(slices)
    found = client.search_for_instances(slices[0].StudyInstanceUID)
    assert sorted(i["00080018"]["Value"][0] for i in found) == sorted(ds.SOPInstanceUID for ds in slices)
    with hub.platform.sessions() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="scans"))
        head = repo.resolve("main")
        paths = [e.path for e in repo.list_objects("main")]
    assert (head.message, head.author) == ("STOW-RS: 2 instances", "lab")
    assert paths == sorted(
        f"dicom/{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm" for ds in slices
    )
    again = client.store_instances(slices, study_instance_uid=slices[0].StudyInstanceUID)
    assert len(again.ReferencedSOPSequence) == 2
    with hub.platform.sessions() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="scans"))
        assert repo.resolve("main").id == head.id
        stores = audit.search(session, action="dicomweb.store", dataset="lab/scans")
    assert [e.details["stored"] for e in stores] == [2, 2]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_version_committed_otherwise_is_indexed_on_first_search(hub: Hub) -> None:
    small = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    commit_files(
        hub.platform,
        "lab",
        "scans",
        "main",
        {"scans/ct.dcm": pydicom_file("CT_small.dcm").read_bytes(), "notes.txt": b"x"},
    )
    (study,) = hub.client().search_for_studies()
    assert study["0020000D"]["Value"] == [small.StudyInstanceUID]
    older = hub.client(ref="main~1").search_for_studies()
    assert older == []
    changed = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    changed.PatientName = "Someone^Else"  # the same instance, other content, stored elsewhere
    with pytest.raises(requests.HTTPError) as refused:
        hub.client().store_instances([changed])
    assert refused.value.response.status_code == 409
    (failure,) = pydicom.Dataset.from_json(refused.value.response.json()).FailedSOPSequence
    assert (failure.ReferencedSOPInstanceUID, failure.FailureReason) == (small.SOPInstanceUID, 0x0111)
    again = hub.client().store_instances([small])  # the very bytes: already stored, no commit
    assert len(again.ReferencedSOPSequence) == 1
    assert len(hub.client().search_for_instances(small.StudyInstanceUID)) == 1
    (only,) = hub.client().search_for_studies()
    assert only["00100010"]["Value"][0]["Alphabetic"] == str(small.PatientName)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_partial_failures_and_refusals(hub: Hub) -> None:
    good = ct_instance_bytes(seed=5, rows=32, columns=32)
    study = pydicom.dcmread(io.BytesIO(good)).StudyInstanceUID

    def stow(
        parts: list[bytes], url: str = "/studies", token: str | None = None, content_type: str = DICOM
    ) -> httpx.Response:
        return post_parts(hub, parts, url, token, content_type)

    mixed = stow([good, b"not dicom at all" * 20])
    assert mixed.status_code == 202
    result = stow_result(mixed)
    assert [item.ReferencedSOPInstanceUID for item in result.ReferencedSOPSequence] == [
        pydicom.dcmread(io.BytesIO(good)).SOPInstanceUID
    ]
    (failure,) = result.FailedSOPSequence
    assert failure.FailureReason == 0xC000
    assert "not a DICOM Part-10 file" in failure.ErrorComment
    assert result.RetrieveURL.endswith(f"/studies/{study}")

    other = stow([ct_instance_bytes(seed=6, rows=32, columns=32)], url=f"/studies/{study}")
    assert other.status_code == 409  # none stored
    assert stow_result(other).FailedSOPSequence[0].FailureReason == 0xA900
    changed = pydicom.dcmread(io.BytesIO(good))
    changed.PatientID = "SOMEONE-ELSE"
    (duplicate,) = stow_result(stow([part10(changed)])).FailedSOPSequence
    assert (duplicate.FailureReason, duplicate.ErrorComment) == (
        0x0111,
        "stored already with other content: a correction needs a new UID",  # the UID would cut it short
    )
    assert stow([good], content_type="application/dicom+json").status_code == 415
    headers = {"Content-Type": 'multipart/related; type="application/dicom"; boundary=XyZ'}
    part = b"--XyZ\r\nContent-Type: application/dicom\r\n\r\n" + good + b"\r\n"
    with hub.http() as http:
        cut = http.post("/studies", content=part, headers=headers)  # no closing boundary
        assert cut.status_code == 400
        assert "before its closing boundary" in cut.json()["detail"]
        prefaced = http.post(
            "/studies", content=b"a preamble, to ignore\r\n" + part + b"--XyZ--\r\n", headers=headers
        )
        assert prefaced.status_code == 200  # RFC 2046 allows a preamble; the instance is stored already
        unbounded = http.post(
            "/studies", content=part, headers={"Content-Type": f'multipart/related; type="{DICOM}"'}
        )
        assert (unbounded.status_code, unbounded.json()["detail"]) == (
            400,
            "the multipart/related Content-Type has no boundary parameter",
        )
        not_a_uid = http.post("/studies/not-a-uid", content=part + b"--XyZ--\r\n", headers=headers)
        assert (not_a_uid.status_code, not_a_uid.json()["detail"]) == (
            400,
            "'not-a-uid' is not a Study Instance UID",
        )
        text = b"--XyZ\r\nContent-Type: text/plain\r\n\r\n" + good + b"\r\n--XyZ--\r\n"
        mistyped = http.post(
            "/studies", content=part + text, headers=headers
        )  # a part failing, not the request
        assert mistyped.status_code == 202
        (failure,) = stow_result(mistyped).FailedSOPSequence
        assert (failure.FailureReason, failure.ErrorComment) == (
            0xC000,
            "part 2 is 'text/plain', not application/dicom",
        )

    reader = make_user(hub.platform, "rita")
    with hub.platform.sessions.begin() as session:
        dataset = datasets.get(session, owner="lab", name="scans")
        datasets.repository(session, dataset).create_tag("v1", "main")
        datasets.repository(session, dataset).create_branch("raw", "main")
        access.grant(session, dataset=dataset, role="read", actor="lab", username="rita")
    with hub.http() as http:
        tagged = http.post(f"{hub.base}{DS}/refs/v1/dicomweb/studies", content=b"")
    assert tagged.status_code == 422
    assert "'v1' is a tag" in tagged.json()["detail"]
    assert stow([good], token=reader).status_code == 403  # read access does not store
    stranger = make_user(hub.platform, "mallory")
    with hub.http(stranger) as http:
        assert http.get("/studies").status_code == 404
    with httpx.Client(base_url=f"{hub.base}{DS}/refs/main/dicomweb") as anonymous:
        assert anonymous.get("/studies").status_code == 401
    with hub.http(reader) as http:
        assert http.get("/studies").status_code == 200
        raw = f"{hub.base}{DS}/refs/raw/dicomweb/studies"
        assert http.get(raw).status_code == 403  # PHI branch: needs the admin role
    with hub.http() as http:
        assert http.get(raw).status_code == 428  # the owner states a purpose of use first
        assert http.get(raw, headers={"X-Purpose-Of-Use": "QA"}).status_code == 200


def test_one_request_never_stores_a_sop_instance_twice(hub: Hub) -> None:
    """Two parts with one SOP Instance UID but other studies: the first is stored, the second
    fails as a duplicate, exactly as it would in a later request."""
    first = pydicom.dcmread(io.BytesIO(ct_instance_bytes(seed=8, rows=32, columns=32)))
    second = pydicom.dcmread(io.BytesIO(ct_instance_bytes(seed=9, rows=32, columns=32)))
    second.SOPInstanceUID = second.file_meta.MediaStorageSOPInstanceUID = first.SOPInstanceUID
    answer = post_parts(hub, [part10(first), part10(second)])
    assert answer.status_code == 202
    result = stow_result(answer)
    (stored,) = result.ReferencedSOPSequence
    assert f"/studies/{first.StudyInstanceUID}/series/" in stored.RetrieveURL
    (failure,) = result.FailedSOPSequence
    assert (failure.ReferencedSOPInstanceUID, failure.FailureReason) == (first.SOPInstanceUID, 0x0111)
    found = hub.client().search_for_instances(search_filters={"SOPInstanceUID": first.SOPInstanceUID})
    assert [i["0020000D"]["Value"] for i in found] == [[first.StudyInstanceUID]]
    head = head_of(hub)
    again = post_parts(hub, [part10(first), part10(first)])  # the very bytes, twice: held already
    assert (again.status_code, head_of(hub)) == (200, head)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bytes_the_version_holds_are_stored_again_whatever_else_shares_their_uid(hub: Hub) -> None:
    """An instance held at two paths with different bytes: sending either copy again succeeds
    without a commit; only bytes the version does not hold are refused."""
    original = ct_instance_bytes(seed=4, rows=32, columns=32)
    changed = pydicom.dcmread(io.BytesIO(original))
    changed.PatientID = "SOMEONE-ELSE"
    commit_files(hub.platform, "lab", "scans", "main", {"a/ct.dcm": original, "b/ct.dcm": part10(changed)})
    head = head_of(hub)
    assert post_parts(hub, [original]).status_code == 200
    assert post_parts(hub, [part10(changed)]).status_code == 200
    assert head_of(hub) == head
    changed.PatientID = "A-THIRD-ONE"
    refused = post_parts(hub, [part10(changed)])
    assert refused.status_code == 409
    assert stow_result(refused).FailedSOPSequence[0].FailureReason == 0x0111


def test_with_a_public_url_the_absolute_uris_reach_the_server_whatever_the_host_header(
    tmp_path: Path, ct_series: list[pydicom.Dataset]
) -> None:
    """dicomweb-client leaves the port out of its Host header; IMAGEHUB_PUBLIC_URL makes the
    RetrieveURL and BulkDataURI it gets back usable as they are."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    with migrated_platform(tmp_path / "var", public_url=public) as platform:
        token = make_user(platform, "lab")
        with platform.sessions.begin() as session:
            datasets.create(session, owner="lab", name="scans", author="lab")
        with live_server(create_app(platform), port=port) as base:
            client = DICOMwebClient(url=f"{base}{DS}/refs/main/dicomweb", headers=bearer(token))
            ct = ct_series[0]
            client.store_instances([ct])
            header = client.retrieve_instance_metadata(
                ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID
            )
            pixels = header["7FE00010"]["BulkDataURI"]
            assert pixels.startswith(f"{public}{DS}/refs/main/dicomweb/")
            assert client.retrieve_bulkdata(pixels) == [ct.PixelData]
            fuzzy = httpx.get(
                f"{base}{DS}/refs/main/dicomweb/studies",
                params={"PatientName": "*", "fuzzymatching": "true"},
                headers=bearer(token),
            )
            assert fuzzy.headers["Warning"] == (
                f'299 {public}{DS}/refs/main/dicomweb: "The fuzzymatching parameter is not supported. '
                'Only literal matching has been performed."'
            )
            assert len(fuzzy.json()) == 1
            either = httpx.get(  # matched as asked: no 400, and no warning
                f"{base}{DS}/refs/main/dicomweb/studies",
                params={"PatientID": f"NOBODY,{ct.PatientID}", "multiplevaluematching": "true"},
                headers=bearer(token),
            )
            assert (len(either.json()), "Warning" in either.headers) == (1, False)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_dicomweb_answers_across_origins_only_to_the_origins_configured(tmp_path: Path, hub: Hub) -> None:
    viewer = "https://viewer.example"
    preflight = {
        "Origin": viewer,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    with migrated_platform(tmp_path / "cors", cors_origins=[viewer]) as platform:
        token = make_user(platform, "lab")
        with platform.sessions.begin() as session:
            datasets.create(session, owner="lab", name="scans", author="lab")
        with live_server(create_app(platform)) as base, httpx.Client(base_url=base) as http:
            root = f"{DS}/refs/main/dicomweb"
            allowed = http.options(f"{root}/studies", headers=preflight)
            assert allowed.status_code == 200
            assert allowed.headers["access-control-allow-origin"] == viewer
            assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
            assert "POST" in allowed.headers["access-control-allow-methods"]
            found = http.get(
                f"{root}/studies",
                params={"fuzzymatching": "true"},
                headers={"Origin": viewer, **bearer(token)},
            )
            assert found.headers["access-control-allow-origin"] == viewer
            assert found.headers["access-control-expose-headers"] == "Warning"
            assert "access-control-allow-credentials" not in found.headers  # bearer tokens, never cookies
            stranger = http.options(
                f"{root}/studies", headers={**preflight, "Origin": "https://evil.example"}
            )
            assert "access-control-allow-origin" not in stranger.headers
            elsewhere = http.options("/api/v1/datasets", headers=preflight)  # not DICOMweb: same-origin only
            assert "access-control-allow-origin" not in elsewhere.headers
    with hub.http() as http:  # not configured: no cross-origin answers at all
        assert "access-control-allow-origin" not in http.get("/studies", headers={"Origin": viewer}).headers


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_files_stored_without_part10_framing_are_served_as_part10(hub: Hub) -> None:
    bare = {name: pydicom_file(name).read_bytes() for name in ("ExplVR_BigEndNoMeta.dcm", "rtstruct.dcm")}
    commit_files(hub.platform, "lab", "scans", "main", {f"legacy/{n}": b for n, b in bare.items()})
    client = hub.client()
    for name, stored in bare.items():
        original = pydicom.dcmread(io.BytesIO(stored), force=True)
        (got,) = client.retrieve_study(original.StudyInstanceUID)  # a strict reader: raised before
        assert got.SOPInstanceUID == original.SOPInstanceUID, name
        assert got.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
    (structures,) = client.search_for_instances(search_filters={"Modality": "RTSTRUCT"})
    assert structures["00280008"] == {"vr": "IS"}  # no pixel data, so no number of frames


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_rendered_images_and_thumbnails_come_in_the_format_the_accept_header_rates_highest(hub: Hub) -> None:
    ct = pydicom.dcmread(io.BytesIO(ct_instance_bytes(seed=2, rows=32, columns=32)))
    commit_files(hub.platform, "lab", "scans", "main", {"ct.dcm": part10(ct)})
    url = f"/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}/instances/{ct.SOPInstanceUID}"
    with hub.http() as http:

        def rendered(accept: str | None, path: str = "/rendered") -> tuple[int, str | None]:
            answer = http.get(url + path, headers={"Accept": accept} if accept else {})
            return answer.status_code, Image.open(
                io.BytesIO(answer.content)
            ).format if answer.is_success else None

        assert rendered(None) == (200, "JPEG")
        assert rendered("*/*") == (200, "JPEG")
        assert rendered("image/png") == (200, "PNG")
        assert rendered("image/png;q=0.5, image/jpeg") == (200, "JPEG")
        assert rendered("image/jpeg;q=0, image/png") == (200, "PNG")
        assert rendered("image/gif") == (406, None)
        assert rendered("text/html") == (406, None)
        assert rendered("image/png", "/frames/1/rendered") == (200, "PNG")
        listed = http.get(f"{url}/frames/1,2/rendered")
        assert listed.status_code == 400
        assert "one frame" in listed.json()["detail"]

        series = f"/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}"
        for path in (f"{url}/thumbnail", f"{url}/frames/1/thumbnail", f"{series}/thumbnail"):
            small = http.get(path)
            assert (small.headers["content-type"], Image.open(io.BytesIO(small.content)).size) == (
                "image/jpeg",
                (256, 256),  # fitted into 256 x 256
            ), path
        assert rendered("image/png", "/thumbnail") == (200, "PNG")
        assert http.get(f"{url}/frames/2/thumbnail").status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_study_renders_an_image_per_series_and_shows_its_first_series_as_its_thumbnail(hub: Hub) -> None:
    """Two CT series and a report without pixels in one study: the report shows no image."""
    first = pydicom.dcmread(io.BytesIO(ct_instance_bytes(seed=5, rows=32, columns=32)))
    second = pydicom.dcmread(io.BytesIO(ct_instance_bytes(seed=6, rows=48, columns=48)))
    report = pydicom.dcmread(io.BytesIO(ct_instance_bytes(seed=7, rows=16, columns=16)))
    for other in (second, report):
        other.StudyInstanceUID = first.StudyInstanceUID
    for keyword in (
        "PixelData",
        "Rows",
        "Columns",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "SamplesPerPixel",
    ):
        delattr(report, keyword)
    report.Modality = "SR"
    report.SOPClassUID = report.file_meta.MediaStorageSOPClassUID = (
        "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    )
    files = {"a.dcm": part10(first), "b.dcm": part10(second), "report.dcm": part10(report)}
    commit_files(hub.platform, "lab", "scans", "main", files)
    images = sorted((first, second), key=lambda ds: str(ds.SeriesInstanceUID))  # series as listed
    study = f"/studies/{first.StudyInstanceUID}"
    with hub.http() as http:

        def of_series(ds: pydicom.Dataset, resource: str, accept: str) -> bytes:
            answer = http.get(f"{study}/series/{ds.SeriesInstanceUID}/{resource}", headers={"Accept": accept})
            assert answer.status_code == 200
            return answer.content

        assert len(http.get(f"{study}/series").json()) == 3  # the report's series is indexed too
        alone = http.get(f"{study}/rendered")
        assert (alone.status_code, alone.headers["content-type"]) == (200, "image/jpeg")
        assert alone.content == of_series(images[0], "rendered", "image/jpeg")

        several = http.get(f"{study}/rendered", headers={"Accept": 'multipart/related; type="image/png"'})
        assert several.status_code == 200
        assert several.headers["content-type"].startswith('multipart/related; type="image/png"')
        assert parts_of(several) == [("image/png", of_series(ds, "rendered", "image/png")) for ds in images]
        sized = http.get(
            f"{study}/rendered",
            params={"viewport": "20,20"},
            headers={"Accept": 'multipart/related; type="image/jpeg"'},
        )
        assert [Image.open(io.BytesIO(body)).size for _, body in parts_of(sized)] == [(20, 20), (20, 20)]

        thumbnail = http.get(f"{study}/thumbnail")
        assert (thumbnail.status_code, Image.open(io.BytesIO(thumbnail.content)).size) == (200, (256, 256))
        assert thumbnail.content == of_series(images[0], "thumbnail", "image/jpeg")
        assert http.get(f"{study}/thumbnail", headers={"Accept": "image/gif"}).status_code == 406

        for resource in ("rendered", "thumbnail"):
            assert http.get(f"/studies/1.2.3.4/{resource}").status_code == 404


def video(seed: int) -> pydicom.Dataset:
    """A clip in MPEG-2, which no decoder here reads."""
    clip = pydicom.dcmread(io.BytesIO(ct_instance_bytes(seed=seed, rows=32, columns=32)))
    clip.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"
    clip.NumberOfFrames = 2
    clip.PixelData = encapsulate([b"\x00\x00\x01" * 100], has_bot=True)
    clip["PixelData"].VR = "OB"
    return clip


def instance_url(ds: pydicom.Dataset) -> str:
    return f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_wado_rs_answers_in_a_form_the_accept_header_allows(hub: Hub) -> None:
    """Instances as stored or in Explicit VR Little Endian, frames raw or as their stored
    bitstream, metadata as JSON: whichever the Accept header allows, else 406."""
    stored = pydicom_file("SC_rgb_jpeg_dcmtk.dcm").read_bytes()  # JPEG baseline
    jpeg = pydicom.dcmread(io.BytesIO(stored))
    ct, clip = pydicom.dcmread(io.BytesIO(ct_instance_bytes(seed=1, rows=32, columns=32))), video(seed=7)
    commit_files(
        hub.platform, "lab", "scans", "main", {"j.dcm": stored, "ct.dcm": part10(ct), "c.dcm": part10(clip)}
    )
    client = hub.client()
    uids = (jpeg.StudyInstanceUID, jpeg.SeriesInstanceUID, jpeg.SOPInstanceUID)
    explicit = (("application/dicom", EXPLICIT),)
    decoded = client.retrieve_instance(*uids, media_types=explicit)
    assert (decoded.file_meta.TransferSyntaxUID, decoded.SOPInstanceUID) == (EXPLICIT, jpeg.SOPInstanceUID)
    assert (decoded.pixel_array == jpeg.pixel_array).all()
    assert client.retrieve_instance(*uids).file_meta.TransferSyntaxUID == jpeg.file_meta.TransferSyntaxUID
    (whole,) = client.retrieve_study(jpeg.StudyInstanceUID, media_types=explicit)
    assert whole.file_meta.TransferSyntaxUID == EXPLICIT
    (bitstream,) = client.retrieve_instance_frames(*uids, frame_numbers=[1], media_types=("image/jpeg",))
    assert Image.open(io.BytesIO(bitstream)).format == "JPEG"

    url, to_decode = instance_url(jpeg), f'multipart/related; type="{DICOM}"; transfer-syntax={EXPLICIT}'
    with hub.http() as http:

        def status(path: str, accept: str | None = None) -> int:
            return http.get(path, headers={"Accept": accept} if accept else {}).status_code

        for refused in ("application/json", "image/png", "text/html", 'multipart/related; type="image/jls"'):
            assert status(url, refused) == 406, refused
        alone = http.get(url, headers={"Accept": DICOM})
        assert (alone.headers["content-type"], alone.content) == (
            f"{DICOM}; transfer-syntax={jpeg.file_meta.TransferSyntaxUID}",
            stored,
        )
        raw = http.get(f"{url}/frames/1", headers={"Accept": "application/octet-stream"})
        assert raw.headers["content-type"] == f"application/octet-stream; transfer-syntax={EXPLICIT}"
        assert raw.content == jpeg.pixel_array.tobytes()
        assert status(f"{instance_url(ct)}/frames/1", 'multipart/related; type="image/jpeg"') == 406
        assert status(f"{url}/metadata", "application/dicom+xml") == 406
        assert status(f"{url}/metadata", 'multipart/related; type="application/dicom+xml"') == 406
        as_json = http.get(f"{url}/metadata", headers={"Accept": "application/json"})
        assert (as_json.status_code, as_json.headers["content-type"]) == (200, "application/json")
        assert status(instance_url(clip), f'multipart/related; type="{DICOM}"; transfer-syntax=*') == 200
        assert status(instance_url(clip), to_decode) == 406
        assert status(f"{instance_url(clip)}/frames/1") == 406
        study = http.get(f"/studies/{clip.StudyInstanceUID}", headers={"Accept": to_decode})
        assert (study.status_code, "cannot be decoded here" in study.text) == (406, True)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pixel_data_by_bulk_data_uri_is_one_value_unless_compressed(hub: Hub) -> None:
    """Native pixel data is one little-endian value whatever the file's byte order; compressed
    pixel data comes a part per frame, decoded."""
    names = ("rtdose_expb.dcm", "SC_rgb_rle_2frame.dcm")  # big endian; RLE
    commit_files(
        hub.platform, "lab", "scans", "main", {f"bulk/{n}": pydicom_file(n).read_bytes() for n in names}
    )
    client = hub.client()

    def pixel_parts(name: str) -> list[bytes]:
        ds = pydicom.dcmread(pydicom_file(name))
        header = client.retrieve_instance_metadata(
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
        )
        return client.retrieve_bulkdata(hub.here(header["7FE00010"]["BulkDataURI"]))

    assert pixel_parts("rtdose_expb.dcm") == [pydicom.dcmread(pydicom_file("rtdose.dcm")).PixelData]
    rle = pydicom.dcmread(pydicom_file("SC_rgb_rle_2frame.dcm")).pixel_array
    assert pixel_parts("SC_rgb_rle_2frame.dcm") == [rle[0].tobytes(), rle[1].tobytes()]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("name", ["SC_rgb_jpeg_dcmtk.dcm", "examples_ybr_color.dcm"])
def test_compressed_colour_frames_and_their_metadata_agree(hub: Hub, name: str) -> None:
    """Frames of a compressed YBR file are decoded to RGB, and the metadata a viewer reads
    them by says RGB, so no viewer converts the colours twice."""
    stored = pydicom.dcmread(pydicom_file(name))
    commit_files(hub.platform, "lab", "scans", "main", {f"colour/{name}": pydicom_file(name).read_bytes()})
    client = hub.client()
    uids = (stored.StudyInstanceUID, stored.SeriesInstanceUID, stored.SOPInstanceUID)
    header = pydicom.Dataset.from_json(client.retrieve_instance_metadata(*uids))
    assert (header.PhotometricInterpretation, header.PlanarConfiguration) == ("RGB", 0)
    (frame,) = client.retrieve_instance_frames(*uids, frame_numbers=[1])
    pixels = stored.pixel_array  # pydicom's RGB, interleaved
    first = pixels[0] if int(stored.get("NumberOfFrames", 1)) > 1 else pixels
    assert frame == first.astype("uint8").tobytes()
    assert len(frame) == stored.Rows * stored.Columns * 3
