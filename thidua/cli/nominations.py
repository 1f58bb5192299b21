"""CLI: award nominations (`thidua nominations …`): propose, review level by level, send lists, decide,
and the spreadsheets (a level's consolidated list, the campaign's award register)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.table import Table

from thidua.models.clock import fmt_date, fmt_datetime, local_to_utc
from thidua.cli.common import UserError, console, friendly, parse_cli_date, parse_cli_now
from thidua.cli.common import ready_engine as _engine
from thidua.lazyimport import lazy_module

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from thidua.models.awards import DossierEntry

service = lazy_module("thidua.services.nominations")

nominations_app = typer.Typer(
    help="Đề nghị khen thưởng: đề nghị, xét duyệt từng cấp, quyết định, sổ khen thưởng.", no_args_is_help=True
)

UNIT_AS = typer.Option(..., "--as", help="Mã đơn vị thực hiện (đơn vị đề nghị / đơn vị đang xét).")
ACTOR = typer.Option(None, "--actor", help="Người thực hiện (e-mail) ghi vào nhật ký; mặc định 'cli:<mã đơn vị>'.")
NOW = typer.Option(None, "--now", help="Thời điểm thực hiện (dd/mm/yyyy [HH:MM], giờ địa phương), để chạy lại quá khứ.")


def register(app: typer.Typer) -> None:
    app.add_typer(nominations_app, name="nominations")


def _campaign_id(engine: Engine, code: str) -> int:
    return service.campaign_by_code(engine, code).id


def _unit_id(engine: Engine, code: str) -> int:
    from sqlalchemy import select
    from sqlmodel import Session

    from thidua.models.tables import Unit

    with Session(engine) as session:
        found = session.execute(select(Unit.id).where(Unit.code == code)).scalar()  # type: ignore[call-overload]
    if found is None:
        raise UserError(f"không có đơn vị mã '{code}'")
    return found


def _actor(engine: Engine, unit_code: str, actor: str | None) -> service.Actor:
    return service.Actor(_unit_id(engine, unit_code), actor or f"cli:{unit_code}")


def _now(text: str | None) -> datetime | None:
    parsed = parse_cli_now(text)
    return None if parsed is None else local_to_utc(parsed)


def _dossier(items: list[str], votes: list[str]) -> dict[str, DossierEntry]:
    """--dossier CODE=REF (repeatable) and --votes CODE=FOR/TOTAL for minutes with a vote."""
    from thidua.models.awards import DossierEntry

    entries: dict[str, DossierEntry] = {}
    for item in items:
        code, sep, ref = item.partition("=")
        if not sep or not code.strip() or not ref.strip():
            raise UserError(f"--dossier '{item}': dùng dạng MÃ_HỒ_SƠ=số/ký hiệu hoặc tên tệp")
        entries[code.strip()] = DossierEntry(ref=ref.strip())
    for item in votes:
        code, sep, figures = item.partition("=")
        for_, slash, total = figures.partition("/")
        if not sep or not slash or not for_.strip().isdigit() or not total.strip().isdigit():
            raise UserError(
                f"--votes '{item}': dùng dạng MÃ_HỒ_SƠ=SỐ_PHIẾU_ĐỒNG_Ý/TỔNG_SỐ, ví dụ bien-ban-hoi-dong=9/11"
            )
        code = code.strip()
        if code not in entries:
            raise UserError(f"--votes '{item}': khai hồ sơ '{code}' bằng --dossier trước")
        entries[code] = DossierEntry(entries[code].ref, int(for_), int(total))
    return entries


def _print_views(views: list[service.NominationView], title: str) -> None:
    from thidua.models.spec.awards import SUBJECT_LABELS

    table = Table(title=title)
    for column in ("Số", "Hình thức", "Đối tượng", "Đơn vị đề nghị", "Trạng thái", "Đang ở", "Hạn xét", "Phiên bản"):
        table.add_column(column)
    for v in views:
        table.add_row(
            str(v.id),
            v.award_name,
            f"{SUBJECT_LABELS.get(v.subject, v.subject)}: {v.nominee_name}",
            v.origin_unit,
            v.status_label,
            v.current_unit,
            fmt_datetime(v.review_due_at),
            str(v.version),
        )
    console.print(table)
    if not views:
        console.print("Không có đề nghị nào.")


@nominations_app.command("list")
@friendly
def list_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch."),
    unit: Optional[str] = typer.Option(None, "--unit", help="Chỉ đề nghị có đối tượng thuộc đơn vị này (cả cây)."),
    queue: Optional[str] = typer.Option(None, "--queue", help="Hàng chờ xét của đơn vị (mã đơn vị)."),
    status: Optional[str] = typer.Option(None, "--status", help="Lọc theo trạng thái (vd. under_review)."),
    limit: int = typer.Option(200, "--limit", help="Số dòng tối đa."),
) -> None:
    """Danh sách đề nghị khen thưởng (cũ nhất trước)."""
    engine = _engine()
    campaign_id = _campaign_id(engine, code)
    if queue:
        views = service.reviewer_queue(engine, campaign_id, _unit_id(engine, queue), limit=limit)
        title = f"Hàng chờ xét của {queue}"
    else:
        views = service.list_nominations(
            engine,
            campaign_id,
            within_unit_id=_unit_id(engine, unit) if unit else None,
            statuses=[status] if status else None,
            limit=limit,
        )
        title = f"Đề nghị khen thưởng – {code}"
    _print_views(views, title)


@nominations_app.command("show")
@friendly
def show_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch."), nomination_id: int = typer.Argument(..., help="Số đề nghị.")
) -> None:
    """Chi tiết một đề nghị và toàn bộ các bước xử lý."""
    from thidua.models.nominations import ACTION_LABELS, NominationAction, status_label
    from thidua.models.spec.awards import SUBJECT_LABELS

    engine = _engine()
    _campaign_id(engine, code)
    v = service.get_nomination(engine, nomination_id)
    console.print(f"[bold]Đề nghị #{v.id}[/] – {v.award_name} (phiên bản {v.version})", highlight=False)
    lines = [
        (
            "Đối tượng",
            f"{SUBJECT_LABELS.get(v.subject, v.subject)}: {v.nominee_name}"
            + (f", {v.nominee_position}" if v.nominee_position else "")
            + f" – {v.nominee_unit}",
        ),
        ("Dịp", v.occasion_label + (f", chuyên đề: {v.theme}" if v.theme else "")),
        ("Thành tích", v.achievement),
        ("Đơn vị đề nghị", v.origin_unit),
        ("Trạng thái", f"{v.status_label} – đang ở {v.current_unit}"),
        ("Hạn xét", fmt_datetime(v.review_due_at)),
        ("Các cấp xét", " → ".join(v.route)),
        ("Cấp quyết định", v.deciding_unit),
        (
            "Quyết định",
            f"{v.decision_number} ngày {fmt_date(v.decision_date)}, {v.decision_signer}" if v.decision_number else "",
        ),
        ("Ngày trao tặng", fmt_date(v.awarded_on)),
        (
            "Hồ sơ",
            "; ".join(
                f"{k}: {e.get('ref', '')}"
                + (f" ({e['votes_for']}/{e['votes_total']} phiếu)" if e.get("votes_total") else "")
                for k, e in v.dossier.items()
            ),
        ),
    ]
    for label, value in lines:
        if value:
            console.print(f"  {label}: {value}", highlight=False, markup=False)
    table = Table(title="Các bước")
    for column in ("#", "Thời điểm", "Việc", "Đơn vị", "Người", "Sang trạng thái", "Chuyển đến", "Ghi chú", "Hạn xét"):
        table.add_column(column)
    for s in v.steps:
        table.add_row(
            str(s.seq),
            fmt_datetime(s.at),
            ACTION_LABELS[NominationAction(s.action)],
            s.at_unit,
            s.actor,
            status_label(s.to_status),
            s.to_unit,
            s.comment,
            fmt_datetime(s.review_due_at),
        )
    console.print(table)


@nominations_app.command("propose")
@friendly
def propose_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch."),
    unit_as: str = UNIT_AS,
    award: str = typer.Option(
        ..., "--award", help="Mã hình thức khen thưởng trong danh mục (vd. bang-khen-ldld-tinh)."
    ),
    nominee_unit: Optional[str] = typer.Option(
        None, "--unit", help="Tập thể được đề nghị, hoặc đơn vị của cá nhân (mặc định: đơn vị đề nghị)."
    ),
    person: Optional[str] = typer.Option(None, "--person", help="Họ tên cá nhân (khen cá nhân)."),
    position: str = typer.Option("", "--position", help="Chức vụ của cá nhân."),
    achievement: str = typer.Option(..., "--achievement", help="Tóm tắt thành tích."),
    occasion: str = typer.Option("year_end", "--occasion", help="year_end | round | ad_hoc."),
    round_number: Optional[int] = typer.Option(None, "--round", help="Số đợt (khi --occasion round)."),
    theme: str = typer.Option("", "--theme", help="Chuyên đề (khen chuyên đề)."),
    discipline: str = typer.Option("", "--discipline", help="Hình thức kỷ luật trong năm, nếu có."),
    dossier: list[str] = typer.Option([], "--dossier", help="Hồ sơ: MÃ=số/ký hiệu (lặp lại được)."),
    votes: list[str] = typer.Option(
        [], "--votes", help="Kết quả biểu quyết: MÃ=ĐỒNG_Ý/TỔNG (vd. bien-ban-hoi-dong=9/11)."
    ),
    as_draft: bool = typer.Option(False, "--draft", help="Chỉ lưu nháp."),
    to_trinh: Optional[str] = typer.Option(None, "--to-trinh", help="Số tờ trình: gửi ngay danh sách lên cấp trên."),
    to_trinh_date: Optional[str] = typer.Option(None, "--to-trinh-date", help="Ngày tờ trình (dd/mm/yyyy)."),
    actor: Optional[str] = ACTOR,
    now: Optional[str] = NOW,
) -> None:
    """Đề nghị khen thưởng một tập thể (--unit) hoặc một cá nhân (--person)."""
    from thidua.models.spec.awards import OCCASION_LABELS

    engine = _engine()
    campaign_id = _campaign_id(engine, code)
    who = _actor(engine, unit_as, actor)
    if occasion not in OCCASION_LABELS:
        raise UserError(f"--occasion '{occasion}' không hợp lệ (dùng: {', '.join(OCCASION_LABELS)})")
    proposal = service.ProposalInput(
        award_code=award,
        subject="individual" if person else "collective",
        nominee_unit_id=_unit_id(engine, nominee_unit) if nominee_unit else who.unit_id,
        achievement=achievement,
        occasion=occasion,
        round_number=round_number,
        person_name=person or "",
        person_position=position,
        theme=theme,
        discipline=discipline,
        dossier=_dossier(dossier, votes),
    )
    if as_draft:
        ids = service.draft(engine, campaign_id, who, [proposal], now=_now(now))
        console.print(f"Đã lưu nháp đề nghị #{ids[0]}.")
        return
    send = None
    if to_trinh or to_trinh_date:
        if not (to_trinh and to_trinh_date):
            raise UserError("gửi ngay cần cả --to-trinh và --to-trinh-date")
        send = service.DocumentRef(to_trinh, parse_cli_date(to_trinh_date))  # type: ignore[arg-type]
    result = service.propose(engine, campaign_id, who, [proposal], send=send, now=_now(now))
    view = service.get_nomination(engine, result.nomination_ids[0])
    console.print(f"Đề nghị #{view.id}: {view.status_label} – đang ở {view.current_unit}.", highlight=False)


@nominations_app.command("review")
@friendly
def review_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch."),
    nomination_ids: list[int] = typer.Argument(..., help="Số đề nghị (một hoặc nhiều)."),
    unit_as: str = UNIT_AS,
    approve: bool = typer.Option(False, "--approve", help="Duyệt và đưa vào danh sách trình cấp trên."),
    return_: bool = typer.Option(False, "--return", help="Trả lại để bổ sung (cần --comment)."),
    reject: bool = typer.Option(False, "--reject", help="Không chấp nhận (cần --comment)."),
    comment: str = typer.Option("", "--comment", help="Lý do / ghi chú."),
    version: Optional[int] = typer.Option(
        None, "--version", help="Phiên bản đã xem (một đề nghị): báo xung đột nếu đã đổi."
    ),
    actor: Optional[str] = ACTOR,
    now: Optional[str] = NOW,
) -> None:
    """Xét đề nghị đang chờ đơn vị: duyệt chuyển cấp trên, trả lại, hoặc không chấp nhận."""
    if sum((approve, return_, reject)) != 1:
        raise UserError("chọn đúng một trong --approve, --return, --reject")
    engine = _engine()
    campaign_id = _campaign_id(engine, code)
    who = _actor(engine, unit_as, actor)
    expected = {nomination_ids[0]: version} if version is not None and len(nomination_ids) == 1 else None
    if approve:
        service.approve(
            engine, campaign_id, nomination_ids, who, comment=comment, expected_versions=expected, now=_now(now)
        )
        console.print(f"Đã duyệt {len(nomination_ids)} đề nghị; gửi cấp trên bằng 'thidua nominations send'.")
    elif return_:
        service.return_for_revision(
            engine, campaign_id, nomination_ids, who, comment=comment, expected_versions=expected, now=_now(now)
        )
        console.print(f"Đã trả lại {len(nomination_ids)} đề nghị cho đơn vị đề nghị.")
    else:
        service.reject(
            engine, campaign_id, nomination_ids, who, comment=comment, expected_versions=expected, now=_now(now)
        )
        console.print(f"Đã ghi không chấp nhận {len(nomination_ids)} đề nghị.")


@nominations_app.command("resubmit")
@friendly
def resubmit_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch."),
    nomination_id: int = typer.Argument(..., help="Số đề nghị."),
    unit_as: str = UNIT_AS,
    achievement: Optional[str] = typer.Option(None, "--achievement", help="Tóm tắt thành tích mới."),
    position: Optional[str] = typer.Option(None, "--position", help="Chức vụ."),
    discipline: Optional[str] = typer.Option(None, "--discipline", help="Kỷ luật trong năm ('' nếu không có)."),
    dossier: list[str] = typer.Option([], "--dossier", help="Hồ sơ bổ sung: MÃ=số/ký hiệu."),
    votes: list[str] = typer.Option([], "--votes", help="Kết quả biểu quyết: MÃ=ĐỒNG_Ý/TỔNG."),
    comment: str = typer.Option("", "--comment", help="Ghi chú gửi người xét."),
    version: Optional[int] = typer.Option(None, "--version", help="Phiên bản đã xem."),
    actor: Optional[str] = ACTOR,
    now: Optional[str] = NOW,
) -> None:
    """Gửi lại hồ sơ bị trả lại (về đúng đơn vị đã trả lại)."""
    engine = _engine()
    campaign_id = _campaign_id(engine, code)
    changes = service.ProposalChanges(
        achievement=achievement,
        person_position=position,
        discipline=discipline,
        dossier=_dossier(dossier, votes) if dossier else None,
    )
    service.resubmit(
        engine,
        campaign_id,
        nomination_id,
        _actor(engine, unit_as, actor),
        changes=changes,
        comment=comment,
        expected_version=version,
        now=_now(now),
    )
    view = service.get_nomination(engine, nomination_id)
    console.print(f"Đề nghị #{view.id}: {view.status_label} – đang ở {view.current_unit}.", highlight=False)


@nominations_app.command("withdraw")
@friendly
def withdraw_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch."),
    nomination_id: int = typer.Argument(..., help="Số đề nghị."),
    unit_as: str = UNIT_AS,
    comment: str = typer.Option("", "--comment", help="Lý do rút."),
    version: Optional[int] = typer.Option(None, "--version", help="Phiên bản đã xem."),
    actor: Optional[str] = ACTOR,
    now: Optional[str] = NOW,
) -> None:
    """Rút đề nghị (trước khi có quyết định)."""
    engine = _engine()
    service.withdraw(
        engine,
        _campaign_id(engine, code),
        nomination_id,
        _actor(engine, unit_as, actor),
        comment=comment,
        expected_version=version,
        now=_now(now),
    )
    console.print(f"Đã rút đề nghị #{nomination_id}.")


@nominations_app.command("send")
@friendly
def send_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch."),
    unit_as: str = UNIT_AS,
    to_trinh: str = typer.Option(..., "--to-trinh", help="Số tờ trình."),
    date_text: str = typer.Option(..., "--date", help="Ngày tờ trình (dd/mm/yyyy)."),
    occasion: str = typer.Option("year_end", "--occasion", help="year_end | round | ad_hoc."),
    round_number: Optional[int] = typer.Option(None, "--round", help="Số đợt (khi --occasion round)."),
    prepare_only: bool = typer.Option(
        False, "--prepare-only", help="Chỉ ghi số tờ trình; danh sách tự gửi khi hết hạn đề xuất của cấp."
    ),
    actor: Optional[str] = ACTOR,
    now: Optional[str] = NOW,
) -> None:
    """Gửi danh sách đề nghị của đơn vị lên cấp trên trực tiếp kèm tờ trình."""
    engine = _engine()
    campaign_id = _campaign_id(engine, code)
    who = _actor(engine, unit_as, actor)
    doc = service.DocumentRef(to_trinh, parse_cli_date(date_text))  # type: ignore[arg-type]
    if prepare_only:
        batch_id = service.prepare_batch(
            engine, campaign_id, who, doc, occasion=occasion, round_number=round_number, now=_now(now)
        )
        console.print(f"Đã ghi tờ trình {to_trinh} cho danh sách #{batch_id}.")
        return
    result = service.send_batch(
        engine, campaign_id, who, occasion=occasion, round_number=round_number, to_trinh=doc, now=_now(now)
    )
    console.print(
        f"Đã gửi danh sách #{result.batch_id} ({len(result.nomination_ids)} đề nghị) theo tờ trình {to_trinh}.",
        highlight=False,
    )


@nominations_app.command("none")
@friendly
def none_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch."),
    unit_as: str = UNIT_AS,
    occasion: str = typer.Option("year_end", "--occasion", help="year_end | round."),
    round_number: Optional[int] = typer.Option(None, "--round", help="Số đợt (khi --occasion round)."),
    actor: Optional[str] = ACTOR,
    now: Optional[str] = NOW,
) -> None:
    """Khai báo đơn vị không có đề nghị khen thưởng trong đợt: hết nghĩa vụ đề xuất, thôi nhắc việc."""
    engine = _engine()
    title = service.declare_no_proposals(
        engine,
        _campaign_id(engine, code),
        _actor(engine, unit_as, actor),
        occasion=occasion,
        round_number=round_number,
        now=_now(now),
    )
    console.print(f"Đã ghi: {unit_as} không có đề nghị khen thưởng trong '{title}'.", highlight=False)


@nominations_app.command("decide")
@friendly
def decide_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch."),
    nomination_ids: list[int] = typer.Argument(None, help="Số đề nghị (bỏ trống khi dùng --batch)."),
    unit_as: str = UNIT_AS,
    batch: Optional[int] = typer.Option(None, "--batch", help="Quyết định cho cả danh sách (số danh sách)."),
    number: str = typer.Option("", "--number", help="Số quyết định."),
    date_text: Optional[str] = typer.Option(None, "--date", help="Ngày quyết định (dd/mm/yyyy)."),
    signer: str = typer.Option("", "--signer", help="Người ký."),
    actor: Optional[str] = ACTOR,
    now: Optional[str] = NOW,
) -> None:
    """Ghi quyết định khen thưởng của cấp quyết định."""
    engine = _engine()
    decision = service.Decision(number, parse_cli_date(date_text), signer)
    ids = service.decide(
        engine,
        _campaign_id(engine, code),
        _actor(engine, unit_as, actor),
        decision,
        nomination_ids=nomination_ids or [],
        batch_id=batch,
        now=_now(now),
    )
    console.print(f"Đã ghi quyết định {number} cho {len(ids)} đề nghị.", highlight=False)


@nominations_app.command("award")
@friendly
def award_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch."),
    nomination_ids: list[int] = typer.Argument(..., help="Số đề nghị."),
    unit_as: str = UNIT_AS,
    date_text: str = typer.Option(..., "--date", help="Ngày trao tặng (dd/mm/yyyy)."),
    actor: Optional[str] = ACTOR,
    now: Optional[str] = NOW,
) -> None:
    """Ghi nhận đã trao tặng."""
    engine = _engine()
    service.mark_awarded(
        engine,
        _campaign_id(engine, code),
        nomination_ids,
        _actor(engine, unit_as, actor),
        awarded_on=parse_cli_date(date_text),
        now=_now(now),
    )  # type: ignore[arg-type]
    console.print(f"Đã ghi nhận trao tặng {len(nomination_ids)} đề nghị.")


@nominations_app.command("batches")
@friendly
def batches_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch."),
    unit: Optional[str] = typer.Option(None, "--unit", help="Danh sách gửi đi / nhận về của đơn vị."),
) -> None:
    """Các danh sách đề nghị (tờ trình) gửi đi và nhận về."""
    engine = _engine()
    batches = service.list_batches(engine, _campaign_id(engine, code), unit_id=_unit_id(engine, unit) if unit else None)
    table = Table(title="Danh sách đề nghị")
    for column in ("Số", "Từ", "Đến", "Dịp", "Trạng thái", "Tờ trình", "Ngày gửi", "Số đề nghị", "Quyết định"):
        table.add_column(column)
    for b in batches:
        table.add_row(
            str(b["id"]),
            b["from_unit"],
            b["to_unit"],
            b["occasion_label"],
            "Đang lập" if b["status"] == "open" else "Đã gửi",
            f"{b['to_trinh_number']} ngày {fmt_date(b['to_trinh_date'])}" if b["to_trinh_number"] else "",
            fmt_datetime(b["sent_at"]),
            str(b["item_count"] if b["status"] == "sent" else b["live_count"]),
            b["decision_number"],
        )
    console.print(table)


@nominations_app.command("status")
@friendly
def status_cmd(code: str = typer.Argument(..., help="Mã chiến dịch."), now: Optional[str] = NOW) -> None:
    """Số đề nghị theo cấp và trạng thái; các đơn vị quá hạn xét; lịch đóng đề xuất theo cấp."""
    engine = _engine()
    campaign_id = _campaign_id(engine, code)
    table = Table(title="Đề nghị theo cấp và trạng thái")
    for column in ("Cấp đang giữ", "Trạng thái", "Số đề nghị"):
        table.add_column(column)
    for row in service.pipeline(engine, campaign_id):
        table.add_row(row["level"], row["status_label"], str(row["count"]))
    console.print(table)
    for item in service.overdue_reviews(engine, campaign_id, now=_now(now)):
        console.print(
            f"Quá hạn xét: {item['unit']} – {item['count']} đề nghị (hạn sớm nhất "
            f"{fmt_datetime(item['oldest_due_at'])})",
            highlight=False,
        )
    schedule = Table(title="Hạn gửi danh sách đề nghị của từng cấp")
    for column in ("Đợt đề xuất", "Cấp", "Hạn"):
        schedule.add_column(column)
    for item in service.window_schedule(engine, campaign_id):
        schedule.add_row(item.title, item.level, fmt_date(item.closes_on))
    console.print(schedule)


@nominations_app.command("export")
@friendly
def export_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch."),
    unit: str = typer.Option(..., "--unit", help="Đơn vị (cấp) lập danh sách tổng hợp."),
    out: Path = typer.Option(..., "--out", help="Tệp .xlsx."),
    occasion: Optional[str] = typer.Option(None, "--occasion", help="year_end | round | ad_hoc."),
    round_number: Optional[int] = typer.Option(None, "--round", help="Số đợt."),
) -> None:
    """Xuất danh sách tổng hợp đề nghị khen thưởng của một cấp (XLSX)."""
    engine = _engine()
    path = service.write_proposal_list(
        engine, _campaign_id(engine, code), _unit_id(engine, unit), out, occasion=occasion, round_number=round_number
    )
    console.print(f"Đã ghi {path}")


@nominations_app.command("register")
@friendly
def register_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch."), out: Path = typer.Option(..., "--out", help="Tệp .xlsx.")
) -> None:
    """Xuất sổ theo dõi khen thưởng của chiến dịch (XLSX)."""
    engine = _engine()
    path = service.write_award_register(engine, _campaign_id(engine, code), out)
    console.print(f"Đã ghi {path}")


@nominations_app.command("close-windows")
@friendly
def close_windows_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch."),
    now: Optional[str] = NOW,
    use_flow: bool = typer.Option(False, "--flow", help="Chạy qua Prefect flow."),
) -> None:
    """Gửi các danh sách đã có tờ trình của những cấp đã hết hạn đề xuất."""
    engine = _engine()
    campaign_id = _campaign_id(engine, code)
    if use_flow:
        import asyncio

        from thidua.flows.nominations import close_nomination_windows

        summary = asyncio.run(close_nomination_windows(code, now=_now(now)))
        sent, missing = summary["sent"], summary["missing"]
    else:
        result = service.close_windows(engine, campaign_id, now=_now(now))
        sent = [{"batch_id": b.batch_id, "count": len(b.nomination_ids)} for b in result.sent]
        missing = result.missing_to_trinh
    for item in sent:
        console.print(f"Đã gửi danh sách #{item['batch_id']} ({item['count']} đề nghị).")
    for item in missing:
        console.print(f"[yellow]Chưa gửi được danh sách #{item['batch_id']}:[/] {item['reason']}", highlight=False)
    if not sent and not missing:
        console.print("Không có danh sách nào đến hạn gửi.")


@nominations_app.command("catalogue")
@friendly
def catalogue_cmd(file: Path = typer.Argument(..., help="Tệp danh mục khen thưởng (YAML).")) -> None:
    """Kiểm tra một danh mục khen thưởng và liệt kê các hình thức."""
    from thidua.models.spec.awards import KIND_LABELS, OCCASION_LABELS, SUBJECT_LABELS, validate_catalogue_file

    catalogue = validate_catalogue_file(file)
    table = Table(title=f"{catalogue.title} – {catalogue.regulation}")
    for column in ("Mã", "Hình thức", "Loại", "Cấp quyết định", "Cấp đề nghị", "Đối tượng", "Dịp", "Hồ sơ"):
        table.add_column(column)
    for a in catalogue.awards:
        table.add_row(
            a.code,
            a.name,
            KIND_LABELS[a.kind],
            a.decided_by,
            ", ".join(a.proposed_by),
            ", ".join(SUBJECT_LABELS[s] for s in a.subjects),
            ", ".join(OCCASION_LABELS[o] for o in a.occasions),
            ", ".join(a.dossier),
        )
    console.print(table)
    console.print(f"{len(catalogue.quotas)} hạn mức, {len(catalogue.exclusivity)} quy tắc loại trừ: hợp lệ.")
