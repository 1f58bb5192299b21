"""Commendation pages beside a nomination: evidence files (upload checked by content, download only for those
who may read the nomination), and — for the deciding level — publication, council sessions, numbered
decisions and certificates."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.datastructures import FormData, UploadFile

from thidua.models.evidence import EvidenceRejected
from thidua.models.nominations import NominationError
from thidua.services.commendation import evidence as evidence_service
from thidua.web.deps import csrf_protect, db, form_data, now, principal, write_turn
from thidua.web.errors import InvalidInput, NotFound
from thidua.web.nomination_views import access, actor_for, as_web_error, readable
from thidua.web.permissions import Principal, require

router = APIRouter(dependencies=[Depends(csrf_protect)])

UPLOAD_CHUNK = 1 << 16


def commendation_panels(engine, me: Principal, view, rights) -> dict[str, Any]:  # noqa: ANN001
    """Context of the commendation panels on a nomination page."""
    return {"evidence": evidence_panel(engine, view, rights, me)}


def evidence_panel(engine, view, rights, me: Principal) -> dict[str, Any]:  # noqa: ANN001
    """What the nomination page shows of the evidence: the checklist with files, and whether this reader may attach."""
    holder_may = view.current_unit_id == me.unit_id and view.status in evidence_service.HOLDER_STATUSES
    proposer_may = rights.propose_side and view.status in evidence_service.PROPOSER_STATUSES
    return {"items": evidence_service.checklist_for(engine, view.id), "can_attach": holder_may or proposer_may,
            "my_unit_id": me.unit_id}


async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    """The upload's bytes, reading at most limit + 1 (the service then refuses the oversize file by its size)."""
    chunks, size = [], 0
    while size <= limit:
        chunk = await upload.read(UPLOAD_CHUNK)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


@router.post("/don-vi/khen-thuong/{nomination_id}/minh-chung")
async def upload_evidence(request: Request, nomination_id: int, form: FormData = Depends(form_data),
                          me: Principal = Depends(principal)) -> Response:
    upload = form.get("tep")
    item = str(form.get("muc") or "").strip()
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidInput("Chưa chọn tệp minh chứng.", {"tep": "chọn tệp PDF, DOCX, JPG hoặc PNG"})
    if not item:
        raise InvalidInput("Chưa chọn mục hồ sơ.", {"muc": "chọn mục hồ sơ"})
    data = await _read_limited(upload, 100 * 1024 * 1024)
    engine, settings = request.app.state.engine, request.app.state.settings

    def attach() -> None:
        with Session(engine) as session:
            readable(session, engine, me, nomination_id)
        with write_turn(request):
            evidence_service.attach(engine, nomination_id, actor_for(me), item_code=item, file_name=upload.filename,
                                    data=data, now=now(request), data_dir=settings.data_dir)

    from starlette.concurrency import run_in_threadpool

    try:
        await run_in_threadpool(attach)
    except EvidenceRejected as exc:
        raise InvalidInput(str(exc), {"tep": str(exc)}) from None
    except NominationError as exc:
        raise as_web_error(exc, back=f"/don-vi/khen-thuong/{nomination_id}") from None
    return RedirectResponse(f"/don-vi/khen-thuong/{nomination_id}?tb=da-dinh-kem", status_code=303)


@router.get("/don-vi/khen-thuong/minh-chung/{evidence_id}")
def download_evidence(request: Request, evidence_id: int, me: Principal = Depends(principal),
                      session: Session = Depends(db)) -> Response:
    engine = request.app.state.engine
    try:
        nomination_id, path, name, media_type = evidence_service.open_evidence(
            engine, evidence_id, data_dir=request.app.state.settings.data_dir)
    except NominationError:
        raise NotFound(f"Không có tệp minh chứng #{evidence_id}.") from None
    readable(session, engine, me, nomination_id)  # Forbidden unless the reader may see the nomination
    return FileResponse(path, media_type=media_type, filename=name,
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})


@router.post("/don-vi/khen-thuong/minh-chung/{evidence_id}/go")
def remove_evidence(request: Request, evidence_id: int, me: Principal = Depends(principal),
                    session: Session = Depends(db)) -> Response:
    engine = request.app.state.engine
    try:
        nomination_id = evidence_service.open_evidence(engine, evidence_id, data_dir=request.app.state.settings.data_dir)[0]
    except NominationError:
        raise NotFound(f"Không có tệp minh chứng #{evidence_id}.") from None
    view, rights = readable(session, engine, me, nomination_id)
    require(rights.read, "gỡ tệp minh chứng của đơn vị khác")
    try:
        with write_turn(request):
            evidence_service.remove(engine, evidence_id, actor_for(me), now=now(request))
    except NominationError as exc:
        raise as_web_error(exc, back=f"/don-vi/khen-thuong/{nomination_id}") from None
    return RedirectResponse(f"/don-vi/khen-thuong/{nomination_id}?tb=da-go-tep", status_code=303)
