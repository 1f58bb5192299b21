"""Benchmark (issue 6): the web application at national scale.

Data: the national tree (TLD → 63 provinces → ~940 directly-superior unions → 130,000 CĐCS), a campaign
of 5 obligations over it (~660,000 assignments), 60 % of the round-1 reports sent (half of them accepted),
10,000 nominations at various levels and statuses, accounts for the measured people.

Measured against a real server (uvicorn in its own process, SQLite by default) from this process:
  1. the reviewer queue (/duyet) of the busiest directly-superior union: p50 / p95 (target p95 ≤ 50 ms);
  2. the office dashboard (/van-phong) of a province office and of the national office (target p95 ≤ 300 ms);
     figures that take long to compute are kept between requests (web/figure_cache.py), so the first request
     after the server starts (reported as first_ms) pays for them;
  3. 50 report submissions per second for 2 minutes (open loop: latency counted from each request's planned
     start, so a slow server cannot slow the generator down): p50 / p95 / p99 (target p99 ≤ 500 ms), errors
     (target: none).

Beside each page, its floors, measured in the same run against the same server and database (issue 17):
  * HTTP: the same server and client answering without database work: a static file (uvicorn + Starlette +
    network) and the sign-in page without a cookie (+ the application's middleware, request limit, worker
    thread and a template);
  * bare SQL: the page's main statements through the database driver's own connection (no ORM, no rendering),
    returning the same rows as the application's queries (checked): the queue's count, its first page and
    the nominations waiting; the dashboard's roll-up (compliance by obligation, level and branch, overdue
    units, mail and nomination counts). The dashboard keeps its figures between requests, so its roll-up
    floor compares with the page's first request (first_ms), not with its p50.

    /work/venv/bin/python bench/bench_web.py [--cdcs 130000] [--nominations 10000] [--rate 50] [--seconds 120]
                                            [--database-url URL] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import and_, func, insert, literal, select, text, update  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from thidua.models.awards import achievement_key, nominee_key  # noqa: E402
from thidua.models.nominations import Nomination  # noqa: E402
from thidua.models.submissions import Submission  # noqa: E402
from thidua.models.tables import Assignment, Campaign, ObligationDef, Unit, User  # noqa: E402
from thidua.db import create_schema, make_engine  # noqa: E402
from thidua.services.campaigns import load_campaign  # noqa: E402
from thidua.services.units import import_units, load_levels  # noqa: E402
from thidua.settings import CONFIG_DIR, Settings  # noqa: E402
from thidua.unitgen import national_tree, write_units_csv  # noqa: E402

# The server's clock: round 1 ended 30/06/2025 and its report is due 10/07/2025.
SERVER_NOW = datetime(2025, 7, 5, 3, 0, tzinfo=timezone.utc)
SECRET = "khoa-do-hieu-nang"
CAMPAIGN = "toan-quoc-web"
REPORT = {"so_sang_kien": "3", "so_doan_vien_moi": "12", "so_cdcs_thanh_lap": "0", "guong_dien_hinh": "Tổ sản xuất 2"}


def campaign_yaml() -> str:
    fields = (
        "[{code: so_sang_kien, label: Số sáng kiến, type: integer, required: true, min: 0}, "
        "{code: so_doan_vien_moi, label: Số đoàn viên mới, type: integer, required: true, min: 0}, "
        "{code: so_cdcs_thanh_lap, label: Số CĐCS mới thành lập, type: integer, min: 0}, "
        "{code: guong_dien_hinh, label: Gương điển hình, type: text, max_length: 2000}]"
    )
    return f"""code: {CAMPAIGN}
title: Phong trào thi đua toàn quốc 2025 (đo hiệu năng trang web)
theme: Đo hiệu năng
year: 2025
issuing_unit: TLD
owner: {{department: Ban Thi đua, email: thidua@example.vn}}
plan_issued_on: 01/01/2025
starts: 01/01/2025
ends: 31/12/2025
rounds:
  - {{number: 1, name: Đợt 1, starts: 01/01/2025, ends: 30/06/2025}}
  - {{number: 2, name: Đợt 2, starts: 30/06/2025, ends: 31/12/2025}}
