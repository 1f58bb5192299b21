"""Bonuses of decisions: each decided nomination's amount at the decision date (the catalogue's multiplier per
subject × the dated lương cơ sở of config/commendation.yaml), totals per decision, and the reward-fund report."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.models.bonuses import bonus_amount
from thidua.models.clock import fmt_date
from thidua.models.commendation import AwardDecision, AwardDecisionItem
from thidua.models.nominations import Nomination
from thidua.models.spec.awards import SUBJECT_LABELS, AwardCatalogue
from thidua.models.tables import Unit
from thidua.services import nominations as nom
from thidua.services.commendation.config import commendation_config

D = AwardDecision.__table__  # type: ignore[attr-defined]
DI = AwardDecisionItem.__table__  # type: ignore[attr-defined]
N = Nomination.__table__  # type: ignore[attr-defined]
U = Unit.__table__  # type: ignore[attr-defined]


def bonus_for(catalogue: AwardCatalogue, row: Mapping[str, Any], on: date) -> tuple[int, float, int]:
    """(base salary, multiplier, amount) of one nomination decided on `on`. No multiplier, or a date before the
    first row of the base-salary table: no bonus."""
    award = catalogue.award(row["award_code"])
    multiplier = getattr(award.bonus, row["subject"], None) if award and award.bonus else None
    base = commendation_config().base_salary_on(on)
    if not multiplier or base is None:
        return (base.amount if base else 0), float(multiplier or 0), 0
    return base.amount, float(multiplier), bonus_amount(multiplier, base.amount)


def reward_fund(engine: Engine, campaign_id: int) -> dict[str, Any]:
    """The reward fund's use for a campaign: every decision in force with its items, totals per decision,
    per award form and per recipient unit's top-level branch; revoked decisions listed apart."""
    with Session(engine) as session:
        campaign = nom._campaign(session, campaign_id)
        decisions = [
            dict(r)
            for r in session.execute(
                select(D, U.c.name.label("unit_name"))
                .join(U, U.c.id == D.c.issuing_unit_id)
                .where(D.c.campaign_id == campaign_id)
                .order_by(D.c.decision_date, D.c.id)
            ).mappings()
        ]
        nominee_unit = U.alias("nominee_unit")
        items = [
            dict(r)
            for r in session.execute(
                select(
                    DI,
                    N.c.nominee_name,
                    N.c.nominee_position,
                    N.c.award_name,
                    N.c.award_code,
                    N.c.subject,
                    nominee_unit.c.name.label("unit_name"),
                )
                .join(N, N.c.id == DI.c.nomination_id)
                .join(nominee_unit, nominee_unit.c.id == N.c.nominee_unit_id)
                .where(DI.c.decision_id.in_([d["id"] for d in decisions] or [0]))
                .order_by(DI.c.decision_id, DI.c.position)
            ).mappings()
        ]
    by_award: dict[str, dict[str, Any]] = defaultdict(lambda: {"count": 0, "amount": 0})
    for decision in decisions:
        decision["items"] = [i for i in items if i["decision_id"] == decision["id"]]
        if decision["status"] == "issued":
            for item in decision["items"]:
                key = f"{item['award_name']} – {SUBJECT_LABELS.get(item['subject'], item['subject'])}"
                by_award[key]["count"] += 1
                by_award[key]["amount"] += item["amount"]
    in_force = [d for d in decisions if d["status"] == "issued"]
    return {
        "campaign": campaign,
        "decisions": decisions,
        "by_award": dict(by_award),
        "total": sum(d["total_amount"] for d in in_force),
        "count": sum(len(d["items"]) for d in in_force),
        "revoked_total": sum(d["total_amount"] for d in decisions if d["status"] == "revoked"),
    }


def write_reward_fund_xlsx(engine: Engine, campaign_id: int, out: Path) -> Path:
    """Báo cáo sử dụng quỹ thi đua, khen thưởng: sheet per decision list, totals per form, revoked decisions."""
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.styles import Alignment, Font  # type: ignore[import-untyped]

    fund = reward_fund(engine, campaign_id)
    book = Workbook()
    summary = book.active
    summary.title = "Tổng hợp"
    bold = Font(bold=True)
    summary.append([f"BÁO CÁO SỬ DỤNG QUỸ THI ĐUA, KHEN THƯỞNG – {fund['campaign'].title}"])
    summary["A1"].font = Font(bold=True, size=13)
    summary.append([])
    summary.append(["Quyết định", "Ngày", "Đơn vị ban hành", "Số lượt khen", "Tiền thưởng (đồng)", "Tình trạng"])
    for cell in summary[3]:
        cell.font = bold
    for d in fund["decisions"]:
        state = (
            "Có hiệu lực" if d["status"] == "issued" else f"Đã hủy ({d['revocation_symbol']}): {d['revoked_reason']}"
        )
        summary.append(
            [d["symbol"], fmt_date(d["decision_date"]), d["unit_name"], len(d["items"]), d["total_amount"], state]
        )
    summary.append(["Cộng (quyết định có hiệu lực)", "", "", fund["count"], fund["total"], ""])
    for cell in summary[summary.max_row]:
        cell.font = bold
    summary.append([])
    summary.append(["Theo hình thức khen thưởng", "", "", "Số lượt", "Tiền thưởng (đồng)"])
    for cell in summary[summary.max_row]:
        cell.font = bold
    for key, figures in sorted(fund["by_award"].items()):
        summary.append([key, "", "", figures["count"], figures["amount"]])
    detail = book.create_sheet("Chi tiết")
    detail.append(
        [
            "Quyết định",
            "Ngày",
            "STT",
            "Họ và tên / Tập thể",
            "Chức vụ",
            "Đơn vị",
            "Hình thức",
            "Lương cơ sở",
            "Hệ số",
            "Tiền thưởng (đồng)",
            "Tình trạng",
        ]
    )
    for cell in detail[1]:
        cell.font = bold
    for d in fund["decisions"]:
        for item in d["items"]:
            detail.append(
                [
                    d["symbol"],
                    fmt_date(d["decision_date"]),
                    item["position"],
                    item["nominee_name"],
                    item["nominee_position"],
                    item["unit_name"],
                    item["award_name"],
                    item["base_salary"],
                    item["multiplier"],
                    item["amount"],
                    "Có hiệu lực" if d["status"] == "issued" else "Đã hủy",
                ]
            )
    for sheet in (summary, detail):
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, int) and cell.value >= 1000:
                    cell.number_format = "#,##0"
                cell.alignment = Alignment(vertical="top", wrap_text=False)
        for column in ("A", "D", "F", "G"):
            sheet.column_dimensions[column].width = 36
    out.parent.mkdir(parents=True, exist_ok=True)
    book.save(str(out))
    return out
