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
from thidua.web.nomination_views import actor_for, as_web_error, readable
from thidua.web.permissions import Principal, require

router = APIRouter(dependencies=[Depends(csrf_protect)])

UPLOAD_CHUNK = 1 << 16


def commendation_panels(engine, me: Principal, view, rights) -> dict[str, Any]:  # noqa: ANN001
    """Context of the commendation panels on a nomination page."""
    from thidua.services.commendation import decisions, publication

    return {
        "evidence": evidence_panel(engine, view, rights, me),
        "award_decision": decisions.decision_for_nomination(engine, view.id),
        "publications": publication.publications_for(engine, view.id),
    }


def evidence_panel(engine, view, rights, me: Principal) -> dict[str, Any]:  # noqa: ANN001
    """What the nomination page shows of the evidence: the checklist with files, and whether this reader may attach."""
    holder_may = view.current_unit_id == me.unit_id and view.status in evidence_service.HOLDER_STATUSES
    proposer_may = rights.propose_side and view.status in evidence_service.PROPOSER_STATUSES
    return {
        "items": evidence_service.checklist_for(engine, view.id),
        "can_attach": holder_may or proposer_may,
        "my_unit_id": me.unit_id,
    }


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
async def upload_evidence(
    request: Request, nomination_id: int, form: FormData = Depends(form_data), me: Principal = Depends(principal)
) -> Response:
    engine, settings = request.app.state.engine, request.app.state.settings
    from starlette.concurrency import run_in_threadpool

    def check_reader() -> None:
        with Session(engine) as session:
            readable(session, engine, me, nomination_id)  # 404 / 403 before anything else

    await run_in_threadpool(check_reader)
    upload = form.get("tep")
    item = str(form.get("muc") or "").strip()
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidInput("Chưa chọn tệp minh chứng.", {"tep": "chọn tệp PDF, DOCX, JPG hoặc PNG"})
    if not item:
        raise InvalidInput("Chưa chọn mục hồ sơ.", {"muc": "chọn mục hồ sơ"})
    data = await _read_limited(upload, 100 * 1024 * 1024)

    def attach() -> None:
        with write_turn(request):
            evidence_service.attach(
                engine,
                nomination_id,
                actor_for(me),
                item_code=item,
                file_name=upload.filename or "",
                data=data,
                now=now(request),
                data_dir=settings.data_dir,
            )

    try:
        await run_in_threadpool(attach)
    except EvidenceRejected as exc:
        raise InvalidInput(str(exc), {"tep": str(exc)}) from None
    except NominationError as exc:
        raise as_web_error(exc, back=f"/don-vi/khen-thuong/{nomination_id}") from None
    return RedirectResponse(f"/don-vi/khen-thuong/{nomination_id}?tb=da-dinh-kem", status_code=303)


@router.get("/don-vi/khen-thuong/minh-chung/{evidence_id}")
def download_evidence(
    request: Request, evidence_id: int, me: Principal = Depends(principal), session: Session = Depends(db)
) -> Response:
    engine = request.app.state.engine
    try:
        nomination_id, path, name, media_type = evidence_service.open_evidence(
            engine, evidence_id, data_dir=request.app.state.settings.data_dir
        )
    except NominationError:
        raise NotFound(f"Không có tệp minh chứng #{evidence_id}.") from None
    readable(session, engine, me, nomination_id)  # Forbidden unless the reader may see the nomination
    return FileResponse(
        path,
        media_type=media_type,
        filename=name,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"},
    )


@router.post("/don-vi/khen-thuong/minh-chung/{evidence_id}/go")
def remove_evidence(
    request: Request, evidence_id: int, me: Principal = Depends(principal), session: Session = Depends(db)
) -> Response:
    engine = request.app.state.engine
    try:
        nomination_id = evidence_service.open_evidence(
            engine, evidence_id, data_dir=request.app.state.settings.data_dir
        )[0]
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