calendar: {{holidays_file: {CONFIG_DIR / "calendars" / "vn_holidays.yaml"}}}
obligations:
  - {{code: dang-ky, kind: registration, title: Đăng ký thi đua, levels: [cap_tren_truc_tiep, cdcs], due: 15/03/2025,
     fields: [{{code: cong_trinh_moi, label: Công trình mới, type: text, required: true}}]}}
  - {{code: so-ket-dot-1, kind: round_report, round: 1, title: Báo cáo sơ kết đợt 1, levels: [cap_tren_truc_tiep, cdcs],
     due: {{round: 1, days_after_end: 10}}, fields: {fields}}}
  - {{code: so-ket-dot-2, kind: round_report, round: 2, title: Báo cáo sơ kết đợt 2, levels: [cap_tren_truc_tiep, cdcs],
     due: 10/12/2025, fields: {fields}}}
  - {{code: tong-ket, kind: final_report, title: Báo cáo tổng kết, levels: [cap_tren_truc_tiep, cdcs], due: 15/12/2025,
     fields: {fields}}}
  - {{code: de-xuat-dot-1, kind: nomination_window, round: 1, title: Đề xuất khen thưởng đợt 1,
     levels: [cap_tren_truc_tiep, cdcs], opens: 01/07/2025, due: 20/07/2025, review_required: false}}
targets:
  - {{code: sang-kien, title: Sáng kiến toàn quốc, rollup: sum, value: 500000, unit: sáng kiến, deadline: 31/12/2025,
     source: {{obligations: [so-ket-dot-1, so-ket-dot-2], field: so_sang_kien}}, breakdown_level: ldld_tinh}}
awards:
  catalogue: awards/qd1689_2019.yaml
  review_days_per_level: {{cap_tren_truc_tiep: 10, ldld_tinh: 15, tong_ldld: 30}}
