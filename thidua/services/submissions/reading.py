"""submissions: Reading what was submitted."""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from thidua.models.submissions import (
    Submission,
    counted_review_statuses,
)
from thidua.models.tables import Assignment, ObligationDef

from .finding import RATING_FIELD, get_assignment, get_campaign, get_obligation, get_unit, obligation_spec


# ---------------------------------------------------------------------------------------------------
# Reading what was submitted
# ---------------------------------------------------------------------------------------------------
def history(session: Session, *, campaign_code: str, obligation_code: str, unit_code: str) -> list[Submission]:
    """Every version of a unit's report, oldest first."""
    campaign = get_campaign(session, campaign_code)
    obligation = get_obligation(session, campaign, obligation_code)
    assignment = get_assignment(session, obligation, get_unit(session, unit_code))
    return list(
        session.execute(
            select(Submission).where(Submission.assignment_id == assignment.id).order_by(Submission.version)  # type: ignore[arg-type]
        ).scalars()
    )


def counted_submission(session: Session, assignment_id: int, accepted_only: bool = True) -> Submission | None:
    """The version that counts for an assignment (see models.submissions.counted_review_statuses)."""
    return (
        session.execute(
            select(Submission)
            .where(
                Submission.assignment_id == assignment_id,  # type: ignore[arg-type]
                Submission.review_status.in_(counted_review_statuses(accepted_only)),  # type: ignore[attr-defined]
            )
            .order_by(Submission.version.desc())  # type: ignore[attr-defined]
            .limit(1)
        )
        .scalars()
        .first()
    )


def year_end_rating(session: Session, campaign_id: int, unit_id: int) -> str | None:
    """The unit's year-end rating for award eligibility: the superior's appraised rating when it set one,
    else the rating the unit proposed in its final report. None without a counted final report."""
    return year_end_ratings(session, campaign_id, [unit_id])[unit_id]


def year_end_ratings(session: Session, campaign_id: int, unit_ids: Sequence[int]) -> dict[int, str | None]:
    """year_end_rating of many units (the same rule), the final-report obligations read and their forms decoded
    once instead of once per unit."""
    ratings: dict[int, str | None] = dict.fromkeys(unit_ids)
    remaining = set(ratings)
    final = (
        session.execute(
            select(ObligationDef).where(
                ObligationDef.campaign_id == campaign_id,
                ObligationDef.kind == "final_report",
                ObligationDef.active.is_(True),  # type: ignore[attr-defined]
            )
        )
        .scalars()
        .all()
    )
    for obligation in final:
        if not remaining:
            break
        spec = obligation_spec(obligation)
        if not any(f.code == RATING_FIELD for f in spec.fields):
            continue
        assignments: dict[int, int] = {}
        for chunk_start in range(0, len(remaining), 500):
            chunk = sorted(remaining)[chunk_start : chunk_start + 500]
            for assignment_id, unit_id in session.execute(
                select(Assignment.id, Assignment.unit_id)  # type: ignore[call-overload]
                .where(Assignment.obligation_id == obligation.id, Assignment.unit_id.in_(chunk))  # type: ignore[attr-defined]
                .order_by(Assignment.id)
            ).all():
                assignments.setdefault(unit_id, assignment_id)  # a unit's first assignment, as scalar() read it
        counted = _counted_ratings(session, list(assignments.values()), spec.consolidate_accepted_only)
        for unit_id, assignment_id in assignments.items():
            if assignment_id in counted:
                ratings[unit_id] = counted[assignment_id]
                remaining.discard(unit_id)
    return ratings


def _counted_ratings(session: Session, assignment_ids: Sequence[int], accepted_only: bool) -> dict[int, str | None]:
    """Per assignment that has a counted version: the rating of that version (counted_submission's), the
    appraised one when set, else the one proposed in the form. One query per 500 assignments."""
    S = Submission.__table__  # type: ignore[attr-defined]
    newest: dict[int, tuple[int, str | None]] = {}
    for start in range(0, len(assignment_ids), 500):
        for assignment_id, version, appraised, proposed in session.execute(
            select(S.c.assignment_id, S.c.version, S.c.appraised_rating, S.c.data[RATING_FIELD].as_string()).where(
                S.c.assignment_id.in_(assignment_ids[start : start + 500]),
                S.c.review_status.in_(counted_review_statuses(accepted_only)),
            )
        ):
            if assignment_id not in newest or version > newest[assignment_id][0]:
                newest[assignment_id] = (version, appraised or proposed)
    return {assignment_id: rating for assignment_id, (_, rating) in newest.items()}
