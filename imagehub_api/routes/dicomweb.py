"""DICOMweb (QIDO-RS, WADO-RS, STOW-RS) over any version of a dataset, so that viewers and
PACS tools work on it unchanged: the service root is ``.../refs/{ref}/dicomweb``.

Reads need the read role and pass the PHI gate like every other read of ``ref``; every
image served is audited once per request. Stores need the write role and add one commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from imagehub.core.imaging import dicomjson, qido, stow, transcode
from imagehub.core.imaging.frames import parse_frame_list
from imagehub.core.imaging.render import ImageFormat, Rendering, parse_viewport, parse_window
from imagehub.services import dicomweb
from imagehub.services.imaging import CommitRef
from imagehub.services.platform import Platform
from imagehub_api import accept, multipart
from imagehub_api.deps import DatasetContext, DatasetDep, PlatformDep, SessionDep
from imagehub_api.security import Policy, client_ip, requires
from imagehub_api.urls import public_base

router = APIRouter(prefix="/api/v1/datasets/{owner}/{name}/refs/{ref}/dicomweb", tags=["dicomweb"])
DICOM_JSON = "application/dicom+json"
DICOM = "application/dicom"
OCTET_STREAM = "application/octet-stream"
EXPLICIT = transcode.EXPLICIT_LITTLE_ENDIAN
METADATA = [accept.Offer(DICOM_JSON), accept.Offer("application/json")]
INSTANCE = "/studies/{study}/series/{series}/instances/{sop}"
Window = Query(None, description="center,width[,linear]; default: the header's (CT) or the values'")
Viewport = Query(None, description="width,height to fit the image in")


@dataclass
class Call:
    """What every DICOMweb route works with: the authorised dataset, the request and the
    version it names (resolved once, on first use)."""

    ctx: DatasetContext
    session: Session
    platform: Platform
    request: Request
    ref: str
    _version: CommitRef | None = field(default=None, init=False)

    def version(self) -> CommitRef:
        if self._version is None:
            commit = self.ctx.repo.resolve(self.ref).id
            self._version = dicomweb.version(self.platform, self.ctx.dataset.id, self.ctx.full_name, commit)
        return self._version

    def urls(self) -> dicomjson.Urls:
        base = public_base(self.request)
        ref = quote(self.ref, safe="")
        return dicomjson.Urls(f"{base}/api/v1/datasets/{self.ctx.full_name}/refs/{ref}/dicomweb")

    def instance(self, study: str, series: str, sop: str) -> dicomweb.Instance:
        return dicomweb.instance(self.platform, self.version(), study, series, sop)

    def viewed(self, uid: str, **details: Any) -> None:
        self.ctx.record(
            self.session, "image.view", ref=self.ref, object=uid, ip=client_ip(self.request), details=details
        )


def _call(ctx: DatasetDep, session: SessionDep, platform: PlatformDep, request: Request, ref: str) -> Call:
    return Call(ctx, session, platform, request, ref)


CallDep = Annotated[Call, Depends(_call)]


FUZZY_WARNING = "The fuzzymatching parameter is not supported. Only literal matching has been performed."


def _json(body: Any, status_code: int = 200, media_type: str = DICOM_JSON) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, media_type=media_type)


def _negotiate(call: Call, offers: Sequence[accept.Offer]) -> accept.Offer:
    """What the request's Accept header rates highest of ``offers`` (406 when none)."""
    return accept.choose(call.request.headers.get("accept"), offers)


def _typed(offer: accept.Offer) -> str:
    """A part's or body's Content-Type, naming its transfer syntax where it has one."""
    return f"{offer.media}; transfer-syntax={offer.syntax}" if offer.syntax else offer.media


# -- QIDO-RS ------------------------------------------------------------------------------------
def _search(
    call: Call, level: qido.Level, study: str | None = None, series: str | None = None
) -> JSONResponse:
    query = qido.parse_query(call.request.query_params.multi_items())
    urls = call.urls()
    found = dicomweb.search(call.platform, call.version(), level, query, urls, study=study, series=series)
    answer = _json(found)
    if query.fuzzy:  # PS3.18 8.3.4.2: say that matching stayed literal, naming the service
        answer.headers["Warning"] = f'299 {urls.root}: "{FUZZY_WARNING}"'
    return answer