"""


# ---------------------------------------------------------------------------------------------------
# Building the national data set
# ---------------------------------------------------------------------------------------------------
def build(engine: Engine, workdir: Path, cdcs: int, nominations: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    create_schema(engine)
    load_levels(engine)
    csv_path = workdir / "units.csv"
    write_units_csv(national_tree(cdcs_total=cdcs), csv_path)
    import_units(engine, csv_path)
    campaign_file = workdir / "campaigns" / "toan-quoc.yaml"
    campaign_file.parent.mkdir(parents=True, exist_ok=True)
    campaign_file.write_text(campaign_yaml(), encoding="utf-8")
    (workdir / "awards").symlink_to(CONFIG_DIR / "awards")  # the catalogue path is relative to the config folder
    (workdir / "calendars").symlink_to(CONFIG_DIR / "calendars")
    loaded = load_campaign(engine, campaign_file)
    print(f"  đơn vị và chiến dịch: {loaded.assignments_created:,} nghĩa vụ ({time.perf_counter() - t0:.0f} s)")
    with Session(engine) as session, session.begin():
        campaign = session.execute(select(Campaign).where(Campaign.code == CAMPAIGN)).scalars().one()
        facts = {"campaign_id": campaign.id, **_seed_reports(session, campaign.id)}
        facts.update(_seed_nominations(session, campaign.id, nominations))
        facts.update(_seed_people(session, campaign.id))
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
    print(f"  dữ liệu thử xong sau {time.perf_counter() - t0:.0f} s")
    return facts


def _seed_reports(session: Session, campaign_id: int) -> dict[str, Any]:
    """60 % of the CĐCS sent their round-1 report (every other one of those accepted): INSERT … SELECT."""
    A, S, U = Assignment.__table__, Submission.__table__, Unit.__table__  # type: ignore[attr-defined]
    ob = (
        session.execute(
            select(ObligationDef).where(ObligationDef.campaign_id == campaign_id, ObligationDef.code == "so-ket-dot-1")
        )
        .scalars()
        .one()
    )
    sent_at = datetime(2025, 7, 2, 2, 0, tzinfo=timezone.utc)
    chosen = and_(
        A.c.obligation_id == ob.id, A.c.unit_id % 5 < 3, A.c.unit_id.in_(select(U.c.id).where(U.c.level_code == "cdcs"))
    )
    accepted = A.c.unit_id % 2 == 0
    data = {"so_sang_kien": 2, "so_doan_vien_moi": 5}
    session.execute(
        insert(S).from_select(
            [
                "assignment_id",
                "obligation_id",
                "unit_id",
                "version",
                "data",
                "submitted_by",
                "submitted_at",
                "source",
                "late",
                "review_status",
                "reviewed_by",
                "reviewed_at",
            ],
            select(
                A.c.id,
                A.c.obligation_id,
                A.c.unit_id,
                literal(1),
                literal(data, S.c.data.type),
                literal("bench"),
                literal(sent_at),
                literal("bench"),
                literal(False),
                literal("cho_duyet"),
                literal(None),
                literal(None),
            ).where(chosen),
        )
    )
    session.execute(
        update(S)
        .where(S.c.obligation_id == ob.id, S.c.unit_id % 2 == 0)
        .values(review_status="da_duyet", reviewed_by="bench", reviewed_at=sent_at)
    )
    session.execute(update(A).where(chosen).values(status="da_gui", current_version=1, submitted_at=sent_at, version=2))
    session.execute(update(A).where(chosen, accepted).values(status="da_duyet", reviewed_at=sent_at))
    waiting = session.execute(
        select(A.c.reviewer_unit_id, func.count())
        .where(A.c.obligation_id == ob.id, A.c.status == "da_gui")
        .group_by(A.c.reviewer_unit_id)
        .order_by(func.count().desc())
        .limit(1)
    ).one()
    free = list(
        session.execute(
            select(A.c.id, A.c.unit_id).where(
                A.c.obligation_id == ob.id,
                A.c.status == "chua_gui",
                A.c.unit_id.in_(select(U.c.id).where(U.c.level_code == "cdcs")),
            )
        ).all()
    )
    sent = session.execute(select(func.count()).select_from(S)).scalar_one()
    print(f"  báo cáo đợt 1 đã gửi: {sent:,}; hàng chờ lớn nhất: {waiting[1]} báo cáo")
    return {"busiest_reviewer_unit": waiting[0], "free_assignments": free}


def _seed_nominations(session: Session, campaign_id: int, count: int) -> dict[str, Any]:
    """`count` nominations from CĐCS: 80 % under review at their union, 10 % at the province, 10 % decided."""
    U = Unit.__table__  # type: ignore[attr-defined]
    rows = session.execute(
        select(U.c.id, U.c.parent_id, U.c.path).where(U.c.level_code == "cdcs").order_by(U.c.id).limit(count)
    ).all()
    province_of = {r.id: int(r.path.split(".")[1]) for r in rows}
    now = SERVER_NOW
    payload = []
    for i, (unit_id, parent_id, _path) in enumerate(rows):
        kind = i % 10
        status, holder, level = ("under_review", parent_id, "cap_tren_truc_tiep")
        if kind == 8:
            status, holder, level = "under_review", province_of[unit_id], "ldld_tinh"
        elif kind == 9:
            status, holder, level = "decided", province_of[unit_id], "ldld_tinh"
        payload.append(
            {
                "campaign_id": campaign_id,
                "catalogue_code": "qd1689-2019",
                "award_code": "bang-khen-ldld-tinh-chuyen-de",
                "award_name": "Bằng khen của Liên đoàn Lao động tỉnh (chuyên đề, sơ kết đợt)",
                "award_kind": "certificate",
                "award_scope": "thematic",
                "subject": "collective",
                "nominee_unit_id": unit_id,
                "nominee_name": f"CĐCS số {unit_id}",
                "nominee_position": "",
                "nominee_key": nominee_key("collective", unit_id),
                "occasion": "round",
                "round_number": 1,
                "theme": "Sáng kiến",
                "achievement": "Có nhiều sáng kiến",
                "achievement_key": achievement_key(campaign_id, "round", 1, "Sáng kiến"),
                "discipline": "",
                "dossier": {},
                "origin_unit_id": unit_id,
                "origin_level": "cdcs",
                "deciding_level": "ldld_tinh",
                "deciding_unit_id": province_of[unit_id],
                "status": status,
                "current_unit_id": holder,
                "current_level": level,
                "decision_number": "12/QĐ" if status == "decided" else "",
                "decision_date": date(2025, 7, 4) if status == "decided" else None,
                "decision_signer": "",
                "created_by": "bench",
                "created_at": now,
                "updated_at": now,
                "version": 3,
            }
        )
    session.execute(insert(Nomination.__table__), payload)  # type: ignore[attr-defined]
    return {"nominations": len(payload)}


def _seed_people(session: Session, campaign_id: int) -> dict[str, Any]:
    U = Unit.__table__  # type: ignore[attr-defined]
    ids = dict(session.execute(select(U.c.code, U.c.id).where(U.c.code.in_(["TLD", "T01"]))).all())
    return {"tld": ids["TLD"], "province": ids["T01"]}


def create_users(engine: Engine, facts: dict[str, Any], submitters: list[tuple[int, int]]) -> dict[str, Any]:
    """Accounts for the measured people: returns their ids (user id, unit id, e-mail)."""
    people = [
        ("reviewer", facts["busiest_reviewer_unit"], "reviewer"),
        ("office_province", facts["province"], "office"),
        ("office_national", facts["tld"], "office"),
    ]
    rows = [
        {
            "email": f"{key}@example.vn",
            "full_name": key,
            "unit_id": unit,
            "role": role,
            "active": True,
            "created_at": SERVER_NOW,
        }
        for key, unit, role in people
    ]
    rows += [
        {
            "email": f"cdcs{unit}@example.vn",
            "full_name": "",
            "unit_id": unit,
            "role": "unit_officer",
            "active": True,
            "created_at": SERVER_NOW,
        }
        for _, unit in submitters
    ]
    with Session(engine) as session, session.begin():
        session.execute(insert(User.__table__), rows)  # type: ignore[attr-defined]
        found = {email: (uid, unit) for uid, email, unit in session.execute(select(User.id, User.email, User.unit_id))}
    return {
        "people": {key: found[f"{key}@example.vn"] + (f"{key}@example.vn",) for key, _, _ in people},
        "submitters": [
            (assignment, found[f"cdcs{unit}@example.vn"][0], f"cdcs{unit}@example.vn")
            for assignment, unit in submitters
        ],
    }


# ---------------------------------------------------------------------------------------------------
# The server, in its own process
# ---------------------------------------------------------------------------------------------------
def serve(url: str, port: int, data_dir: str) -> None:
    import uvicorn

    from thidua.web.app import create_app

    settings = Settings(
        data_dir=Path(data_dir), database_url=url, secret_key=SECRET, base_url=f"http://127.0.0.1:{port}"
    )
    app = create_app(settings, make_engine(url), clock=lambda: SERVER_NOW)
    app.state.send_mail_now = None
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def session_headers(settings: Settings, user_id: int, email: str) -> tuple[dict[str, str], str]:
    from thidua.web.auth import SESSION_COOKIE, WebSession, encode_session
    from thidua.web.security import csrf_token

    data = WebSession(sid=f"do-{user_id}", issued_at=SERVER_NOW, user_id=user_id, email=email)
    return {"Cookie": f"{SESSION_COOKIE}={encode_session(settings, data)}"}, csrf_token(settings, data)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def time_page(base: str, path: str, headers: dict[str, str], repeats: int, warmup: int = 5) -> dict[str, float]:
    import httpx

    timings = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for _ in range(warmup + repeats):
            t0 = time.perf_counter()
            answer = client.get(path)
            timings.append((time.perf_counter() - t0) * 1000)
            if answer.status_code != 200:
                raise SystemExit(f"{path}: HTTP {answer.status_code}: {answer.text[:300]}")
    first, measured = timings[0], timings[warmup:]
    return {
        "first_ms": round(first, 1),
        "p50_ms": round(statistics.median(measured), 1),
        "p95_ms": round(percentile(measured, 0.95), 1),
        "max_ms": round(max(measured), 1),
        "requests": repeats,
        "bytes": len(answer.content),
    }


async def submission_load(
    base: str, settings: Settings, submitters: list[tuple[int, int, str]], rate: float, seconds: float
) -> dict[str, Any]:
    import httpx

    total = int(rate * seconds)
    # Cookies and CSRF tokens are made before the clock starts, so the generator's own work is not timed.
    plan = [
        (assignment_id, *session_headers(settings, user_id, email))
        for assignment_id, user_id, email in submitters[:total]
    ]
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        start = time.perf_counter() + 0.5

        async def one(i: int, assignment_id: int, headers: dict[str, str], csrf: str) -> None:
            planned = start + i / rate
            await asyncio.sleep(max(0.0, planned - time.perf_counter()))
            try:
                answer = await client.post(
                    f"/don-vi/nghia-vu/{assignment_id}", data={**REPORT, "_csrf": csrf}, headers=headers
                )
                if answer.status_code != 303:
                    errors.append(f"HTTP {answer.status_code}")
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
            latencies.append((time.perf_counter() - planned) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i, *item) for i, item in enumerate(plan)))
        wall = time.perf_counter() - t0
    return {
        "requests": len(plan),
        "rate_per_s": rate,
        "wall_s": round(wall, 1),
        "achieved_per_s": round(len(plan) / wall, 1),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1),
    }


# ---------------------------------------------------------------------------------------------------
# Floors: the server without database work, and the pages' statements as bare SQL
# ---------------------------------------------------------------------------------------------------
HTTP_FLOORS = (("http_floor_static", "/static/app.css"), ("http_floor_sign_in", "/dang-nhap"))
NOMINATIONS_SHOWN = 100  # web/routes_review.py: the page asks for one more to know there are more
QUEUE_PAGE = 50  # web/review_queries.PAGE_SIZE
OVERDUE_SHOWN = 50  # web/queries.overdue_list
FAILED_MAIL_SHOWN = 20  # web/office_views.dashboard
SQL_FLOOR_BUDGET_S = 30  # the national roll-up takes seconds: stop repeating it after this (at least 5 runs)

QUEUE_FROM = """FROM submission JOIN assignment ON assignment.id = submission.assignment_id
JOIN unit ON unit.id = assignment.unit_id JOIN obligation ON obligation.id = assignment.obligation_id
WHERE submission.review_status = :pending AND assignment.campaign_id = :campaign AND assignment.status = :sent
AND assignment.active IS {true} AND assignment.reviewer_unit_id = :reviewer"""
QUEUE_SQL = (
    f"SELECT count(*) FROM (SELECT submission.id {QUEUE_FROM}) AS waiting",
    """SELECT assignment.id, assignment.version, submission.version, submission.submitted_at, submission.late,
