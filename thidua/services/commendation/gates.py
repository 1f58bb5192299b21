"""What must hold before a decision, for every way of deciding (numbered decisions and recorded ones alike):
required evidence attached, the publication window closed, the council's vote passed."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from sqlmodel import Session

from thidua.models.awards import Refusal


def decision_refusals(session: Session, ctx: Any, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Refusal]]:
    from thidua.services.commendation import council, evidence, publication

    labels = [r["_label"] for r in rows]
    out: dict[str, list[Refusal]] = {}
    for found in (
        evidence.missing_refusals(session, ctx.catalogue, rows, labels),
        publication.decision_refusals(session, ctx, rows, labels),
        council.decision_refusals(session, ctx, rows, labels),
    ):
        for label, reasons in found.items():
            out.setdefault(label, []).extend(reasons)
    return out