@router.get("/studies", operation_id="dicomweb-search-studies")
@requires(Policy.DATASET_READ)
def search_studies(call: CallDep) -> JSONResponse:
    """QIDO-RS: studies matching the query (PatientID, PatientName, StudyDate...)."""
    return _search(call, qido.Level.STUDY)


@router.get("/series", operation_id="dicomweb-search-series")
@requires(Policy.DATASET_READ)
def search_series(call: CallDep) -> JSONResponse:
    return _search(call, qido.Level.SERIES)


@router.get("/studies/{study}/series", operation_id="dicomweb-search-study-series")
@requires(Policy.DATASET_READ)
def search_study_series(call: CallDep, study: str) -> JSONResponse:
    return _search(call, qido.Level.SERIES, study)


@router.get("/instances", operation_id="dicomweb-search-instances")
@requires(Policy.DATASET_READ)
def search_instances(call: CallDep) -> JSONResponse:
    return _search(call, qido.Level.INSTANCE)


@router.get("/studies/{study}/instances", operation_id="dicomweb-search-study-instances")
@requires(Policy.DATASET_READ)
def search_study_instances(call: CallDep, study: str) -> JSONResponse:
    return _search(call, qido.Level.INSTANCE, study)


@router.get("/studies/{study}/series/{series}/instances", operation_id="dicomweb-search-series-instances")
@requires(Policy.DATASET_READ)
def search_series_instances(call: CallDep, study: str, series: str) -> JSONResponse:
    return _search(call, qido.Level.INSTANCE, study, series)


# -- WADO-RS: instances and metadata ----------------------------------------------------------------
def _retrieve(call: Call, study: str, series: str | None = None) -> StreamingResponse:
    found = dicomweb.instances(call.platform, call.version(), study, series)
    chosen = _negotiate(call, [accept.Offer(DICOM, multipart=True), accept.Offer(DICOM, True, EXPLICIT)])
    explicit = chosen.syntax == EXPLICIT
    if explicit and (refused := dicomweb.undecodable(call.platform, found)):
        item, syntax = refused[0]
        raise accept.NotAcceptable(f"instance {item.sop} is stored in {syntax}, which cannot be decoded here")
    call.viewed(series or study, instances=len(found))
    parts = ((_typed(chosen), dicomweb.read(call.platform, item, explicit=explicit)) for item in found)
    return multipart.response(parts, DICOM)


@router.get("/studies/{study}", operation_id="dicomweb-retrieve-study")
@requires(Policy.DATASET_READ)
def retrieve_study(call: CallDep, study: str) -> StreamingResponse:
    """WADO-RS: every instance of a study streamed as multipart/related: as stored, or in
    Explicit VR Little Endian when the Accept header asks for that transfer syntax."""
    return _retrieve(call, study)


@router.get("/studies/{study}/series/{series}", operation_id="dicomweb-retrieve-series")
@requires(Policy.DATASET_READ)
def retrieve_series(call: CallDep, study: str, series: str) -> StreamingResponse:
    return _retrieve(call, study, series)


@router.get(INSTANCE, operation_id="dicomweb-retrieve-instance")
@requires(Policy.DATASET_READ)
def retrieve_instance(call: CallDep, study: str, series: str, sop: str) -> StreamingResponse:
    """WADO-RS: the instance as multipart/related or, asked for alone, as application/dicom;
    in its stored transfer syntax, or in Explicit VR Little Endian where it can be decoded."""
    item = call.instance(study, series, sop)
    stored = dicomweb.stored_syntax(call.platform, item)
    syntaxes = [stored, EXPLICIT] if transcode.decodable(stored) else [stored]
    chosen = _negotiate(call, [accept.Offer(DICOM, many, ts) for ts in syntaxes for many in (True, False)])
    body = dicomweb.read(call.platform, item, explicit=chosen.syntax == EXPLICIT)
    call.viewed(sop, path=item.path)
    if chosen.multipart:
        return multipart.response([(_typed(chosen), body)], DICOM)
    return multipart.single_part(_typed(chosen), body)


