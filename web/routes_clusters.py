"""Cụm/khối thi đua: the office sees every cluster of the campaign's year; a member unit sees its own; the
cluster head (đơn vị trưởng cụm) submits the ranking with its meeting's minutes (biên bản họp cụm)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.datastructures import FormData

from thidua.errors import InvalidInputError, RefusedError
from thidua.services import clusters as svc
from thidua.web.deps import csrf_protect, db, form_data, now, principal, write_turn
from thidua.web.errors import InvalidInput
from thidua.web.permissions import Principal, require
from thidua.web.queries import pick_campaign
from thidua.web.rendering import render

router = APIRouter(dependencies=[Depends(csrf_protect)])


def _page(
    request: Request,
    session: Session,
    me: Principal,
    chien_dich: str | None,
    *,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    campaign = pick_campaign(session, me, chien_dich)
    if campaign is None:
        return render(request, "clusters/index.html", {"campaign": None, "clusters": []})
    clusters = (
        svc.list_clusters(session, year=campaign.year)
        if me.is_office
        else svc.list_clusters(session, year=campaign.year, member_unit_id=me.unit_id)
    )
    require(
        bool(clusters) or me.is_office, "xem cụm/khối thi đua (trang dành cho văn phòng và đơn vị thành viên của cụm)"
    )
    try:
        scoring = svc.scoring_of(campaign)
    except RefusedError:
        scoring = None
    targets = svc.cluster_targets(session, campaign, clusters)
    shown = []
    for cluster in clusters:
        ranked = svc.compute_ranking(session, campaign, cluster) if scoring else []
        shown.append(
            {
                "c": cluster,
                "members": svc.members_of(session, cluster),
                "ranked": ranked,
                "submitted": svc.submitted_ranking(session, campaign.id, cluster.id),  # type: ignore[arg-type]
                "is_head": cluster.head_code == me.unit_code,
                "targets": targets.get(cluster.id, []),
            }
        )
    return render(
        request,
        "clusters/index.html",
        {
            "campaign": campaign,
            "clusters": shown,
            "scoring": scoring,
            "errors": errors or {},
            "typed": typed or {},
        },
        status_code=status_code,
    )


@router.get("/cum-thi-dua")
def clusters_page(
    request: Request, chien_dich: str | None = None, me: Principal = Depends(principal), session: Session = Depends(db)
) -> Response:
    return _page(request, session, me, chien_dich)


@router.post("/cum-thi-dua/{code}/xep-hang")
def submit_ranking(
    code: str,
    request: Request,
    chien_dich: str | None = None,
    form: FormData = Depends(form_data),
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> Response:
    campaign = pick_campaign(session, me, chien_dich)
    if campaign is None:
        raise InvalidInput("Chưa có chiến dịch.", {})
    cluster = svc.get_cluster(session, code, campaign.year)  # 404 when there is no such cụm/khối this year
    require(
        cluster.head_code == me.unit_code,
        f"gửi bảng xếp hạng của {cluster.name} (chỉ đơn vị trưởng cụm năm {cluster.year}: {cluster.head_name})",
    )
    typed = {
        "code": code,
        "bien_ban": str(form.get("bien_ban") or "").strip(),
        "thu_tu": str(form.get("thu_tu") or "").strip(),
    }
    order = [c.strip() for c in typed["thu_tu"].split(",") if c.strip()]
    try:
        with write_turn(request):
            svc.submit_ranking(
                request.app.state.engine,
                campaign.code,
                code,
                me.unit_id,
                actor=me.actor,
                minutes=typed["bien_ban"],
                meeting_order=order,
                now=now(request),
            )
    except InvalidInputError as exc:
        return _page(request, session, me, campaign.code, errors={code: str(exc)}, typed=typed, status_code=422)
    return RedirectResponse(f"/cum-thi-dua?chien_dich={campaign.code}&tb=da-gui", status_code=303)
