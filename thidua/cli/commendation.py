"""CLI: commendation documents and steps (`thidua commendation …`): numbered decisions and tờ trình from the
office's DOCX templates, revocation, the number register."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from thidua.cli.common import UserError, console, friendly, parse_cli_date
from thidua.cli.nominations import ACTOR, NOW, UNIT_AS, _actor, _campaign_id, _engine, _now, _unit_id
from thidua.models.clock import fmt_date, fmt_datetime
from thidua.models.vnwords import group_thousands
from thidua.lazyimport import lazy_module

bonuses = lazy_module("thidua.services.commendation.bonuses")
decisions = lazy_module("thidua.services.commendation.decisions")
persons = lazy_module("thidua.services.commendation.persons")

commendation_app = typer.Typer(
    help="Văn bản khen thưởng: quyết định có số, tờ trình, hủy quyết định, sổ số văn bản.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(commendation_app, name="commendation")


def _number_register(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
    from thidua.services.commendation.numbers import register

    return register(*args, **kwargs)


def _day(text: str) -> date:
    day = parse_cli_date(text)
    if day is None:
        raise UserError("cần ngày (dd/mm/yyyy)")
    return day


def _out(path: Optional[Path], name: str) -> Path:
    from thidua.settings import get_settings

    return path or get_settings().reports_dir / "khen-thuong" / name


@commendation_app.command("decide")
@friendly
def decide_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch."),
    nomination_ids: list[int] = typer.Argument(None, help="Số đề nghị (bỏ trống khi dùng --batch)."),
    unit_as: str = UNIT_AS,
    batch: Optional[int] = typer.Option(None, "--batch", help="Quyết định cho cả danh sách gửi đến (số danh sách)."),
    date_text: str = typer.Option(..., "--date", help="Ngày ký quyết định (dd/mm/yyyy)."),
    signer: str = typer.Option(..., "--signer", help="Người ký."),
    signer_title: str = typer.Option("TM. BAN THƯỜNG VỤ\nCHỦ TỊCH", "--signer-title", help="Chức vụ người ký."),
    council: Optional[int] = typer.Option(None, "--council", help="Phiên họp Hội đồng thi đua, khen thưởng (số)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Tệp DOCX của quyết định (mặc định trong data/reports)."),
    actor: Optional[str] = ACTOR,
    now: Optional[str] = NOW,
) -> None:
    """Ra quyết định khen thưởng: lấy số trong sổ của đơn vị, ghi quyết định, xuất DOCX theo mẫu."""
    engine = _engine()
    issued = decisions.issue_decision(
        engine,
        _campaign_id(engine, code),
        _actor(engine, unit_as, actor),
        decisions.DecisionInput(_day(date_text), signer, signer_title, council_session_id=council),
        nomination_ids=nomination_ids or [],
        batch_id=batch,
        now=_now(now),
    )
    path = decisions.write_decision_docx(engine, issued.id, _out(out, f"quyet-dinh-{issued.id}.docx"))
    console.print(
        f"Quyết định số {issued.symbol} cho {len(issued.nomination_ids)} đề nghị; tiền thưởng "
        f"{group_thousands(issued.total_amount)} đồng. Văn bản: {path}",
        highlight=False,
    )


@commendation_app.command("to-trinh")
@friendly
def to_trinh_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch."),
    unit_as: str = UNIT_AS,
    date_text: str = typer.Option(..., "--date", help="Ngày tờ trình (dd/mm/yyyy)."),
    occasion: str = typer.Option("year_end", "--occasion", help="round | year_end | ad_hoc"),
    round_number: Optional[int] = typer.Option(None, "--round", help="Đợt (khi occasion=round)."),
    signer: str = typer.Option("", "--signer", help="Người ký."),
    out: Optional[Path] = typer.Option(None, "--out", help="Tệp DOCX của tờ trình."),
    actor: Optional[str] = ACTOR,
    now: Optional[str] = NOW,
) -> None:
    """Lấy số tờ trình cho danh sách đang mở của đơn vị và xuất tờ trình DOCX kèm danh sách."""
    engine = _engine()
    batch_id, symbol = decisions.issue_to_trinh(
        engine,
        _campaign_id(engine, code),
        _actor(engine, unit_as, actor),
        on=_day(date_text),
        occasion=occasion,
        round_number=round_number,
        now=_now(now),
    )
    path = decisions.write_to_trinh_docx(engine, batch_id, _out(out, f"to-trinh-{batch_id}.docx"), signer=signer)
    console.print(f"Tờ trình số {symbol} (danh sách #{batch_id}). Văn bản: {path}", highlight=False)


@commendation_app.command("revoke")
@friendly
def revoke_cmd(
    decision_id: int = typer.Argument(..., help="Số (id) quyết định khen thưởng."),
    unit_as: str = UNIT_AS,
    reason: str = typer.Option(..., "--reason", help="Lý do hủy quyết định."),
    date_text: Optional[str] = typer.Option(None, "--date", help="Ngày quyết định hủy (dd/mm/yyyy)."),
    actor: Optional[str] = ACTOR,
    now: Optional[str] = NOW,
) -> None:
    """Hủy quyết định khen thưởng (có số quyết định hủy, lý do ghi vào nhật ký)."""
    engine = _engine()
    symbol = decisions.revoke_decision(
        engine,
        decision_id,
        _actor(engine, unit_as, actor),
        reason=reason,
        on=parse_cli_date(date_text) if date_text else None,
        now=_now(now),
    )
    console.print(f"Đã hủy quyết định #{decision_id} bằng quyết định số {symbol}.", highlight=False)


@commendation_app.command("decisions")
@friendly
def decisions_cmd(code: str = typer.Argument(..., help="Mã chiến dịch.")) -> None:
    """Các quyết định khen thưởng của chiến dịch."""
    engine = _engine()
    table = Table("#", "Số/ký hiệu", "Ngày", "Người ký", "Số đề nghị", "Tiền thưởng", "Trạng thái")
    for row in decisions.list_decisions(engine, _campaign_id(engine, code)):
        items = len(decisions.get_decision(engine, row["id"])["items"])
        state = "đã hủy: " + row["revoked_reason"] if row["status"] == "revoked" else "có hiệu lực"
        table.add_row(
            str(row["id"]),
            row["symbol"],
            fmt_date(row["decision_date"]),
            row["signer"],
            str(items),
            group_thousands(row["total_amount"]),
            state,
        )
    console.print(table)


@commendation_app.command("numbers")
@friendly
def numbers_cmd(
    unit: str = typer.Argument(..., help="Mã đơn vị ban hành."),
    year: int = typer.Argument(..., help="Năm."),
    series: Optional[str] = typer.Option(None, "--series", help="QĐ | TTr | BB"),
) -> None:
    """Sổ số văn bản của một đơn vị trong năm."""
    engine = _engine()
    table = Table("Loại", "Số", "Số/ký hiệu", "Dùng cho", "Lúc", "Người lấy số")
    for row in _number_register(engine, _unit_id(engine, unit), year, series):
        table.add_row(
            row["series"],
            str(row["number"]),
            row["symbol"],
            row["purpose"],
            fmt_datetime(row["issued_at"]),
            row["issued_by"],
        )
    console.print(table)


@commendation_app.command("persons-import")
@friendly
def persons_import_cmd(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Tệp XLSX (trang 'Đoàn viên', 'Khen thưởng')."),
    campaign: Optional[str] = typer.Option(
        None, "--campaign", help="Kiểm tra mã hình thức theo danh mục của chiến dịch."
    ),
    actor: Optional[str] = typer.Option(None, "--actor", help="Người thực hiện ghi vào nhật ký."),
) -> None:
    """Nhập/cập nhật sổ đoàn viên, cán bộ công đoàn và lịch sử khen thưởng từ XLSX (lỗi báo đủ, kèm trang, dòng, cột)."""
    engine = _engine()
    codes = None
    if campaign:
        from sqlmodel import Session

        from thidua.services import nominations as nom

        with Session(engine) as session:
            catalogue = nom.campaign_catalogue(session, nom.campaign_by_code(engine, campaign))
        codes = {a.code: a.name for a in catalogue.awards}
    try:
        result = persons.import_persons(engine, path, actor=actor or "cli", award_codes=codes)
    except persons.PersonImportError as exc:
        for problem in exc.problems:
            console.print(f"[red]✗[/] {escape(problem)}", highlight=False)
        raise UserError(f"{len(exc.problems)} lỗi; sổ đoàn viên giữ nguyên") from None
    console.print(
        f"Đã nhập {path.name}: thêm {result.created}, cập nhật {result.updated}, giữ nguyên {result.unchanged}; "
        f"{result.awards} lượt khen thưởng trước đây.",
        highlight=False,
    )


@commendation_app.command("persons")
@friendly
def persons_cmd(unit: str = typer.Argument(..., help="Mã đơn vị (gồm cả đơn vị cấp dưới).")) -> None:
    """Sổ đoàn viên, cán bộ công đoàn của một đơn vị và các đơn vị trực thuộc."""
    engine = _engine()
    table = Table("#", "Họ và tên", "Đơn vị", "Chức vụ", "Năm sinh", "Loại", "Khen thưởng")
    for p in persons.persons_in_subtree(engine, _unit_id(engine, unit)):
        awards = ", ".join(
            f"{h['award_code']} {h['year']}" + (" (đã hủy)" if h["revoked"] else "")
            for h in persons.history(engine, p.id)
        )
        table.add_row(str(p.id), p.full_name, p.unit_code, p.position, str(p.birth_year or ""), p.kind_label, awards)
    console.print(table)


@commendation_app.command("fund")
@friendly
def fund_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch."),
    out: Optional[Path] = typer.Option(None, "--out", help="Tệp XLSX (mặc định trong data/reports)."),
) -> None:
    """Báo cáo quỹ thi đua, khen thưởng: tiền thưởng từng quyết định, theo hình thức (XLSX)."""
    engine = _engine()
    campaign_id = _campaign_id(engine, code)
    path = bonuses.write_reward_fund_xlsx(engine, campaign_id, _out(out, f"quy-khen-thuong-{code}.xlsx"))
    fund = bonuses.reward_fund(engine, campaign_id)
    console.print(
        f"Tiền thưởng {fund['count']} lượt khen: {group_thousands(fund['total'])} đồng. Báo cáo: {path}",
        highlight=False,
    )


@commendation_app.command("certificates")
@friendly
def certificates_cmd(
    decision_id: int = typer.Argument(..., help="Số (id) quyết định khen thưởng."),
    out: Optional[Path] = typer.Option(None, "--out", help="Tệp PDF (mặc định trong data/reports)."),
) -> None:
    """In giấy khen / bằng khen của một quyết định (PDF, mỗi người/tập thể một trang, theo phôi in sẵn)."""
    from thidua.services.commendation import certificates

    engine = _engine()
    path = certificates.write_certificates(engine, decision_id, _out(out, f"bang-khen-qd-{decision_id}.pdf"))
    console.print(f"Đã in {len(decisions.get_decision(engine, decision_id)['items'])} trang: {path}", highlight=False)


@commendation_app.command("minutes")
@friendly
def minutes_cmd(
    session_id: int = typer.Argument(..., help="Số (id) phiên họp Hội đồng."),
    out: Optional[Path] = typer.Option(None, "--out", help="Tệp DOCX của biên bản."),
) -> None:
    """Biên bản họp Hội đồng thi đua, khen thưởng (DOCX, theo mẫu)."""
    from thidua.services.commendation import council

    engine = _engine()
    path = council.write_minutes_docx(engine, session_id, _out(out, f"bien-ban-hoi-dong-{session_id}.docx"))
    console.print(f"Biên bản: {path}", highlight=False)