def _metadata(call: Call, study: str, series: str | None = None, sop: str | None = None) -> JSONResponse:
    if sop is not None and series is not None:
        found = [call.instance(study, series, sop)]
    else:
        found = dicomweb.instances(call.platform, call.version(), study, series)
    chosen = _negotiate(call, METADATA)  # DICOM JSON: XML is not offered
    body = dicomweb.metadata(call.platform, found, call.urls())
    call.viewed(sop or series or study, metadata=len(found))
    return _json(body, media_type=chosen.media)


@router.get("/studies/{study}/metadata", operation_id="dicomweb-retrieve-study-metadata")
@requires(Policy.DATASET_READ)
def study_metadata(call: CallDep, study: str) -> JSONResponse:
    """WADO-RS: the full header of every instance of a study; bulk and pixel data by BulkDataURI."""
    return _metadata(call, study)


@router.get("/studies/{study}/series/{series}/metadata", operation_id="dicomweb-retrieve-series-metadata")
@requires(Policy.DATASET_READ)
def series_metadata(call: CallDep, study: str, series: str) -> JSONResponse:
    return _metadata(call, study, series)


@router.get(f"{INSTANCE}/metadata", operation_id="dicomweb-retrieve-instance-metadata")
@requires(Policy.DATASET_READ)
def instance_metadata(call: CallDep, study: str, series: str, sop: str) -> JSONResponse:
    return _metadata(call, study, series, sop)


# -- WADO-RS: frames, bulk data, rendered ----------------------------------------------------------
@router.get(f"{INSTANCE}/frames/{{frames}}", operation_id="dicomweb-retrieve-frames")
@requires(Policy.DATASET_READ)
def retrieve_frames(call: CallDep, study: str, series: str, sop: str, frames: str) -> StreamingResponse:
    """WADO-RS: frames (from 1, comma-separated) as native little-endian pixel bytes, or as
    the compressed bitstreams they are stored as when the Accept header asks for their type."""
    numbers = parse_frame_list(frames)
    item = call.instance(study, series, sop)
    chosen = _negotiate(call, _frame_offers(dicomweb.stored_syntax(call.platform, item), len(numbers)))
    if chosen.media == OCTET_STREAM:
        found = dicomweb.frames(call.platform, item, numbers)
    else:
        found = dicomweb.bitstreams(call.platform, item, numbers)
    call.viewed(sop, frames=frames)
    if not chosen.multipart:
        return multipart.single_part(_typed(chosen), found)
    return multipart.response([(_typed(chosen), [data]) for data in found], chosen.media)


def _frame_offers(stored: str, count: int) -> list[accept.Offer]:
    """Native frames where they can be decoded (one alone may come without multipart), and
    a compressed file's bitstreams under their media type (PS3.18 Table 8.7.3-5)."""
    offers = []
    if transcode.decodable(stored):
        offers += [accept.Offer(OCTET_STREAM, True, EXPLICIT)]
        offers += [accept.Offer(OCTET_STREAM, False, EXPLICIT)] if count == 1 else []
    if stored in transcode.BITSTREAM_TYPES:
        offers.append(accept.Offer(transcode.BITSTREAM_TYPES[stored], True, stored))
    return offers


@router.get(f"{INSTANCE}/bulkdata/{{path:path}}", operation_id="dicomweb-retrieve-bulkdata")
@requires(Policy.DATASET_READ)
def retrieve_bulkdata(call: CallDep, study: str, series: str, sop: str, path: str) -> StreamingResponse:
    """WADO-RS: the value a metadata BulkDataURI names (compressed pixel data frame by frame)."""
    found = dicomweb.bulkdata(call.platform, call.instance(study, series, sop), path)
    call.viewed(sop, bulkdata=path)
    return multipart.response(
        [("application/octet-stream", chunks) for chunks in found], "application/octet-stream"
    )