unit.code, unit.name, obligation.code, obligation.title, obligation.kind, assignment.due_on, submission.data,
obligation.id """
    + QUEUE_FROM
    + " ORDER BY submission.submitted_at, submission.id LIMIT :page_size OFFSET 0",
    """SELECT nomination.* FROM nomination WHERE nomination.campaign_id = :campaign
AND nomination.current_unit_id = :reviewer AND nomination.status IN (:under_review)
ORDER BY nomination.updated_at, nomination.id LIMIT :nominations OFFSET 0""",
)
ROLLUP = """count(*) AS total,
sum(CASE WHEN assignment.status IN (:sent, :accepted) THEN 1 ELSE 0 END) AS submitted,
sum(CASE WHEN assignment.status = :accepted THEN 1 ELSE 0 END) AS accepted,
sum(CASE WHEN assignment.status = :returned THEN 1 ELSE 0 END) AS returned,
sum(CASE WHEN assignment.status NOT IN (:sent, :accepted) AND assignment.due_at < :now THEN 1 ELSE 0 END) AS overdue,
sum(CASE WHEN assignment.status IN (:sent, :accepted) AND assignment.late IS {true} THEN 1 ELSE 0 END) AS late"""
OVERDUE_WHERE = """WHERE assignment.obligation_id = :obligation AND assignment.active IS {true}
AND assignment.status IN (:unsent, :returned) AND assignment.due_at < :now AND unit.path >= :low AND unit.path < :high"""
DASHBOARD_SQL = (
    f"""SELECT assignment.obligation_id, {ROLLUP} FROM assignment JOIN unit ON unit.id = assignment.unit_id
