"""Nominations on the pages: who may see and act on one, the proposal form read from the catalogue, and
the nominations service's refusals turned into web errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping, cast

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.models.awards import DossierEntry
from thidua.models.clock import fmt_datetime, parse_date
from thidua.models.nominations import (
    NominationError,
    NominationNotFound,
)
from thidua.models.spec.awards import OCCASION_LABELS, SUBJECT_LABELS, Award, AwardCatalogue
from thidua.models.tables import Campaign, Level, Round, Unit
from thidua.services.nominations import Actor, NominationView, ProposalInput, campaign_catalogue, get_nomination
from thidua.web.errors import Forbidden, NotFound
from thidua.web.permissions import Principal
from thidua.web.service_errors import sentence


def actor_for(me: Principal, unit_id: int | None = None) -> Actor:
    """The service's Actor: the unit acted for (the office may act for the unit holding a file) and who."""
    return Actor(unit_id=unit_id if unit_id is not None else me.unit_id, name=me.actor)


@dataclass(frozen=True)
class Access:
    read: bool
    propose_side: bool  # resubmit, withdraw
    hold_side: bool  # approve, return, reject, decide


def access(session: Session, me: Principal, view: NominationView) -> Access:
    """The proposer acts on its own files; the unit holding a file decides on it (its reviewers, or anyone of
    the unit when the file is its own); the office reads and decides within its subtree. Units on the file's
    review path (between the proposer and the deciding unit) may read it."""
    paths = dict(
        session.execute(
            select(Unit.id, Unit.path).where(
                Unit.id.in_([view.origin_unit_id, view.current_unit_id, view.deciding_unit_id])
            )
        ).all()
    )
    origin_path, deciding_path = paths.get(view.origin_unit_id, ""), paths.get(view.deciding_unit_id, "")
    in_office_scope = me.is_office and origin_path.startswith(me.unit_path)
    own = view.origin_unit_id == me.unit_id
    holder = view.current_unit_id == me.unit_id
    on_path = origin_path.startswith(me.unit_path) and me.unit_path.startswith(deciding_path)
    return Access(
        read=own or holder or in_office_scope or on_path,
        propose_side=own,
        hold_side=(holder and (me.is_reviewer or me.is_office or own)) or (in_office_scope and not own),
    )


def readable(session: Session, engine: Engine, me: Principal, nomination_id: int) -> tuple[NominationView, Access]:
    try:
        view = get_nomination(engine, nomination_id)
    except NominationNotFound as exc:
        raise NotFound(sentence(str(exc))) from None
    rights = access(session, me, view)
    if not rights.read:
        raise Forbidden("Tài khoản của bạn không có quyền xem đề nghị khen thưởng của đơn vị khác.")
    return view, rights


def current_state(view: NominationView) -> dict[str, str]:
    state = {"Tình trạng": view.status_label, "Đang ở": view.current_unit}
    if view.steps:
        last = view.steps[-1]
        state["Thao tác gần nhất"] = f"{last.at_unit} ({last.actor}), {fmt_datetime(last.at)}"
        if last.comment:
            state["Ý kiến"] = last.comment
    return state


def as_web_error(exc: NominationError, back: str = "/don-vi/khen-thuong") -> NominationError:
    """Add the link back to a refused nomination request; the app's one handler maps it by category."""
    exc.detail.setdefault("back", back)
    return exc


# ---------------------------------------------------------------------------------------------------
# The proposal form
# ---------------------------------------------------------------------------------------------------
@dataclass
class ProposalForm:
    """What the proposal page offers, read from the campaign's award catalogue."""

    awards: list[Award]
    nominees: list[Unit]
    rounds: list[int]
    dossier: list[Any]
    level_names: dict[str, str]
    persons: list[Any] = field(default_factory=list)  # the persons register of the unit and its children
    subjects: dict[str, str] = field(default_factory=lambda: dict(SUBJECT_LABELS))
    occasions: dict[str, str] = field(default_factory=lambda: dict(OCCASION_LABELS))


def proposal_form(session: Session, me: Principal, campaign: Campaign) -> tuple[ProposalForm, AwardCatalogue]:
    catalogue = campaign_catalogue(session, campaign)
    awards = [a for a in catalogue.awards if me.unit_level in a.proposed_by]
    own = session.get(Unit, me.unit_id)
    children = list(
        session.execute(
            select(Unit).where(Unit.parent_id == me.unit_id, Unit.active.is_(True)).order_by(Unit.code)
        ).scalars()
    )
    rounds = list(
        session.execute(select(Round.number).where(Round.campaign_id == campaign.id).order_by(Round.number)).scalars()
    )
    names = {
        code: short or name for code, short, name in session.execute(select(Level.code, Level.short_name, Level.name))
    }
    dossier = [d for d in catalogue.dossier_items if not d.from_batch]
    from thidua.services.commendation.persons import persons_in_subtree

    nominee_ids = {me.unit_id, *(c.id for c in children)}
    people = [p for p in persons_in_subtree(cast(Engine, session.get_bind()), me.unit_id) if p.unit_id in nominee_ids]
    return ProposalForm(awards, [own, *children], rounds, dossier, names, people), catalogue


