"""Benchmark (issue 4): consolidate one round for ~130,000 CĐCS with one report each.

Synthetic data is inserted with SQLAlchemy Core: a national tree (TLD → 63 provinces → 11 districts each →
CĐCS), one round-report obligation with the Bình Định round-report form, one assignment per CĐCS and one
submission per reporting CĐCS (85 % accepted, 5 % waiting, 3 % returned, 7 % never sent; 10 % late).
Consolidation then runs in a fresh child process (its own peak memory): first run (every snapshot new),
an unchanged re-run (nothing written), and a re-run after one correction (only its ancestors change).
Beside the first run, its floor in the same database: the same aggregates computed and written as snapshot
rows by one bare INSERT … SELECT into an empty copy of the snapshot table (same indexes), checked unit for
unit against the first run's snapshots.

    python bench/bench_consolidation.py [--cdcs 130000] [--pg]

Target: the first consolidation < 10 s.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from benchlib import bench_database, in_child, peak_mb
from sqlalchemy import insert, select, text, update

from thidua.models.clock import end_of_day_utc
from thidua.models.spec.campaign import Obligation
from thidua.models.submissions import ConsolidationSnapshot, Submission
from thidua.models.tables import Assignment, Campaign, Level, ObligationDef, Round, Unit
from thidua.models.treepath import subtree_range
from thidua.db import create_schema, make_engine, session_scope
from thidua.services.consolidation import consolidate

PROVINCES, DISTRICTS_PER_PROVINCE = 63, 11
BATCH = 20_000
OBLIGATION = {
    "code": "so-ket-dot-1",
    "kind": "round_report",
    "round": 1,
    "title": "Báo cáo sơ kết đợt 1",
    "levels": ["cdcs"],
    "due": "10/06/2025",
    "fields": [
        {"code": "so_sang_kien", "label": "Số sáng kiến trong đợt", "type": "integer", "required": True, "min": 0},
        {
            "code": "so_doan_vien_moi",
            "label": "Số đoàn viên mới kết nạp",
            "type": "integer",
            "required": True,
            "min": 0,
        },
        {"code": "so_cdcs_thanh_lap", "label": "Số CĐCS mới thành lập", "type": "integer", "min": 0},
        {"code": "so_tap_the_bieu_duong", "label": "Số tập thể được biểu dương", "type": "integer", "min": 0},
        {"code": "so_ca_nhan_bieu_duong", "label": "Số cá nhân được biểu dương", "type": "integer", "min": 0},
        {
            "code": "gia_tri_lam_loi",
            "label": "Giá trị làm lợi (triệu đồng)",
            "type": "decimal",
            "min": 0,
            "sectors": ["sxkd"],
        },
        {
            "code": "so_mo_hinh_cai_cach",
            "label": "Số mô hình cải cách",
            "type": "integer",
            "min": 0,
            "sectors": ["hcsn"],
        },
        {"code": "hoan_thanh", "label": "Hoàn thành công trình", "type": "bool"},
        {"code": "guong_dien_hinh", "label": "Gương điển hình", "type": "text", "max_length": 2000},
    ],
}


def _chunks(rows: list[dict], size: int = BATCH):
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def build(url: str, cdcs_total: int) -> dict[str, float]:
    """Insert the synthetic tree, campaign, assignments and submissions with Core."""
    engine = make_engine(url)
    create_schema(engine)
    rng = random.Random(2025)
    now = datetime(2025, 6, 1, tzinfo=timezone.utc)
    due_at = end_of_day_utc(date(2025, 6, 10))
    counts: dict[str, float] = {}
    t0 = time.perf_counter()
    units: list[dict] = []

    def add(code: str, name: str, level: str, parent: dict | None, sector: str | None = None) -> dict:
        unit_id = len(units) + 1
        path = (parent["path"] if parent else "") + f"{unit_id:08d}."
        row = {
            "id": unit_id,
            "code": code,
            "name": name,
            "level_code": level,
            "parent_id": parent["id"] if parent else None,
            "path": path,
            "depth": path.count(".") - 1,
            "sector": sector,
            "emails": [],
            "active": True,
            "cluster": None,
            "updated_at": now,
        }
        units.append(row)
        return row

    root = add("TLD", "Tổng Liên đoàn Lao động Việt Nam", "tong_ldld", None)
    districts = []
    for p in range(1, PROVINCES + 1):
        province = add(f"T{p:02d}", f"LĐLĐ tỉnh {p:02d}", "ldld_tinh", root)
        for d in range(1, DISTRICTS_PER_PROVINCE + 1):
            districts.append(add(f"T{p:02d}.H{d:02d}", f"LĐLĐ huyện {p:02d}-{d:02d}", "cap_tren_truc_tiep", province))
    cdcs = [
        add(
            f"{districts[i % len(districts)]['code']}.C{i:06d}",
            f"CĐCS {i:06d}",
            "cdcs",
            districts[i % len(districts)],
            "sxkd" if i % 3 else "hcsn",
        )
        for i in range(cdcs_total)
    ]
    with session_scope(engine) as session:
        for rank, code in enumerate(("tong_ldld", "ldld_tinh", "cap_tren_truc_tiep", "cdcs")):
            session.add(Level(code=code, name=code, rank=rank))
        session.flush()
        for chunk in _chunks(units):
            session.execute(insert(Unit), chunk)
        campaign_id = session.execute(
            insert(Campaign).values(
                code="bench-2025",
                title="Đo hiệu năng",
                year=2025,
                issuing_unit_id=root["id"],
                root_unit_id=root["id"],
                starts_on=date(2025, 1, 1),
                ends_on=date(2025, 12, 31),
                spec={},
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]
        session.execute(
            insert(Round).values(
                campaign_id=campaign_id, number=1, name="Đợt 1", starts_on=date(2025, 1, 1), ends_on=date(2025, 5, 31)
            )
        )
        spec = Obligation.model_validate(OBLIGATION)
        obligation_id = session.execute(
            insert(ObligationDef).values(
                campaign_id=campaign_id,
                code=spec.code,
                kind=spec.kind,
                title=spec.title,
                round_number=1,
                due_on=date(2025, 6, 10),
                levels=["cdcs"],
                sectors=[],
                reviewer="parent",
                definition=spec.model_dump(mode="json"),
                active=True,
            )
        ).inserted_primary_key[0]
        assignments, submissions = [], []
        for number, unit in enumerate(cdcs, start=1):
            roll = rng.random()
            status = (
                "da_duyet" if roll < 0.85 else "da_gui" if roll < 0.90 else "tra_lai" if roll < 0.93 else "chua_gui"
            )
            sent = status != "chua_gui"
            late = sent and rng.random() < 0.10
            sent_at = datetime(2025, 6, 15 if late else 5, tzinfo=timezone.utc)
            assignments.append(
                {
                    "id": number,
                    "campaign_id": campaign_id,
                    "obligation_id": obligation_id,
                    "unit_id": unit["id"],
                    "reviewer_unit_id": unit["parent_id"],
                    "due_on": date(2025, 6, 10),
                    "due_at": due_at,
                    "status": status,
                    "submitted_at": sent_at if sent else None,
                    "reviewed_at": sent_at if status in ("da_duyet", "tra_lai") else None,
                    "late": late,
                    "current_version": 1 if sent else 0,
                    "active": True,
                    "version": 2 if sent else 1,
                    "updated_at": now,
                }
            )
            if sent:
                data = {
                    "so_sang_kien": rng.randint(0, 20),
                    "so_doan_vien_moi": rng.randint(0, 50),
                    "so_tap_the_bieu_duong": rng.randint(0, 3),
                    "so_ca_nhan_bieu_duong": rng.randint(0, 10),
                    "hoan_thanh": rng.random() < 0.7,
                    "guong_dien_hinh": "Đồng chí Nguyễn Văn A",
                }
                if unit["sector"] == "sxkd":
                    data["gia_tri_lam_loi"] = round(rng.uniform(0, 500), 2)
                else:
                    data["so_mo_hinh_cai_cach"] = rng.randint(0, 2)
                review = {"da_duyet": "da_duyet", "da_gui": "cho_duyet", "tra_lai": "tra_lai"}[status]
                submissions.append(
                    {
                        "assignment_id": number,
                        "obligation_id": obligation_id,
                        "unit_id": unit["id"],
                        "version": 1,
                        "data": data,
                        "submitted_by": unit["code"],
                        "submitted_at": sent_at,
                        "source": "import",
                        "late": late,
                        "review_status": review,
                        "review_comment": None,
                        "reviewed_by": None,
                        "reviewed_at": assignments[-1]["reviewed_at"],
                        "appraised_rating": None,
                    }
                )
        for chunk in _chunks(assignments):
            session.execute(insert(Assignment), chunk)
        for chunk in _chunks(submissions):
            session.execute(insert(Submission), chunk)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    counts.update(
        units=len(units),
        cdcs=len(cdcs),
        assignments=len(assignments),
        submissions=len(submissions),
        seconds=time.perf_counter() - t0,
    )
    engine.dispose()
    return counts


def run_consolidation(url: str) -> tuple[float, int, int, float]:
    engine = make_engine(url)
    t0 = time.perf_counter()
    with session_scope(engine) as session:
        result = consolidate(session, campaign_code="bench-2025", obligation_code="so-ket-dot-1", actor="bench")
    return time.perf_counter() - t0, result.aggregating_units, result.new_versions, peak_mb()


def correct_one_report(url: str) -> str:
    """A unit corrects its accepted report (a new accepted version), as the service would leave it."""
    engine = make_engine(url)
    with session_scope(engine) as session:
        S = Submission.__table__  # type: ignore[attr-defined]
        row = session.execute(
            select(S.c.id, S.c.assignment_id, S.c.unit_id, S.c.obligation_id, S.c.data)
            .where(S.c.review_status == "da_duyet")
            .limit(1)
        ).one()
        session.execute(update(Assignment).where(Assignment.id == row.assignment_id).values(current_version=2))
        session.execute(
            insert(S).values(
                assignment_id=row.assignment_id,
                obligation_id=row.obligation_id,
                unit_id=row.unit_id,
                version=2,
                data=dict(row.data, so_sang_kien=row.data["so_sang_kien"] + 100),
                submitted_by="bench",
                submitted_at=datetime.now(timezone.utc),
                source="cli",
                late=False,
                review_status="da_duyet",
                reviewed_by="bench",
                reviewed_at=datetime.now(timezone.utc),
            )
        )
        return session.execute(select(Unit.code).where(Unit.id == row.unit_id)).scalar_one()


# --- the floor: the same aggregates in bare SQL ---------------------------------------------------------
FLOOR_TABLE = "floor_snapshot"
AGGREGATING_LEVELS = ("tong_ldld", "ldld_tinh", "cap_tren_truc_tiep")  # build(): depths 0, 1, 2 above the CĐCS
LIST_COLUMNS = ("not_submitted", "late_units", "awaiting")


def _floor_table():  # noqa: ANN202
    """An empty copy of the snapshot table: same columns, indexes, unique key and foreign keys."""
    import sqlalchemy

    from thidua.db import all_metadata

    metadata = sqlalchemy.MetaData()
    for other in all_metadata().sorted_tables:  # so the copy's foreign keys resolve (and are checked) as the real ones
        other.to_metadata(metadata)
    table = ConsolidationSnapshot.__table__.to_metadata(metadata, name=FLOOR_TABLE)  # type: ignore[attr-defined]
    for index in table.indexes:
        index.name = f"floor_{index.name}"
    for constraint in table.constraints:
        if constraint.name:
            constraint.name = f"floor_{constraint.name}"
    return table


def floor_sql(dialect: str) -> str:
    """One statement: what consolidate() computes on its first run (one scan grouped by district, each
    aggregating depth rolled up from those groups, the snapshot JSON built in SQL), inserted as version 1.
    Left out: the ORM, the form validation, the previous-version lookup, the SHA-256 of each snapshot
    (data_hash is written empty; SQLite has no built-in hash) and the audit row. Lists of unit codes
    stay in the order the database aggregates them (consolidate sorts them)."""
    pg = dialect == "postgresql"
    cast = {"integer": "::integer", "decimal": "::float8", "bool": "::boolean"}

    def value(code: str, kind: str) -> str:
        return f"(c.data ->> '{code}'){cast[kind]}" if pg else f"json_extract(c.data, '$.{code}')"

    def joined(column: str) -> str:
        return f"string_agg({column}, ',')" if pg else f"group_concat({column}, ',')"

    def as_array(column: str) -> str:  # unit codes contain no comma nor quote
        if pg:
            return f"coalesce(to_json(string_to_array(r.{column}, ',')), '[]'::json)"
        return f"""CASE WHEN r.{column} IS NULL THEN json_array() ELSE json('["' || replace(r.{column}, ',', '","') || '"]') END"""

    obj = "json_build_object" if pg else "json_object"
    fields = [f for f in OBLIGATION["fields"] if f["type"] in ("integer", "decimal", "bool")]
    figures, numbers, bools = [], [], []
    for f in fields:
        code, kind = f["code"], f["type"]
        if kind == "bool":
            figures.append(f"sum(CASE WHEN {value(code, kind)} THEN 1 ELSE 0 END) AS t_{code}")
            bools.append(f"'{code}', {obj}('true', coalesce(r.t_{code}, 0), 'reports', r.n_{code})")
        else:
            figures.append(f"sum({value(code, kind)}) AS s_{code}")
            total = f"coalesce(r.s_{code}, 0)"
            if kind == "decimal":
                total = f"round({total}::numeric, 6)" if pg else f"round({total}, 6)"
            numbers.append(f"'{code}', {obj}('sum', {total}, 'reports', r.n_{code})")
        figures.append(f"count({value(code, kind)}) AS n_{code}")
    counters = ["owed", "counted", "submitted", "pending", "returned", "late"]
    figure_names = [name.split(" AS ")[1] for name in figures]
    rollups = " UNION ALL ".join(
        f"SELECT substr(key, 1, {9 * (depth + 1)}) AS prefix, "
        + ", ".join(f"sum({c}) AS {c}" for c in counters + figure_names)
        + ", "
        + ", ".join(f"{joined(c)} AS {c}" for c in LIST_COLUMNS)
        + f" FROM base WHERE length(key) >= {9 * (depth + 1)} GROUP BY 1"
        for depth in range(len(AGGREGATING_LEVELS))
    )
    # SQLite: "+ 0" keeps the planner on the (assignment_id, version) key, as consolidate does.
    obligation_of_s = "s.obligation_id" if pg else "s.obligation_id + 0"
    true = "true" if pg else "json('true')"
    levels = ", ".join(f"'{level}'" for level in AGGREGATING_LEVELS)
    return f"""