JOIN obligation ON obligation.id = assignment.obligation_id WHERE assignment.campaign_id = :campaign
AND assignment.active IS {{true}} AND unit.path >= :low AND unit.path < :high AND obligation.kind != :window
GROUP BY assignment.obligation_id""",
    f"""SELECT unit.level_code, {ROLLUP} FROM assignment JOIN unit ON unit.id = assignment.unit_id
WHERE assignment.obligation_id = :obligation AND assignment.active IS {{true}} AND unit.path >= :low
AND unit.path < :high GROUP BY unit.level_code""",
    f"""SELECT substr(unit.path, 1, :width) AS branch, {ROLLUP} FROM assignment JOIN unit ON unit.id = assignment.unit_id
WHERE assignment.obligation_id = :obligation AND assignment.active IS {{true}} AND unit.path > :low
AND unit.path < :high GROUP BY substr(unit.path, 1, :width)""",
    f"SELECT count(*) FROM assignment JOIN unit ON unit.id = assignment.unit_id {OVERDUE_WHERE}",
    f"""SELECT assignment.id, unit.code, unit.name, assignment.due_on, assignment.status FROM assignment
JOIN unit ON unit.id = assignment.unit_id {OVERDUE_WHERE} ORDER BY unit.code LIMIT :overdue_shown OFFSET 0""",
    """SELECT outbox.status, count(*) FROM outbox WHERE outbox.campaign_id = :campaign
