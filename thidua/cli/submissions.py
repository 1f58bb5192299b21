"""CLI: submit, review, forms (template/import), targets, report (round/final/consolidate), and
`campaign close/reopen` (added to the campaign command group)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from thidua.models.clock import fmt_date, local_to_utc
from thidua.models.vnformat import MISSING, fmt_number, fmt_percent
from thidua.cli.common import UserError, console, friendly, parse_cli_date, parse_cli_now
from thidua.cli.common import ready_engine as _engine


forms_app = typer.Typer(help="Biểu mẫu: tạo tệp Excel để nhập, nhập báo cáo hàng loạt.", no_args_is_help=True)
report_app = typer.Typer(help="Báo cáo tổng hợp (XLSX, DOCX) và tổng hợp số liệu.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("submit", help="Đơn vị gửi báo cáo của mình từ tệp .yaml/.json/.xlsx.")(submit)
    app.command("review", help="Đơn vị cấp trên duyệt hoặc trả lại báo cáo của đơn vị trực thuộc.")(review)
    app.command("targets", help="Tiến độ các chỉ tiêu (toàn tỉnh và từng đơn vị) tại một ngày.")(targets)
    app.add_typer(forms_app, name="forms")
    app.add_typer(report_app, name="report")
    from thidua.cli.campaign import campaign_app  # the campaign group belongs to the campaign CLI

    campaign_app.command("close", help="Đóng chiến dịch: không nhận thêm báo cáo, không duyệt.")(close_campaign)
    campaign_app.command("reopen", help="Mở lại chiến dịch đã đóng.")(reopen_campaign)


def _now(text: str | None) -> datetime | None:
    from thidua.settings import get_settings

    moment = parse_cli_now(text)
    return None if moment is None else local_to_utc(moment, get_settings().timezone)


NOW_HELP = "Thời điểm thao tác (dd/mm/yyyy [HH:MM], giờ địa phương); mặc định: bây giờ"


@friendly
def submit(
    campaign: str = typer.Argument(..., help="Mã chiến dịch"),
    unit: str = typer.Option(..., "--unit", help="Mã đơn vị gửi báo cáo"),
    obligation: str = typer.Option(..., "--obligation", help="Mã nghĩa vụ (vd. so-ket-dot-1)"),
    file: Path = typer.Option(..., "--file", help="Tệp số liệu .yaml, .json hoặc .xlsx"),
    acting_as: Optional[str] = typer.Option(None, "--as", help="Đơn vị của người gửi (mặc định: --unit)"),
    actor: Optional[str] = typer.Option(None, "--actor", help="Người gửi (e-mail) để ghi nhật ký"),
    expect_version: Optional[int] = typer.Option(None, "--expect-version", help="Phiên bản đã xem; khác thì từ chối"),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
) -> None:
    from thidua.db import session_scope
    from thidua.services.submissions import (
        get_campaign,
        get_obligation,
        obligation_spec,
        read_form_file,
        submit_report,
    )

    with session_scope(_engine()) as session:
        spec = obligation_spec(get_obligation(session, get_campaign(session, campaign), obligation))
        raw = read_form_file(file, spec.fields, unit_code=unit)
        result = submit_report(
            session,
            campaign_code=campaign,
            obligation_code=obligation,
            unit_code=unit,
            raw=raw,
            actor=actor or acting_as or unit,
            acting_unit_code=acting_as or unit,
            now=_now(now),
            expected_version=expect_version,
            source="cli",
        )
    console.print(result.describe(), highlight=False)


@friendly
def review(
    campaign: str = typer.Argument(..., help="Mã chiến dịch"),
    unit: str = typer.Option(..., "--unit", help="Mã đơn vị có báo cáo được duyệt"),
    obligation: str = typer.Option(..., "--obligation", help="Mã nghĩa vụ"),
    reviewer: str = typer.Option(..., "--as", help="Mã đơn vị duyệt (đơn vị cấp trên trực tiếp)"),
    accept: bool = typer.Option(False, "--accept", help="Duyệt"),
    give_back: bool = typer.Option(False, "--return", help="Trả lại (cần --comment)"),
    comment: Optional[str] = typer.Option(None, "--comment", help="Nhận xét"),
    rating: Optional[str] = typer.Option(None, "--rating", help="Xếp loại thẩm định (báo cáo tổng kết)"),
    actor: Optional[str] = typer.Option(None, "--actor", help="Người duyệt (e-mail) để ghi nhật ký"),
    expect_version: Optional[int] = typer.Option(None, "--expect-version", help="Phiên bản đã xem; khác thì từ chối"),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
) -> None:
    from thidua.db import session_scope
    from thidua.services.submissions import review_report

    if accept == give_back:
        raise UserError("chọn đúng một trong hai: --accept (duyệt) hoặc --return (trả lại)")
    with session_scope(_engine()) as session:
        result = review_report(
            session,
            campaign_code=campaign,
            obligation_code=obligation,
            unit_code=unit,
            reviewer_code=reviewer,
            accept=accept,
            actor=actor or reviewer,
            comment=comment,
            appraised_rating=rating,
            now=_now(now),
            expected_version=expect_version,
        )
    console.print(result.describe(), highlight=False)


@forms_app.command("template", help="Tạo tệp Excel để đơn vị cấp trên nhập báo cáo cho các đơn vị trực thuộc.")
@friendly
def template(
    campaign: str = typer.Argument(..., help="Mã chiến dịch"),
    obligation: str = typer.Option(..., "--obligation", help="Mã nghĩa vụ"),
    superior: str = typer.Option(..., "--for", help="Mã đơn vị cấp trên (đơn vị duyệt)"),
    out: Path = typer.Option(..., "--out", help="Tệp .xlsx sẽ tạo"),
) -> None:
    from thidua.db import session_scope
    from thidua.services.submissions import write_form_template

    if out.suffix.lower() != ".xlsx":
        raise UserError(f"tệp mẫu phải có đuôi .xlsx: {out}")
    with session_scope(_engine()) as session:
        rows = write_form_template(
            session, campaign_code=campaign, obligation_code=obligation, superior_code=superior, out=out
        )
    console.print(f"Đã tạo {out} với {rows} đơn vị.", highlight=False)


@forms_app.command("import", help="Nhập báo cáo của các đơn vị trực thuộc từ tệp Excel (mỗi dòng một đơn vị).")
@friendly
def import_(
    campaign: str = typer.Argument(..., help="Mã chiến dịch"),
    obligation: str = typer.Option(..., "--obligation", help="Mã nghĩa vụ"),
    superior: str = typer.Option(..., "--as", help="Mã đơn vị cấp trên nhập thay"),
    file: Path = typer.Option(..., "--file", help="Tệp .xlsx (tạo bằng 'thidua forms template')"),
    partial: bool = typer.Option(False, "--partial", help="Ghi các dòng đúng dù có dòng lỗi"),
    accept: bool = typer.Option(False, "--accept", help="Cấp trên xác nhận số liệu: duyệt luôn khi nhập"),
    actor: Optional[str] = typer.Option(None, "--actor", help="Người nhập (e-mail) để ghi nhật ký"),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
) -> None:
    from thidua.db import session_scope
    from thidua.services.submissions import import_reports

    if not file.exists():
        raise UserError(f"không tìm thấy tệp: {file}")
    with session_scope(_engine()) as session:
        result = import_reports(
            session,
            campaign_code=campaign,
            obligation_code=obligation,
            superior_code=superior,
            path=file,
            actor=actor or superior,
            partial=partial,
            accept=accept,
            now=_now(now),
        )
    console.print(result.describe(), highlight=False)
    if result.problems and not result.applied:
        raise UserError("không ghi được dòng nào")


@friendly
def targets(
    campaign: str = typer.Argument(..., help="Mã chiến dịch"),
    at: Optional[str] = typer.Option(None, "--at", help="Xem tại ngày (dd/mm/yyyy); mặc định: hôm nay"),
    target: Optional[str] = typer.Option(None, "--target", help="Chỉ xem một chỉ tiêu"),
) -> None:
    from thidua.db import session_scope
    from thidua.services.targets import target_progress

    with session_scope(_engine()) as session:
        reports = target_progress(session, campaign_code=campaign, at=parse_cli_date(at), target_code=target)
    if not reports:
        console.print("Chiến dịch không có chỉ tiêu nào.")
    for t in reports:
        table = Table(
            title=f"{t.title}\nChỉ tiêu: {fmt_number(t.target)} {t.unit_of_measure}, hạn {fmt_date(t.deadline)}"
            + (
                f" — số liệu chốt đến hết {fmt_date(t.figures_to)} (xem ngày {fmt_date(t.at)})"
                if t.figures_to and t.figures_to < t.at
                else f" — số liệu đến hết {fmt_date(t.at)}"
            ),
            title_justify="left",
        )
        for header in ("Đơn vị", "Đạt", "% chỉ tiêu", "Dự báo đến hạn", "Đánh giá", "Có số liệu / phải báo cáo"):
            table.add_column(header, justify="left" if header in ("Đơn vị", "Đánh giá") else "right")
        for row in [*t.scope, *t.breakdown]:
            p = row.progress
            table.add_row(
                row.unit_name,
                fmt_number(p.figure.value, 2, missing=MISSING),
                (
                    fmt_percent(p.percent_of_target, missing=MISSING)
                    if p.judged
                    else f"{fmt_percent(p.share_of_total, missing=MISSING)} của tổng"
                ),
                fmt_number(p.forecast, missing=MISSING),
                p.verdict,
                f"{p.figure.units_reported}/{p.figure.units_owing}",
            )
        console.print(table)
        notes = sorted(
            {r.progress.note for r in t.scope} | {r.progress.note for r in t.breakdown if not r.progress.judged}
        )
        for note in notes:
            console.print(f"  [dim]{note}[/]", highlight=False)


@report_app.command("round", help="Báo cáo sơ kết một đợt: tệp XLSX và DOCX.")
@friendly
def report_round(
    campaign: str = typer.Argument(..., help="Mã chiến dịch"),
    round_number: int = typer.Option(..., "--round", min=1, help="Số đợt"),
    out: Path = typer.Option(Path("."), "--out", help="Thư mục ghi tệp"),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
) -> None:
    from thidua.db import session_scope
    from thidua.services.reports import build_round_report

    with session_scope(_engine()) as session:
        files = build_round_report(
            session, campaign_code=campaign, round_number=round_number, out_dir=out, now=_now(now), actor="cli:report"
        )
    _print_files(files)


@report_app.command("final", help="Báo cáo tổng kết năm: tệp XLSX và DOCX.")
@friendly
def report_final(
    campaign: str = typer.Argument(..., help="Mã chiến dịch"),
    out: Path = typer.Option(Path("."), "--out", help="Thư mục ghi tệp"),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
) -> None:
    from thidua.db import session_scope
    from thidua.services.reports import build_final_report

    with session_scope(_engine()) as session:
        files = build_final_report(session, campaign_code=campaign, out_dir=out, now=_now(now), actor="cli:report")
    _print_files(files)


@report_app.command("consolidate", help="Tổng hợp số liệu ngay (ghi bản mới nếu số liệu thay đổi).")
@friendly
def report_consolidate(
    campaign: str = typer.Argument(..., help="Mã chiến dịch"),
    round_number: Optional[int] = typer.Option(None, "--round", min=1, help="Số đợt"),
    obligation: Optional[str] = typer.Option(None, "--obligation", help="Hoặc mã nghĩa vụ"),
) -> None:
    from thidua.db import session_scope
    from thidua.services.consolidation import consolidate

    if (round_number is None) == (obligation is None):
        raise UserError("chọn đúng một trong hai: --round N hoặc --obligation MÃ")
    with session_scope(_engine()) as session:
        result = consolidate(
            session,
            campaign_code=campaign,
            obligation_code=obligation,
            round_number=round_number,
            actor="cli:consolidate",
        )
    console.print(result.describe(), highlight=False)


def _print_files(files) -> None:  # noqa: ANN001
    for result in files.consolidations:
        console.print(result.describe(), highlight=False)
    console.print(f"Đã ghi:\n  {files.xlsx}\n  {files.docx}", highlight=False)


@friendly
def close_campaign(
    code: str = typer.Argument(..., help="Mã chiến dịch"),
    actor: str = typer.Option("cli", "--actor", help="Người thao tác (e-mail)"),
) -> None:
    from thidua.db import session_scope
    from thidua.services.submissions import set_campaign_status

    with session_scope(_engine()) as session:
        changed = set_campaign_status(session, code, closed=True, actor=actor)
    console.print(f"Đã đóng chiến dịch {code}." if changed else f"Chiến dịch {code} đã đóng từ trước.")


@friendly
def reopen_campaign(
    code: str = typer.Argument(..., help="Mã chiến dịch"),
    actor: str = typer.Option("cli", "--actor", help="Người thao tác (e-mail)"),
) -> None:
    from thidua.db import session_scope
    from thidua.services.submissions import set_campaign_status

    with session_scope(_engine()) as session:
        changed = set_campaign_status(session, code, closed=False, actor=actor)
    console.print(f"Đã mở lại chiến dịch {code}." if changed else f"Chiến dịch {code} đang mở.")