RENDERED = [accept.Offer("image/jpeg"), accept.Offer("image/png")]  # JPEG: the default (PS3.18 8.7.4)
# A study is also offered as the parts of a multipart/related body, an image per series.
STUDY_RENDERED = [*RENDERED, *(accept.Offer(offer.media, True) for offer in RENDERED)]


def _format_of(offer: accept.Offer) -> ImageFormat:
    return "jpeg" if offer.media == "image/jpeg" else "png"


def _image_format(request: Request) -> ImageFormat:
    return _format_of(accept.choose(request.headers.get("accept"), RENDERED))


def _rendering(window: str | None, viewport: str | None, image_format: ImageFormat) -> Rendering:
    return Rendering(
        window=parse_window(window) if window else None,
        viewport=parse_viewport(viewport) if viewport else None,
        format=image_format,
    )


def _render(
    call: Call,
    item: dicomweb.Instance,
    frame: int,
    window: str | None,
    viewport: str | None,
    image_format: ImageFormat,
) -> bytes:
    """The image, its view on record."""
    image = dicomweb.rendered(call.platform, item, frame, _rendering(window, viewport, image_format))
    call.viewed(item.sop, frame=frame, window=window or "", viewport=viewport or "")
    return image


def _rendered(
    call: Call, item: dicomweb.Instance, frame: int, window: str | None, viewport: str | None
) -> Response:
    image_format = _image_format(call.request)
    return Response(
        _render(call, item, frame, window, viewport, image_format), media_type=f"image/{image_format}"
    )


@router.get(f"{INSTANCE}/rendered", operation_id="dicomweb-retrieve-instance-rendered")
@requires(Policy.DATASET_READ)
def instance_rendered(
    call: CallDep,
    study: str,
    series: str,
    sop: str,
    window: str | None = Window,
    viewport: str | None = Viewport,
) -> Response:
    """WADO-RS: the first frame as JPEG, or PNG when the Accept header prefers it."""
    return _rendered(call, call.instance(study, series, sop), 1, window, viewport)


@router.get(f"{INSTANCE}/frames/{{frame}}/rendered", operation_id="dicomweb-retrieve-frame-rendered")
@requires(Policy.DATASET_READ)
def frame_rendered(
    call: CallDep,
    study: str,
    series: str,
    sop: str,
    frame: str,
    window: str | None = Window,
    viewport: str | None = Viewport,
) -> Response:
    (number,) = _one_frame(frame)
    return _rendered(call, call.instance(study, series, sop), number, window, viewport)


def _one_frame(text: str) -> list[int]:
    """The one frame an image is made of: a list of several is refused, not cut to its first."""
    numbers = parse_frame_list(text)
    if len(numbers) > 1:
        raise qido.InvalidQuery(f"an image is of one frame, not {text!r}: ask for each in turn")
    return numbers


@router.get("/studies/{study}/series/{series}/rendered", operation_id="dicomweb-retrieve-series-rendered")
@requires(Policy.DATASET_READ)
def series_rendered(
    call: CallDep,
    study: str,
    series: str,
    window: str | None = Window,
    viewport: str | None = Viewport,
) -> Response:
    """WADO-RS: the series' middle instance, by its geometric order."""
    item = dicomweb.middle_instance(call.platform, call.version(), study, series)
    return _rendered(call, item, 1, window, viewport)


@router.get("/studies/{study}/rendered", operation_id="dicomweb-retrieve-study-rendered")
@requires(Policy.DATASET_READ)
def study_rendered(
    call: CallDep,
    study: str,
    window: str | None = Window,
    viewport: str | None = Viewport,
) -> Response:
    """WADO-RS: the study as an image per series (its middle instance, as the series' rendered
    resource shows it), the parts of a multipart/related body when the Accept header asks for
    one; else the first series' image alone, as for a series."""
    chosen = accept.choose(call.request.headers.get("accept"), STUDY_RENDERED)
    if not chosen.multipart:
        return _rendered(
            call, dicomweb.study_image(call.platform, call.version(), study), 1, window, viewport
        )
    items = dicomweb.study_images(call.platform, call.version(), study)
    # all made before the answer starts: a failure is a status, not a body cut short
    images = [_render(call, item, 1, window, viewport, _format_of(chosen)) for item in items]
    return multipart.response([(chosen.media, [image]) for image in images], chosen.media)