AND outbox.kind IN (:reminder, :escalation, :digest) GROUP BY outbox.status""",
    """SELECT outbox.id, outbox.kind, outbox.status, outbox.recipient, unit.code, unit.name, outbox.assignment_id,
outbox.attempts, outbox.last_error, outbox.scheduled_at FROM outbox LEFT OUTER JOIN unit ON unit.id = outbox.unit_id
WHERE outbox.status IN (:failed, :unknown, :partial) AND outbox.kind IN (:reminder, :escalation, :digest)
AND (unit.id IS NULL OR unit.path >= :my_low AND unit.path < :my_high) AND outbox.campaign_id = :campaign
ORDER BY outbox.scheduled_at DESC, outbox.id DESC LIMIT :failed_shown OFFSET 0""",
    """SELECT nomination.current_level, nomination.status, count(*) FROM nomination
WHERE nomination.campaign_id = :campaign GROUP BY nomination.current_level, nomination.status""",
)
STATUS_PARAMS = {"sent": "da_gui", "accepted": "da_duyet", "returned": "tra_lai", "unsent": "chua_gui"}


class BareSql:
    """Statements through the database driver's own connection (sqlite3 or psycopg; SQLite with the
    application's pragmas): no ORM, no statement building, no rendering. Written after the SQL the
    application emits for the page, with the same parameters bound the same way."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        self.sqlite = self.engine.dialect.name == "sqlite"
        self.conn = self.engine.raw_connection()

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()

    def moment(self, value: datetime) -> Any:
        """What the ORM binds: SQLite stores naive UTC text, PostgreSQL gets the aware datetime."""
        if self.sqlite:
            return value.astimezone(timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    def prepare(self, sql: str) -> str:
        sql = sql.replace("{true}", "1" if self.sqlite else "true")
        return sql if self.sqlite else re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql)

    def run(self, statements: list[tuple[str, dict[str, Any]]]) -> list[list[tuple]]:
        cursor = self.conn.cursor()
        out = []
        for sql, params in statements:
            cursor.execute(sql, params)
            out.append([tuple(row) for row in cursor.fetchall()])
        cursor.close()
        self.conn.rollback()  # the request's transaction ends, as the application's session ends it
        return out


def time_bare_sql(
    bare: BareSql, statements: list[tuple[str, dict[str, Any]]], repeats: int, warmup: int = 2
) -> tuple[dict[str, Any], list[list[tuple]]]:
    for _ in range(warmup):
        rows = bare.run(statements)
    timings: list[float] = []
    started = time.perf_counter()
    while len(timings) < repeats and (len(timings) < 5 or time.perf_counter() - started < SQL_FLOOR_BUDGET_S):
        t0 = time.perf_counter()
        rows = bare.run(statements)
        timings.append((time.perf_counter() - t0) * 1000)
    figures = {  # two decimals: a page's statements can take well under a millisecond
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(percentile(timings, 0.95), 2),
        "max_ms": round(max(timings), 2),
        "runs": len(timings),
        "statements": len(statements),
        "rows": [len(r) for r in rows],
    }
    return figures, rows


