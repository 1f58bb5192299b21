"""submissions: Looking things up."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from thidua.models.clock import fmt_date, utc_to_local
from thidua.models.spec.campaign import Obligation
from thidua.models.submissions import (
    CampaignClosed,
    NotOpenYet,
    StaleVersion,
    Submission,
    UnknownReference,
)
from thidua.models.tables import Assignment, Campaign, ObligationDef, Unit
from thidua.services import lookup

RATING_FIELD = "xep_loai_de_nghi"  # the proposed year-end rating on the final report
A = Assignment.__table__  # type: ignore[attr-defined]
S = Submission.__table__  # type: ignore[attr-defined]
U = Unit.__table__  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------------
# Looking things up
# ---------------------------------------------------------------------------------------------------
def get_campaign(session: Session, code: str) -> Campaign:
    return lookup.get_campaign(session, code, error=UnknownReference)


def get_obligation(session: Session, campaign: Campaign, code: str) -> ObligationDef:
    obligation = (
        session.execute(
            select(ObligationDef).where(ObligationDef.campaign_id == campaign.id, ObligationDef.code == code)
        )
        .scalars()
        .first()
    )
    if obligation is None or not obligation.active:
        known = (
            session.execute(
                select(ObligationDef.code).where(
                    ObligationDef.campaign_id == campaign.id,
                    ObligationDef.active.is_(True),  # type: ignore[attr-defined]
                )
            )
            .scalars()
            .all()
        )
        raise UnknownReference(
            f"chiến dịch '{campaign.code}' không có nghĩa vụ '{code}' (có: {', '.join(sorted(known))})"
        )
    return obligation


def get_unit(session: Session, code: str) -> Unit:
    return lookup.get_unit(session, code, error=UnknownReference)


def get_assignment(session: Session, obligation: ObligationDef, unit: Unit) -> Assignment:
    assignment = (
        session.execute(
            select(Assignment).where(Assignment.obligation_id == obligation.id, Assignment.unit_id == unit.id)
        )
        .scalars()
        .first()
    )
    if assignment is None or not assignment.active:
        raise UnknownReference(f"đơn vị '{unit.code}' không phải nộp '{obligation.code}' ({obligation.title})")
    return assignment


def obligation_spec(obligation: ObligationDef) -> Obligation:
    """The typed obligation (fields, review rules) as loaded from the campaign file."""
    return Obligation.model_validate(obligation.definition)


def round_obligation(session: Session, campaign: Campaign | lookup.CampaignInfo, round_number: int) -> ObligationDef:
    """The report of a round: its round_report, or the final report that closes the last round."""
    rows = (
        session.execute(
            select(ObligationDef)
            .where(
                ObligationDef.campaign_id == campaign.id,
                ObligationDef.round_number == round_number,
                ObligationDef.kind.in_(("round_report", "final_report")),  # type: ignore[attr-defined]
                ObligationDef.active.is_(True),  # type: ignore[attr-defined]
            )
            .order_by(ObligationDef.kind.desc())  # type: ignore[attr-defined]  # round_report before final_report
        )
        .scalars()
        .all()
    )
    if not rows:
        raise UnknownReference(f"chiến dịch '{campaign.code}' không có báo cáo sơ kết đợt {round_number}")
    return rows[0]


def _check_open(campaign: Campaign) -> None:
    if campaign.status == "closed":
        raise CampaignClosed(
            f"chiến dịch '{campaign.code}' đã đóng: không nhận thêm báo cáo hay thay đổi "
            "(Văn phòng có thể mở lại bằng 'thidua campaign reopen')"
        )


def _check_window(campaign: Campaign, obligation: ObligationDef, now: datetime) -> None:
    today = utc_to_local(now, campaign.timezone).date()
    if obligation.opens_on is not None and today < obligation.opens_on:
        raise NotOpenYet(f"'{obligation.title}' mở nhận báo cáo từ ngày {fmt_date(obligation.opens_on)}")


def _check_version(assignment: Assignment, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != assignment.version:
        raise StaleVersion(
            f"báo cáo đã thay đổi từ lúc bạn mở (phiên bản {expected_version}, hiện tại {assignment.version}); "
            "hãy tải lại rồi thao tác lại"
        )