# ---------------------------------------------------------------------------------------------------
# The deciding level: publication, council sessions, numbered decisions, certificates
# ---------------------------------------------------------------------------------------------------
def _deciding(me: Principal) -> None:
    require(me.is_reviewer or me.is_office, "xét, công khai, họp Hội đồng và ra quyết định khen thưởng")


def _campaign_for(session: Session, me: Principal):  # noqa: ANN202
    from thidua.web.queries import pick_campaign

    campaign = pick_campaign(session, me, None)
    if campaign is None:
        raise NotFound("Đơn vị của bạn chưa tham gia chiến dịch thi đua nào.")
    return campaign


def _ids(form: FormData, key: str = "de_nghi") -> list[int]:
    return [int(str(v)) for v in form.getlist(key) if str(v).isdigit()]


def _day(form: FormData, key: str, label: str) -> Any:
    from thidua.web.nomination_views import read_day

    errors: dict[str, str] = {}
    day = read_day(str(form.get(key) or ""), key, label, errors)
    if errors:
        raise InvalidInput(" ".join(errors.values()), errors)
    return day


@router.get("/khen-thuong/quyet-dinh")
def deciding_desk(request: Request, me: Principal = Depends(principal), session: Session = Depends(db)) -> Response:
    """What waits for this unit's decision, with its publications, council sessions and decisions."""
    from thidua.services import nominations as nom_service
    from thidua.services.commendation import council, decisions, publication
    from thidua.web.rendering import render

    _deciding(me)
    campaign = _campaign_for(session, me)
    engine = request.app.state.engine
    waiting = [
        v
        for v in nom_service.list_nominations(engine, campaign.id, holder_unit_id=me.unit_id)
        if v.status == "under_review" and v.deciding_unit_id == me.unit_id
    ]
    return render(
        request,
        "commendation/desk.html",
        {
            "campaign": campaign,
            "waiting": waiting,
            "publications": publication.list_publications(engine, campaign.id, me.unit_id),
            "sessions": council.list_sessions(engine, campaign.id, me.unit_id),
            "decisions": decisions.list_decisions(engine, campaign.id, unit_id=me.unit_id),
            "now": now(request),
        },
    )