def queue_floor(bare: BareSql, campaign_id: int, reviewer_unit: int) -> list[tuple[str, dict[str, Any]]]:
    params = {
        **STATUS_PARAMS,
        "pending": "cho_duyet",
        "under_review": "under_review",
        "campaign": campaign_id,
        "reviewer": reviewer_unit,
        "page_size": QUEUE_PAGE,
        "nominations": NOMINATIONS_SHOWN + 1,
    }
    return [(bare.prepare(sql), params) for sql in QUEUE_SQL]


def dashboard_floor(
    bare: BareSql, campaign_id: int, scope_path: str, obligation_id: int, my_path: str
) -> list[tuple[str, dict[str, Any]]]:
    from thidua.services.campaigns import subtree_range

    low, high = subtree_range(scope_path)
    my_low, my_high = subtree_range(my_path)
    params = {
        **STATUS_PARAMS,
        "campaign": campaign_id,
        "obligation": obligation_id,
        "now": bare.moment(SERVER_NOW),
        "low": low,
        "high": high,
        "my_low": my_low,
        "my_high": my_high,
        "width": len(scope_path) + 9,  # web/queries.compliance_by_branch: the child's path
        "window": "nomination_window",
        "reminder": "reminder",
        "escalation": "escalation",
        "digest": "office_digest",
        "failed": "failed",
        "unknown": "unknown",
        "partial": "partial",
        "overdue_shown": OVERDUE_SHOWN,
        "failed_shown": FAILED_MAIL_SHOWN,
    }
    return [(bare.prepare(sql), params) for sql in DASHBOARD_SQL]


def _counts(c: Any) -> tuple[int, ...]:
    return (c.total, c.submitted, c.accepted, c.returned, c.overdue, c.late)


def sql_floors(url: str, campaign_id: int, people: dict[str, tuple[int, int, str]], repeats: dict[str, int]) -> dict:
    """Each page's bare statements, timed, after checking they return what the application's queries return."""
    from thidua.services import nominations as nomination_service
    from thidua.web import office_views
    from thidua.web.deps import principal_for_user
    from thidua.web.review_queries import QueueFilters, review_queue

    engine = make_engine(url)
    bare = BareSql(url)
    out: dict[str, Any] = {}
    try:
        with Session(engine) as session:
            campaign = session.get(Campaign, campaign_id)
            user_id, unit_id, email = people["reviewer"]
            reviewer = principal_for_user(session, user_id, email)
            assert reviewer is not None and campaign is not None
            rows, total = review_queue(session, reviewer, campaign_id, QueueFilters())
            waiting = nomination_service.reviewer_queue(engine, campaign_id, unit_id, limit=NOMINATIONS_SHOWN + 1)
            figures, bare_rows = time_bare_sql(bare, queue_floor(bare, campaign_id, unit_id), repeats["reviewer_queue"])
            got = (bare_rows[0][0][0], [r[0] for r in bare_rows[1]], [r[0] for r in bare_rows[2]])
            assert got == (total, [r.assignment_id for r in rows], [n.id for n in waiting]), "hàng chờ khác trang"
            out["reviewer_queue"] = figures
            pipeline = nomination_service.pipeline(engine, campaign_id)
            for key, who in (
                ("office_dashboard_province", "office_province"),
                ("office_dashboard_national", "office_national"),
            ):
                user_id, unit_id, email = people[who]
                office = principal_for_user(session, user_id, email)
                assert office is not None
                board = office_views.dashboard(session, office, campaign, SERVER_NOW)
                assert board.selected is not None
                statements = dashboard_floor(bare, campaign_id, board.scope.path, board.selected.id, office.unit_path)
                figures, bare_rows = time_bare_sql(bare, statements, repeats[key])
                by_obligation, by_level, by_branch, overdue_total, overdue, delivery, failed, groups = bare_rows
                assert {ob.id: _counts(c) for ob, c in board.obligations} == {
                    r[0]: tuple(x or 0 for x in r[1:]) for r in by_obligation
                }, "tổng hợp theo nghĩa vụ khác trang"
                assert (len(by_level), len(by_branch)) == (len(board.by_level), len(board.by_branch))
                assert (overdue_total[0][0], [r[0] for r in overdue]) == (
                    board.overdue_total,
                    [r.assignment_id for r in board.overdue],
                )
                assert (len(delivery), len(failed), len(groups)) == (
                    len(board.delivery),
                    len(board.failures),
                    len(pipeline),
                )
                out[key] = figures
    finally:
        bare.close()
        engine.dispose()
    return out


