"""CLI: cụm/khối thi đua (`thidua clusters ...`): import, list, show (members, scores, the submitted ranking),
rotate the head, submit the ranking (đơn vị trưởng cụm)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.markup import escape
from rich.table import Table

from thidua.cli.common import console, friendly, parse_cli_now
from thidua.cli.common import ready_engine as _engine
from thidua.lazyimport import lazy_module
from thidua.models.clock import fmt_datetime
from thidua.models.vnformat import fmt_percent

if TYPE_CHECKING:
    from thidua.models.clusters import Ranked

service = lazy_module("thidua.services.clusters")  # the ORM loads when a command runs, not for `thidua --help`


def Session(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201, N802 - sqlmodel's Session, imported when first used
    from sqlmodel import Session as _Session

    return _Session(*args, **kwargs)


clusters_app = typer.Typer(
    help="Cụm, khối thi đua: thành viên, đơn vị trưởng cụm, chấm điểm và xếp hạng (Cờ thi đua).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(clusters_app, name="clusters")


def _score(value: float) -> str:
    return f"{value:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".").rstrip("0").rstrip(",")


@clusters_app.command("import")
@friendly
def import_cmd(
    file: Path = typer.Argument(
        ..., help="Tệp cụm/khối: YAML (clusters:), CSV hoặc XLSX (Năm, Mã cụm, Tên cụm, Loại, Mã đơn vị, Trưởng cụm)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Chỉ kiểm tra, không ghi."),
) -> None:
    """Nhập cụm/khối thi đua và thành viên; thay toàn bộ cụm/khối của các năm có trong tệp. Có lỗi thì không ghi gì."""
    report = service.import_clusters(_engine(), file, actor=f"cli:{file.name}", dry_run=dry_run)
    verb = "Sẽ nhập" if dry_run else "Đã nhập"
    console.print(
        f"{verb} cụm/khối thi đua năm {', '.join(map(str, report.years))}: {report.created} mới, "
        f"{report.updated} cập nhật, {report.removed} bỏ; {report.members} lượt đơn vị thành viên."
    )


@clusters_app.command("list")
@friendly
def list_cmd(year: Optional[int] = typer.Option(None, "--year", help="Chỉ năm này.")) -> None:
    """Danh sách cụm/khối thi đua (mỗi năm một dòng) với đơn vị trưởng cụm."""
    with Session(_engine()) as session:
        rows = service.list_clusters(session, year=year)
    if not rows:
        console.print("Chưa có cụm/khối thi đua nào (nhập bằng: thidua clusters import TỆP).")
        return
    table = Table(title="Cụm, khối thi đua")
    for title in ("Năm", "Mã", "Tên", "Loại", "Đơn vị trưởng cụm", "Số thành viên"):
        table.add_column(title)
    for c in rows:
        table.add_row(
            str(c.year),
            escape(c.code),
            escape(c.name),
            c.kind_label,
            escape(f"{c.head_name} ({c.head_code})"),
            str(c.members),
        )
    console.print(table)


def _ranking_table(title: str, rows: list[Ranked], criteria: list[tuple[str, str]]) -> Table:
    table = Table(title=title)
    table.add_column("Hạng", justify="right")
    table.add_column("Đơn vị")
    for _, label in criteria:
        table.add_column(label, justify="right")
    table.add_column("Tổng điểm", justify="right")
    table.add_column("Ghi chú")
    for r in rows:
        note = "đồng hạng" if r.tied else ("" if r.decided_by in ("", "điểm") else f"phân hạng theo {r.decided_by}")
        table.add_row(
            str(r.rank),
            escape(f"{r.unit_name} ({r.unit_code})"),
            *(_score(r.parts.get(code, 0.0)) for code, _ in criteria),
            _score(r.score),
            note,
        )
    return table


@clusters_app.command("show")
@friendly
def show_cmd(
    code: str = typer.Argument(..., help="Mã cụm/khối."),
    year: Optional[int] = typer.Option(None, "--year", help="Năm (mặc định: năm của chiến dịch, hoặc năm gần nhất)."),
    campaign: Optional[str] = typer.Option(None, "--campaign", help="Chiến dịch: chấm điểm và bảng xếp hạng đã gửi."),
) -> None:
    """Thành viên, đơn vị trưởng cụm; với --campaign: điểm, hạng tạm tính và bảng xếp hạng trưởng cụm đã gửi."""
    with Session(_engine()) as session:
        camp = service.campaign_named(session, campaign) if campaign else None
        if year is None:
            year = (
                camp.year
                if camp
                else max((c.year for c in service.list_clusters(session) if c.code == code), default=0)
            )
        cluster = service.get_cluster(session, code, year)
        members = service.members_of(session, cluster)
        console.print(
            f"[bold]{escape(cluster.name)}[/] ({escape(cluster.code)}) — {cluster.kind_label} năm {cluster.year}"
        )
        console.print(f"Đơn vị trưởng cụm: {escape(cluster.head_name)} ({escape(cluster.head_code)})")
        table = Table(title="Đơn vị thành viên")
        table.add_column("Mã")
        table.add_column("Tên")
        table.add_column("")
        for m in members:
            table.add_row(escape(m.code), escape(m.name), "trưởng cụm" if m.is_head else "")
        console.print(table)
        if camp is None:
            return
        scoring = service.scoring_of(camp)
        criteria = [(c.code, c.title) for c in scoring.criteria]
        console.print(
            _ranking_table(
                f"Điểm tạm tính theo chiến dịch {camp.code}", service.compute_ranking(session, camp, cluster), criteria
            )
        )
        submitted = service.submitted_ranking(session, camp.id, cluster.id)  # type: ignore[arg-type]
        if submitted is None:
            console.print("Đơn vị trưởng cụm chưa gửi bảng xếp hạng.")
        else:
            console.print(
                _ranking_table(
                    f"Bảng xếp hạng đã gửi (lần {submitted.version}, {fmt_datetime(submitted.submitted_at)}, "
                    f"{submitted.minutes})",
                    submitted.rows,
                    criteria,
                )
            )
        rows = service.cluster_targets(session, camp, [cluster]).get(cluster.id, [])
        if rows:
            progress = Table(title="Chỉ tiêu theo cụm (theo từng đơn vị thành viên)")
            progress.add_column("Chỉ tiêu")
            progress.add_column("Thành viên đạt", justify="right")
            progress.add_column("Từng đơn vị (% chỉ tiêu)")
            for t in rows:
                progress.add_row(
                    escape(t.title),
                    f"{t.achieved}/{t.counted}",
                    escape(
                        "; ".join(
                            f"{code}: {fmt_percent(pct) if pct is not None else '—'} ({verdict})"
                            for code, _, pct, verdict in t.members
                        )
                    ),
                )
            console.print(progress)
        if scoring.tie_break:
            console.print(
                "Bằng điểm: xét lần lượt " + ", ".join(scoring.tie_break) + "; vẫn bằng thì theo biểu quyết của cụm "
                "(--thu-tu khi gửi), không có thì đồng hạng."
            )


@clusters_app.command("rotate-head")
@friendly
def rotate_cmd(
    code: str = typer.Argument(..., help="Mã cụm/khối."),
    year: int = typer.Option(..., "--year", help="Năm."),
    head: str = typer.Option(..., "--head", help="Mã đơn vị trưởng cụm mới (phải là thành viên)."),
) -> None:
    """Đổi đơn vị trưởng cụm của một năm (luân phiên)."""
    cluster = service.rotate_head(_engine(), code, year, head, actor="cli")
    console.print(
        f"Đơn vị trưởng {escape(cluster.name)} năm {year}: {escape(cluster.head_name)} ({escape(cluster.head_code)})"
    )


@clusters_app.command("submit")
@friendly
def submit_cmd(
    campaign: str = typer.Argument(..., help="Mã chiến dịch."),
    code: str = typer.Argument(..., help="Mã cụm/khối."),
    acting: str = typer.Option(..., "--as", help="Mã đơn vị gửi (đơn vị trưởng cụm)."),
    minutes: str = typer.Option(..., "--bien-ban", help="Biên bản họp cụm: số, ngày."),
    order: Optional[str] = typer.Option(
        None, "--thu-tu", help="Thứ tự cụm biểu quyết giữa các đơn vị bằng điểm: mã, cách nhau dấu phẩy."
    ),
    now: Optional[str] = typer.Option(None, "--now", help="Thời điểm gửi (dd/mm/yyyy HH:MM)."),
) -> None:
    """Đơn vị trưởng cụm gửi bảng xếp hạng của cụm (căn cứ đề nghị Cờ thi đua)."""
    engine = _engine()
    with Session(engine) as session:
        from thidua.services.lookup import get_unit

        unit = get_unit(session, acting)
    meeting = [c.strip() for c in (order or "").split(",") if c.strip()]
    service.submit_ranking(
        engine,
        campaign,
        code,
        unit.id,  # type: ignore[arg-type]
        actor=f"cli:{acting}",
        minutes=minutes,
        meeting_order=meeting,
        now=parse_cli_now(now),
    )
    with Session(engine) as session:
        camp = service.campaign_named(session, campaign)
        cluster = service.get_cluster(session, code, camp.year)
        submitted = service.submitted_ranking(session, camp.id, cluster.id)  # type: ignore[arg-type]
    assert submitted is not None
    criteria = [(c.code, c.title) for c in service.scoring_of(camp).criteria]
    console.print(
        _ranking_table(f"Đã gửi bảng xếp hạng {cluster.name} (lần {submitted.version})", submitted.rows, criteria)
    )