def _int(raw: Mapping[str, str], key: str, label: str, errors: dict[str, str]) -> int | None:
    text = raw.get(key, "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        errors[key] = f"{label} phải là số nguyên, nhận '{text}'."
        return None


def read_proposal(raw: Mapping[str, str], form: ProposalForm) -> tuple[ProposalInput | None, dict[str, str]]:
    """The typed form as a ProposalInput, or the errors beside the fields. The award rules (eligibility,
    dossier, quotas, window) are the service's; here only what the form itself can tell."""
    errors: dict[str, str] = {}
    award = next((a for a in form.awards if a.code == raw.get("giai_thuong")), None)
    if award is None:
        errors["giai_thuong"] = "Chọn hình thức khen thưởng."
    subject = raw.get("doi_tuong", "")
    if subject not in SUBJECT_LABELS:
        errors["doi_tuong"] = "Chọn đối tượng (tập thể hoặc cá nhân)."
    person = None
    if raw.get("nguoi", "").strip():  # a person of the register: name, unit and position come from it
        person_id = _int(raw, "nguoi", "Người trong sổ đoàn viên", errors)
        person = next((p for p in form.persons if p.id == person_id), None)
        if person is None:
            errors.setdefault("nguoi", "Chọn người trong sổ đoàn viên của đơn vị mình hoặc đơn vị trực thuộc.")
        elif subject != "individual":
            errors["nguoi"] = "Chỉ khen cá nhân mới chọn người trong sổ đoàn viên."
        else:
            raw = {
                **raw,
                "don_vi": str(person.unit_id),
                "ho_ten": person.full_name,
                "chuc_vu": raw.get("chuc_vu", "").strip() or person.position,
            }
    nominee = _int(raw, "don_vi", "Đơn vị", errors)
    if nominee is None or nominee not in {u.id for u in form.nominees}:
        errors.setdefault("don_vi", "Chọn đơn vị được đề nghị (đơn vị mình hoặc đơn vị trực thuộc).")
    if subject == "individual" and not raw.get("ho_ten", "").strip():
        errors["ho_ten"] = "Khen cá nhân cần họ tên người được đề nghị."
    occasion = raw.get("dip", "")
    if occasion not in OCCASION_LABELS:
        errors["dip"] = "Chọn dịp khen thưởng."
    round_number = _int(raw, "dot", "Đợt", errors) if occasion == "round" else None
    if occasion == "round" and round_number not in form.rounds:
        errors.setdefault("dot", "Chọn đợt thi đua.")
    if not raw.get("thanh_tich", "").strip():
        errors["thanh_tich"] = "Cần tóm tắt thành tích."
    dossier: dict[str, DossierEntry] = {}
    asked = set(award.dossier) if award else set()
    for item in form.dossier:
        if item.code not in asked:  # the form lists every document; each award asks for some of them
            continue
        ref = raw.get(f"hs_{item.code}", "").strip()
        votes_for = _int(raw, f"hs_{item.code}_dong_y", "Số phiếu đồng ý", errors) if item.needs_vote else None
        votes_total = _int(raw, f"hs_{item.code}_tong", "Số người dự họp", errors) if item.needs_vote else None
        if votes_for is not None and votes_total is not None and votes_for > votes_total:
            errors[f"hs_{item.code}_dong_y"] = f"Số phiếu đồng ý ({votes_for}) lớn hơn số người dự họp ({votes_total})."
        if ref or votes_for is not None:
            dossier[item.code] = DossierEntry(ref=ref, votes_for=votes_for, votes_total=votes_total)
    if errors:
        return None, errors
    assert award is not None and nominee is not None
    return ProposalInput(
        award_code=award.code,
        subject=subject,
        nominee_unit_id=nominee,
        achievement=raw["thanh_tich"].strip(),
        occasion=occasion,
        round_number=round_number,
        person_name=raw.get("ho_ten", "").strip(),
        person_position=raw.get("chuc_vu", "").strip(),
        theme=raw.get("chuyen_de", "").strip(),
        discipline=raw.get("ky_luat", "").strip(),
        dossier=dossier,
        person_id=person.id if person else None,
    ), {}


def read_day(text: str, field: str, label: str, errors: dict[str, str]) -> date | None:
    if not text.strip():
        errors[field] = f"Cần {label} (dd/mm/yyyy)."
        return None
    try:
        return parse_date(text)
    except ValueError as exc:
        errors[field] = sentence(str(exc))
        return None