def wait_until_up(base: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("máy chủ web không khởi động được")
        try:
            httpx.get(base + "/dang-nhap", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("máy chủ web không trả lời")


def print_beside_floors(results: dict[str, Any], pages: list[str]) -> None:
    static, sign_in = results["http_floor_static"], results["http_floor_sign_in"]
    print("Trang cạnh sàn của nó (p50 / p95 ms, cùng lần chạy):")
    for key in pages:
        page, sql = results[key], results[f"sql_floor_{key}"]
        first = f" (lần đầu {page['first_ms']})" if key.startswith("office") else ""
        print(
            f"  {key}: trang {page['p50_ms']} / {page['p95_ms']}{first}"
            f" | sàn HTTP: tệp tĩnh {static['p50_ms']} / {static['p95_ms']}, trang đăng nhập {sign_in['p50_ms']} / {sign_in['p95_ms']}"
            f" | sàn SQL ({sql['statements']} câu, {sum(sql['rows']):,} dòng): {sql['p50_ms']} / {sql['p95_ms']}"
        )
    print("  (bảng điều khiển giữ số liệu giữa các lần gọi: sàn SQL của nó so với lần đầu, không với p50)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cdcs", type=int, default=130_000)
    parser.add_argument("--nominations", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--serve", nargs=3, metavar=("URL", "PORT", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.serve[2])
        return

    from thidua.notifications.sink import free_port

    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        workdir = Path(tmp)
        url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
        engine = make_engine(url)
        print(f"Dựng dữ liệu toàn quốc ({args.cdcs:,} CĐCS, {args.nominations:,} đề nghị khen thưởng) ...")
        facts = build(engine, workdir, args.cdcs, args.nominations)
        needed = int(args.rate * args.seconds)
        free = facts["free_assignments"]
        if len(free) < needed:
            raise SystemExit(f"chỉ có {len(free)} nghĩa vụ chưa gửi, cần {needed}")
        random.Random(6).shuffle(free)
        ids = create_users(engine, facts, free[:needed])
        engine.dispose()

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings = Settings(data_dir=workdir, database_url=url, secret_key=SECRET, base_url=base)
        server = subprocess.Popen([sys.executable, __file__, "--serve", url, str(port), str(workdir)])
        try:
            wait_until_up(base, server)
            results: dict[str, Any] = {
                "cdcs": args.cdcs,
                "nominations": facts["nominations"],
                "database": url.split(":")[0],
            }
            for key, path in HTTP_FLOORS:
                results[key] = time_page(base, path, {}, 200)
                print(f"{key}: {results[key]}")
            pages = (
                ("reviewer_queue", "reviewer", "/duyet", 200),
                ("office_dashboard_province", "office_province", "/van-phong", 50),
                ("office_dashboard_national", "office_national", "/van-phong", 30),
            )
            for key, who, path, repeats in pages:
                user_id, _unit, email = ids["people"][who]
                headers, _ = session_headers(settings, user_id, email)
                results[key] = time_page(base, path, headers, repeats)
                print(f"{key}: {results[key]}")
            floors = sql_floors(url, facts["campaign_id"], ids["people"], {key: n for key, _, _, n in pages})
            for key, _who, _path, _repeats in pages:
                results[f"sql_floor_{key}"] = floors[key]
                print(f"sql_floor_{key}: {floors[key]}")
            print_beside_floors(results, [key for key, _, _, _ in pages])
            results["submissions"] = asyncio.run(
                submission_load(base, settings, ids["submitters"], args.rate, args.seconds)
            )
            results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]  # other work on the machine
            print(f"submissions: {results['submissions']}")
        finally:
            server.terminate()
            server.wait(timeout=30)
        targets = {
            "reviewer_queue_p95_le_50ms": results["reviewer_queue"]["p95_ms"] <= 50,
            "office_dashboard_p95_le_300ms": results["office_dashboard_province"]["p95_ms"] <= 300,
            "submissions_p99_le_500ms": results["submissions"]["p99_ms"] <= 500,
            "submissions_no_errors": results["submissions"]["errors"] == 0,
        }
        results["targets_met"] = targets
        print("Mục tiêu:", json.dumps(targets, ensure_ascii=False))
        if args.json:
            args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