@router.post("/khen-thuong/cong-khai")
def publish_list(
    request: Request,
    form: FormData = Depends(form_data),
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> Response:
    from thidua.services.commendation import publication

    _deciding(me)
    campaign = _campaign_for(session, me)
    ids = _ids(form)
    if not ids:
        raise InvalidInput("Chọn ít nhất một đề nghị để công khai.", {"de_nghi": "chọn đề nghị"})
    days = str(form.get("so_ngay") or "").strip()
    try:
        with write_turn(request):
            page = publication.publish(
                request.app.state.engine,
                campaign.id,
                actor_for(me),
                ids,
                days=int(days) if days.isdigit() else None,
                now=now(request),
            )
    except NominationError as exc:
        raise as_web_error(exc, back="/khen-thuong/quyet-dinh") from None
    return RedirectResponse(f"/cong-khai/{page.token}", status_code=303)


@router.get("/cong-khai/{token}")
def public_page(request: Request, token: str, session: Session = Depends(db)) -> Response:
    """The public list (no sign-in): who is proposed for what, until when comments are taken; kept afterwards."""
    from thidua.services.commendation import publication
    from thidua.web.rendering import render

    try:
        view = publication.get_publication(request.app.state.engine, token, now=now(request))
    except NominationError:
        raise NotFound("Không có danh sách công khai này.") from None
    return render(
        request,
        "commendation/public.html",
        {"p": view, "typed": {}, "errors": {}, "last_day": publication.last_day(view.closes_at)},
    )


@router.post("/cong-khai/{token}")
def public_comment(request: Request, token: str, form: FormData = Depends(form_data)) -> Response:
    from thidua.services.commendation import publication
    from thidua.web.rendering import render

    typed = {k: str(v) for k, v in form.items() if k != "_csrf"}
    engine = request.app.state.engine
    nomination = typed.get("de_nghi", "")
    try:
        with write_turn(request):
            publication.add_comment(
                engine,
                token,
                name=typed.get("ho_ten", ""),
                contact=typed.get("lien_he", ""),
                content=typed.get("noi_dung", ""),
                nomination_id=int(nomination) if nomination.isdigit() else None,
                now=now(request),
            )
    except publication.CommentRefused as exc:
        view = publication.get_publication(engine, token, now=now(request))
        return render(
            request,
            "commendation/public.html",
            {
                "p": view,
                "typed": typed,
                "errors": exc.errors,
                "problem": str(exc),
                "last_day": publication.last_day(view.closes_at),
            },
            status_code=422,
        )
    except NominationError:
        raise NotFound("Không có danh sách công khai này.") from None
    return RedirectResponse(f"/cong-khai/{token}?tb=da-gop-y", status_code=303)


@router.post("/khen-thuong/hoi-dong")
def convene_council(
    request: Request,
    form: FormData = Depends(form_data),
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> Response:
    from thidua.services.commendation import council

    _deciding(me)
    campaign = _campaign_for(session, me)
    held_on = _day(form, "ngay_hop", "ngày họp")
    members = []
    for line in str(form.get("thanh_vien") or "").splitlines():
        name, _, role = line.partition("|")
        if name.strip():
            members.append(council.Member(name.strip(), role.strip() or "Ủy viên"))
    try:
        with write_turn(request):
            session_id = council.convene(
                request.app.state.engine,
                campaign.id,
                actor_for(me),
                title=str(form.get("tieu_de") or ""),
                held_on=held_on,
                members=members,
                mode=str(form.get("hinh_thuc") or "open"),
                place=str(form.get("dia_diem") or ""),
                nomination_ids=_ids(form),
                now=now(request),
            )
    except NominationError as exc:
        raise as_web_error(exc, back="/khen-thuong/quyet-dinh") from None
    return RedirectResponse(f"/khen-thuong/hoi-dong/{session_id}", status_code=303)


def _council_view(request: Request, me: Principal, session_id: int):  # noqa: ANN202
    from thidua.services.commendation import council

    _deciding(me)
    try:
        view = council.get_session(request.app.state.engine, session_id)
    except NominationError:
        raise NotFound(f"Không có phiên họp #{session_id}.") from None
    require(view.unit_id == me.unit_id, "xem phiên họp Hội đồng của đơn vị khác")
    return view


@router.get("/khen-thuong/hoi-dong/{session_id}")
def council_page(request: Request, session_id: int, me: Principal = Depends(principal)) -> Response:
    from thidua.models.council import MODES, VOTES
    from thidua.services.commendation import council
    from thidua.web.rendering import render

    view = _council_view(request, me, session_id)
    return render(
        request,
        "commendation/council.html",
        {"s": view, "modes": MODES, "votes": VOTES, "needed": council.needed(request.app.state.engine, session_id)},
    )


@router.post("/khen-thuong/hoi-dong/{session_id}/{step}")
def council_step(
    request: Request,
    session_id: int,
    step: str,
    form: FormData = Depends(form_data),
    me: Principal = Depends(principal),
) -> Response:
    from thidua.services.commendation import council

    view = _council_view(request, me, session_id)
    engine, actor, moment = request.app.state.engine, actor_for(me), now(request)
    try:
        with write_turn(request):
            if step == "co-mat":
                council.set_attendance(engine, session_id, actor, _ids(form, "co_mat"), now=moment)
            elif step == "phieu":
                for item in view.agenda:
                    votes = {
                        m["seq"]: str(form.get(f"phieu_{item['nomination_id']}_{m['seq']}"))
                        for m in view.members
                        if m["present"] and form.get(f"phieu_{item['nomination_id']}_{m['seq']}")
                    }
                    if votes:
                        council.record_votes(engine, session_id, actor, item["nomination_id"], votes, now=moment)
            elif step == "kiem-phieu":
                for item in view.agenda:
                    n = item["nomination_id"]
                    numbers = [str(form.get(f"{k}_{n}") or "0").strip() for k in ("dong_y", "khong_dong_y", "khong_bq")]
                    if not all(x.isdigit() for x in numbers):
                        raise InvalidInput("Số phiếu phải là số nguyên không âm.", {f"dong_y_{n}": "số nguyên"})
                    council.record_tally(
                        engine,
                        session_id,
                        actor,
                        n,
                        votes_for=int(numbers[0]),
                        against=int(numbers[1]),
                        abstain=int(numbers[2]),
                        now=moment,
                    )
            elif step == "ket-thuc":
                council.close(engine, session_id, actor, now=moment)
            else:
                raise NotFound("Không có thao tác này.")
    except NominationError as exc:
        raise as_web_error(exc, back=f"/khen-thuong/hoi-dong/{session_id}") from None
    return RedirectResponse(f"/khen-thuong/hoi-dong/{session_id}?tb=da-ghi", status_code=303)


@router.get("/khen-thuong/hoi-dong/{session_id}/bien-ban.docx")
def council_minutes(request: Request, session_id: int, me: Principal = Depends(principal)) -> Response:
    from thidua.services.commendation import council

    view = _council_view(request, me, session_id)
    out = request.app.state.settings.reports_dir / "khen-thuong" / f"bien-ban-hoi-dong-{view.id}.docx"
    try:
        council.write_minutes_docx(request.app.state.engine, session_id, out)
    except NominationError as exc:
        raise as_web_error(exc, back=f"/khen-thuong/hoi-dong/{session_id}") from None
    return FileResponse(
        out,
        filename=f"bien-ban-hoi-dong-{view.minutes_symbol.replace('/', '-')}.docx",
        media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )


@router.post("/khen-thuong/quyet-dinh")
def issue(
    request: Request,
    form: FormData = Depends(form_data),
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> Response:
    from thidua.services.commendation import council, decisions

    _deciding(me)
    campaign = _campaign_for(session, me)
    engine = request.app.state.engine
    session_ref = str(form.get("hoi_dong") or "").strip()
    council_id = int(session_ref) if session_ref.isdigit() else None
    ids = _ids(form)
    if council_id is not None and not ids:
        ids = council.passed_nominations(engine, council_id)
    if not ids:
        raise InvalidInput(
            "Chọn đề nghị (hoặc phiên họp Hội đồng có đề nghị đạt) để ra quyết định.", {"de_nghi": "chọn"}
        )
    signer = str(form.get("nguoi_ky") or "").strip()
    if not signer:
        raise InvalidInput("Cần người ký quyết định.", {"nguoi_ky": "cần người ký"})
    day = _day(form, "ngay_ky", "ngày ký quyết định")
    try:
        with write_turn(request):
            issued = decisions.issue_decision(
                engine,
                campaign.id,
                actor_for(me),
                decisions.DecisionInput(
                    day,
                    signer,
                    str(form.get("chuc_vu_ky") or "TM. BAN THƯỜNG VỤ\nCHỦ TỊCH"),
                    council_session_id=council_id,
                ),
                nomination_ids=ids,
                now=now(request),
            )
    except NominationError as exc:
        raise as_web_error(exc, back="/khen-thuong/quyet-dinh") from None
    return RedirectResponse(f"/khen-thuong/quyet-dinh/{issued.id}?tb=da-quyet-dinh", status_code=303)


def _decision_for(request: Request, me: Principal, decision_id: int) -> dict[str, Any]:
    from thidua.services.commendation import decisions

    _deciding(me)
    try:
        decision = decisions.get_decision(request.app.state.engine, decision_id)
    except NominationError:
        raise NotFound(f"Không có quyết định khen thưởng #{decision_id}.") from None
    require(
        decision["issuing_unit_id"] == me.unit_id and (me.is_reviewer or me.is_office), "xem quyết định của đơn vị khác"
    )
    return decision


@router.get("/khen-thuong/quyet-dinh/{decision_id}")
def decision_page(request: Request, decision_id: int, me: Principal = Depends(principal)) -> Response:
    from thidua.web.rendering import render

    return render(request, "commendation/decision.html", {"d": _decision_for(request, me, decision_id)})


@router.get("/khen-thuong/quyet-dinh/{decision_id}/van-ban.docx")
def decision_docx(request: Request, decision_id: int, me: Principal = Depends(principal)) -> Response:
    from thidua.services.commendation import decisions

    decision = _decision_for(request, me, decision_id)
    out = request.app.state.settings.reports_dir / "khen-thuong" / f"quyet-dinh-{decision_id}.docx"
    decisions.write_decision_docx(request.app.state.engine, decision_id, out)
    return FileResponse(
        out,
        filename=f"quyet-dinh-{decision['symbol'].replace('/', '-')}.docx",
        media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )


@router.get("/khen-thuong/quyet-dinh/{decision_id}/giay-khen.pdf")
def decision_certificates(request: Request, decision_id: int, me: Principal = Depends(principal)) -> Response:
    from thidua.services.commendation import certificates

    decision = _decision_for(request, me, decision_id)
    out = request.app.state.settings.reports_dir / "khen-thuong" / f"bang-khen-qd-{decision_id}.pdf"
    try:
        certificates.write_certificates(request.app.state.engine, decision_id, out)
    except NominationError as exc:
        raise as_web_error(exc, back=f"/khen-thuong/quyet-dinh/{decision_id}") from None
    return FileResponse(
        out, media_type="application/pdf", filename=f"bang-khen-{decision['symbol'].replace('/', '-')}.pdf"
    )


@router.post("/khen-thuong/quyet-dinh/{decision_id}/huy")
def revoke(
    request: Request, decision_id: int, form: FormData = Depends(form_data), me: Principal = Depends(principal)
) -> Response:
    from thidua.services.commendation import decisions

    _decision_for(request, me, decision_id)
    try:
        with write_turn(request):
            decisions.revoke_decision(
                request.app.state.engine,
                decision_id,
                actor_for(me),
                reason=str(form.get("ly_do") or ""),
                now=now(request),
            )
    except NominationError as exc:
        raise as_web_error(exc, back=f"/khen-thuong/quyet-dinh/{decision_id}") from None
    return RedirectResponse(f"/khen-thuong/quyet-dinh/{decision_id}?tb=da-huy-qd", status_code=303)


@router.get("/don-vi/khen-thuong/{nomination_id}/giay-khen.pdf")
def nomination_certificate(
    request: Request, nomination_id: int, me: Principal = Depends(principal), session: Session = Depends(db)
) -> Response:
    """The awardee's certificate, for whoever may read the nomination."""
    from thidua.services.commendation import certificates

    readable(session, request.app.state.engine, me, nomination_id)
    out = request.app.state.settings.reports_dir / "khen-thuong" / f"giay-khen-de-nghi-{nomination_id}.pdf"
    try:
        certificates.certificate_of(request.app.state.engine, nomination_id, out)
    except NominationError as exc:
        raise as_web_error(exc, back=f"/don-vi/khen-thuong/{nomination_id}") from None
    return FileResponse(out, media_type="application/pdf", filename=f"giay-khen-{nomination_id}.pdf")


@router.get("/khen-thuong/quy-khen-thuong.xlsx")
def reward_fund(request: Request, me: Principal = Depends(principal), session: Session = Depends(db)) -> Response:
    from thidua.services.commendation import bonuses

    _deciding(me)
    campaign = _campaign_for(session, me)
    out = request.app.state.settings.reports_dir / "khen-thuong" / f"quy-khen-thuong-{campaign.code}.xlsx"
    bonuses.write_reward_fund_xlsx(request.app.state.engine, campaign.id, out)
    return FileResponse(
        out, filename=out.name, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