INSERT INTO {FLOOR_TABLE} (campaign_id, obligation_id, round_number, unit_id, version, data_hash, data,
                           created_at, created_by)
WITH counted AS (
    SELECT s.assignment_id, s.data FROM submission s
    WHERE {obligation_of_s} = :obligation_id AND s.review_status = 'da_duyet'
      AND NOT EXISTS (SELECT 1 FROM submission n WHERE n.assignment_id = s.assignment_id
                      AND n.version > s.version AND n.review_status = 'da_duyet')
), base AS (
    SELECT substr(u.path, 1, {9 * len(AGGREGATING_LEVELS)}) AS key,
           count(*) AS owed, count(c.assignment_id) AS counted,
           sum(CASE WHEN a.status = 'chua_gui' THEN 0 ELSE 1 END) AS submitted,
           sum(CASE WHEN a.status = 'da_gui' THEN 1 ELSE 0 END) AS pending,
           sum(CASE WHEN a.status = 'tra_lai' THEN 1 ELSE 0 END) AS returned,
           sum(CASE WHEN a.late THEN 1 ELSE 0 END) AS late,
           {joined("CASE WHEN a.status = 'chua_gui' THEN u.code END")} AS not_submitted,
           {joined("CASE WHEN a.late THEN u.code END")} AS late_units,
           {joined("CASE WHEN a.status <> 'chua_gui' AND c.assignment_id IS NULL THEN u.code END")} AS awaiting,
           {", ".join(figures)}
    FROM assignment a JOIN unit u ON u.id = a.unit_id LEFT JOIN counted c ON c.assignment_id = a.id
    WHERE a.obligation_id = :obligation_id AND a.active AND u.path >= :low AND u.path < :high
    GROUP BY 1
), rolled AS ({rollups})
SELECT :campaign_id, :obligation_id, 1, u.id, 1, '',
       {obj}('obligation', '{OBLIGATION["code"]}', 'round', 1, 'unit', u.code, 'unit_name', u.name,
             'level', u.level_code, 'accepted_only', {true},
             'owed', r.owed, 'counted', r.counted, 'submitted', coalesce(r.submitted, 0),
             'pending', coalesce(r.pending, 0), 'returned', coalesce(r.returned, 0), 'late', coalesce(r.late, 0),
             'numbers', {obj}({", ".join(numbers)}), 'bools', {obj}({", ".join(bools)}), 'choices', {obj}(),
             {", ".join(f"'{c}', {as_array(c)}" for c in LIST_COLUMNS)}),
       CURRENT_TIMESTAMP, 'bench:floor'