@router.get("/studies/{study}/thumbnail", operation_id="dicomweb-retrieve-study-thumbnail")
@requires(Policy.DATASET_READ)
def study_thumbnail(call: CallDep, study: str) -> Response:
    """WADO-RS: the study's representative image, its first series' thumbnail (PS3.18 leaves
    the choice to the server)."""
    return _thumbnail(call, dicomweb.study_image(call.platform, call.version(), study))


@router.get(f"{INSTANCE}/thumbnail", operation_id="dicomweb-retrieve-instance-thumbnail")
@requires(Policy.DATASET_READ)
def instance_thumbnail(call: CallDep, study: str, series: str, sop: str) -> Response:
    """WADO-RS: the middle frame, fitted in 256x256 pixels."""
    return _thumbnail(call, call.instance(study, series, sop))


@router.get(f"{INSTANCE}/frames/{{frame}}/thumbnail", operation_id="dicomweb-retrieve-frame-thumbnail")
@requires(Policy.DATASET_READ)
def frame_thumbnail(call: CallDep, study: str, series: str, sop: str, frame: str) -> Response:
    (number,) = _one_frame(frame)
    return _thumbnail(call, call.instance(study, series, sop), number)


@router.get("/studies/{study}/series/{series}/thumbnail", operation_id="dicomweb-retrieve-series-thumbnail")
@requires(Policy.DATASET_READ)
def series_thumbnail(call: CallDep, study: str, series: str) -> Response:
    """WADO-RS: the series' middle instance, by its geometric order, fitted in 256x256 pixels."""
    return _thumbnail(call, dicomweb.middle_instance(call.platform, call.version(), study, series))


def _thumbnail(call: Call, item: dicomweb.Instance, frame: int | None = None) -> Response:
    image_format = _image_format(call.request)
    image = dicomweb.thumbnail(call.platform, item, image_format, frame)
    call.viewed(item.sop, thumbnail=frame or "middle")
    return Response(image, media_type=f"image/{image_format}")


# -- STOW-RS --------------------------------------------------------------------------------------
async def _store(call: Call, study: str | None) -> Response:
    ctx, ref = call.ctx, call.ref
    await run_in_threadpool(dicomweb.require_branch, ctx.repo, ref)
    if study is not None:
        stow.require_study(study)
    try:
        received = await multipart.read(call.request, DICOM, call.platform.settings.max_upload_bytes)
    except multipart.UnsupportedMediaType as error:
        return error.response()
    parts = [stow.Part(media_type, body) for media_type, body in received]
    try:
        outcome = await run_in_threadpool(
            dicomweb.store, call.platform, ctx.dataset.id, ref, ctx.actor, parts, study
        )
    finally:
        for part in parts:
            part.body.close()
    details = {"stored": len(outcome.stored), "failed": len(outcome.failed), "commit": outcome.commit or ""}
    await run_in_threadpool(
        ctx.record,
        call.session,
        "dicomweb.store",
        ref=ref,
        object=study or "",
        ip=client_ip(call.request),
        details=details,
    )
    body = stow.response(call.urls(), study, outcome.stored, outcome.failed)
    status = 409 if not outcome.stored else 202 if outcome.failed else 200
    return _json(body, status)


@router.post("/studies", operation_id="dicomweb-store")
@requires(Policy.DATASET_WRITE)
async def store_instances(call: CallDep) -> Response:
    """STOW-RS: multipart/related; type="application/dicom" instances, as one commit on branch ``ref``."""
    return await _store(call, None)


@router.post("/studies/{study}", operation_id="dicomweb-store-study")
@requires(Policy.DATASET_WRITE)
async def store_study_instances(call: CallDep, study: str) -> Response:
    """STOW-RS into one study: instances of any other study fail (0xA900)."""
    return await _store(call, study)