FROM rolled r JOIN unit u ON u.path = r.prefix
WHERE u.level_code IN ({levels})
"""


def run_floor(url: str) -> tuple[float, int]:
    """The floor, timed like run_consolidation (fresh process, connection included): (seconds, rows written)."""
    engine = make_engine(url)
    table = _floor_table()
    table.drop(engine, checkfirst=True)
    table.create(engine)
    engine.dispose()
    engine = make_engine(url)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        campaign_id, obligation_id, root_path = conn.execute(
            text(
                "SELECT c.id, o.id, u.path FROM campaign c JOIN obligation o ON o.campaign_id = c.id "
                "JOIN unit u ON u.id = c.root_unit_id WHERE c.code = 'bench-2025' AND o.code = :code"
            ),
            {"code": OBLIGATION["code"]},
        ).one()
        low, high = subtree_range(root_path)
        rows = conn.execute(
            text(floor_sql(engine.dialect.name)),
            {"campaign_id": campaign_id, "obligation_id": obligation_id, "low": low, "high": high},
        ).rowcount
    return time.perf_counter() - t0, rows


def _normalised(value: Any) -> Any:
    """Snapshot data compared regardless of list order, number type and JSON text vs parsed."""
    if isinstance(value, str) and value.startswith("{"):
        value = json.loads(value)
    if isinstance(value, dict):
        return {key: _normalised(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted(_normalised(item) for item in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return round(float(value), 6)
    return value


def check_floor(url: str) -> int:
    """The floor wrote, unit for unit, the figures of consolidate's first version; else stop. Returns its rows."""
    engine = make_engine(url)
    with engine.connect() as conn:
        real = {
            unit_id: _normalised(data)
            for unit_id, data in conn.execute(
                text("SELECT unit_id, data FROM consolidationsnapshot WHERE version = 1")
            ).all()
        }
        floor = {
            unit_id: _normalised(data)
            for unit_id, data in conn.execute(text(f"SELECT unit_id, data FROM {FLOOR_TABLE}")).all()
        }
    engine.dispose()
    if real != floor:
        differing = sorted(u for u in real.keys() | floor.keys() if real.get(u) != floor.get(u))
        raise SystemExit(
            f"sàn khác tổng hợp: {len(floor)} dòng sàn, {len(real)} bản đầu; khác ở đơn vị {differing[:5]}: "
            f"{floor.get(differing[0])} ≠ {real.get(differing[0])}"
        )
    return len(floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cdcs", type=int, default=130_000)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL on 127.0.0.1:5432 instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = bench_database(args.pg, Path(tmp), "bench_consolidation")
        counts = in_child(build, url, args.cdcs)
        print(
            f"Dữ liệu giả lập ({'PostgreSQL' if args.pg else 'SQLite'}): {counts['units']:,.0f} đơn vị "
            f"({counts['cdcs']:,.0f} CĐCS), {counts['assignments']:,.0f} nghĩa vụ, {counts['submissions']:,.0f} báo cáo "
            f"— chèn bằng Core trong {counts['seconds']:.1f} s"
        )
        seconds, aggregating, written, peak = in_child(run_consolidation, url)
        print(
            f"Tổng hợp lần đầu: {aggregating:,} đơn vị tổng hợp, {written:,} bản số liệu mới trong {seconds:.2f} s, "
            f"bộ nhớ đỉnh {peak:.0f} MB (mục tiêu < 10 s)"
        )
        floor_s, floor_rows = in_child(run_floor, url)
        same = check_floor(url)
        print(
            f"Sàn (SQL trần: một INSERT … SELECT, cùng số liệu vào bảng trống cùng chỉ mục): {floor_rows:,} dòng "
            f"trong {floor_s:.2f} s (khớp {same:,}/{written:,} bản lần đầu); tổng hợp lần đầu = {seconds / floor_s:.1f}× sàn"
        )
        seconds, aggregating, written, peak = in_child(run_consolidation, url)
        print(f"Tổng hợp lại, không đổi: {written} bản mới trong {seconds:.2f} s, bộ nhớ đỉnh {peak:.0f} MB")
        unit = in_child(correct_one_report, url)
        seconds, aggregating, written, peak = in_child(run_consolidation, url)
        print(f"Tổng hợp sau khi {unit} sửa báo cáo: {written} bản mới (huyện, tỉnh, toàn quốc) trong {seconds:.2f} s")
        with session_scope(make_engine(url)) as session:
            versions = (
                session.execute(
                    select(ConsolidationSnapshot.version)
                    .where(ConsolidationSnapshot.unit_id == 1)
                    .order_by(ConsolidationSnapshot.version)
                )
                .scalars()
                .all()
            )
        print(f"Các bản số liệu toàn quốc: {versions}")


if __name__ == "__main__":
    main()
