"""Benchmark (issue 2): plan a 10-obligation campaign over the national tree (~130,000 CĐCS,
≈1.3 million assignments), beside the floor measured in the same run: a bare `INSERT … SELECT` of the very
same rows into an empty copy of the assignment table with the same indexes (the database's own cost of
writing them, no Python in the loop). A raw SQLAlchemy Core executemany of the rows is printed too, for
reference (it pays SQLAlchemy's per-row conversion, so it is not a floor). Then the status roll-up at
province level.

    python bench/bench_plan.py [--cdcs 130000] [--obligations 10] [--pg]

Targets: load ≤ 2× the floor; province roll-up ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from benchlib import bench_database, in_child, peak_mb
from sqlalchemy import insert, select, text
from sqlmodel import Session

from thidua.models.clock import end_of_day_utc, utcnow
from thidua.models.tables import Assignment, ObligationDef, Unit
from thidua.db import create_schema, make_engine
from thidua.services.campaigns import load_campaign
from thidua.services.status import status_report
from thidua.services.units import import_units, load_levels
from thidua.settings import CONFIG_DIR
from thidua.unitgen import national_tree, write_units_csv


def campaign_yaml(obligations: int) -> str:
    holidays = CONFIG_DIR / "calendars" / "vn_holidays.yaml"
    lines = [
        "code: toan-quoc-bench",
        "title: Chiến dịch toàn quốc (đo hiệu năng)",
        "theme: Đo hiệu năng",
        "year: 2025",
        "issuing_unit: TLD",
        "owner: {department: Ban Thi đua, email: thidua@example.vn}",
        "plan_issued_on: 01/01/2025",
        "starts: 01/01/2025",
        "ends: 31/12/2025",
        "rounds:",
        "  - {number: 1, name: Đợt 1, starts: 01/01/2025, ends: 30/06/2025}",
        "  - {number: 2, name: Đợt 2, starts: 30/06/2025, ends: 31/12/2025}",
        "calendar: {holidays_file: " + str(holidays) + "}",
        "obligations:",
    ]
    start = date(2025, 2, 1)
    for i in range(obligations):
        due = start + timedelta(days=30 * i)
        lines += [
            f"  - code: nghia-vu-{i + 1:02d}",
            "    kind: custom",
            f"    title: Nghĩa vụ {i + 1}",
            "    levels: [cdcs]",
            f"    due: {due:%d/%m/%Y}",
            "    fields: [{code: so_lieu, label: Số liệu, type: integer, min: 0}]",
        ]
    return "\n".join(lines) + "\n"


def step_import(url: str, csv_path: Path):
    engine = make_engine(url)
    load_levels(engine)
    t0 = time.perf_counter()
    report = import_units(engine, csv_path)
    return time.perf_counter() - t0, len(report.created), peak_mb()


def step_load(url: str, campaign_path: Path):
    engine = make_engine(url)
    t0 = time.perf_counter()
    result = load_campaign(engine, campaign_path)
    return time.perf_counter() - t0, result.assignments_created, peak_mb()


def step_raw(url: str, campaign_path: Path):
    """The same assignment rows, built in Python and inserted by Core executemany into an empty table."""
    engine = make_engine(url)
    with Session(engine) as session:
        obligations = session.exec(select(ObligationDef.id, ObligationDef.due_on, ObligationDef.campaign_id)).all()
        cdcs = session.exec(
            select(Unit.id, Unit.parent_id).where(Unit.level_code == "cdcs", Unit.active.is_(True))
        ).all()
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE raw_assignment AS SELECT * FROM assignment WHERE 1=0"))
    table = Assignment.__table__.to_metadata(__import__("sqlalchemy").MetaData(), name="raw_assignment")  # type: ignore[attr-defined]
    now = utcnow()
    t0 = time.perf_counter()
    with engine.begin() as conn:
        next_id = 1
        for ob_id, due_on, campaign_id in obligations:
            due_at = end_of_day_utc(due_on)
            rows = []
            for unit_id, parent_id in cdcs:
                rows.append(
                    {
                        "id": next_id,
                        "campaign_id": campaign_id,
                        "obligation_id": ob_id,
                        "unit_id": unit_id,
                        "reviewer_unit_id": parent_id,
                        "due_on": due_on,
                        "due_at": due_at,
                        "status": "chua_gui",
                        "late": False,
                        "current_version": 0,
                        "active": True,
                        "version": 1,
                        "updated_at": now,
                        "submitted_at": None,
                        "reviewed_at": None,
                    }
                )
                next_id += 1
            conn.execute(insert(table), rows)
    elapsed = time.perf_counter() - t0
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE raw_assignment"))
    return elapsed, next_id - 1, peak_mb()


def step_floor(url: str):
    """The floor: the planned rows copied by one bare INSERT … SELECT into an empty, identically indexed table."""
    import sqlalchemy

    from thidua.db import all_metadata

    engine = make_engine(url)
    metadata = sqlalchemy.MetaData()
    for other in all_metadata().sorted_tables:  # so the copy's foreign keys resolve (and are checked) as the real ones
        other.to_metadata(metadata)
    table = Assignment.__table__.to_metadata(metadata, name="floor_assignment")  # type: ignore[attr-defined]
    for index in table.indexes:
        index.name = f"floor_{index.name}"
    for constraint in table.constraints:
        if constraint.name:
            constraint.name = f"floor_{constraint.name}"
    table.create(engine)
    columns = ", ".join(c.name for c in table.columns)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        rows = conn.execute(text(f"INSERT INTO floor_assignment ({columns}) SELECT {columns} FROM assignment")).rowcount
    elapsed = time.perf_counter() - t0
    table.drop(engine)
    return elapsed, rows, peak_mb()


def step_rollup(url: str, province: str, repeats: int = 30):
    engine = make_engine(url)
    timings = []
    with Session(engine) as session:
        status_report(session, "toan-quoc-bench", unit_code=province)  # warm the caches
        for _ in range(repeats):
            t0 = time.perf_counter()
            report = status_report(session, "toan-quoc-bench", unit_code=province)
            timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(0.95 * (len(timings) - 1))], report.total.owed, len(report.by_group)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cdcs", type=int, default=130_000)
    parser.add_argument("--obligations", type=int, default=10)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL on 127.0.0.1:5432 instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = bench_database(args.pg, workdir, "bench_plan")
        create_schema(make_engine(url))
        csv_path = workdir / "national.csv"
        t0 = time.perf_counter()
        units = write_units_csv(national_tree(cdcs_total=args.cdcs), csv_path)
        print(f"Sinh cây toàn quốc: {units:,} đơn vị trong {time.perf_counter() - t0:.1f} s")
        seconds, created, peak = in_child(step_import, url, csv_path)
        print(f"Nhập đơn vị: {created:,} đơn vị trong {seconds:.2f} s, bộ nhớ đỉnh {peak:.0f} MB")
        campaign_path = workdir / "campaign.yaml"
        campaign_path.write_text(campaign_yaml(args.obligations), encoding="utf-8")
        load_s, assignments, load_peak = in_child(step_load, url, campaign_path)
        floor_s, floor_rows, _ = in_child(step_floor, url)
        raw_s, raw_rows, raw_peak = in_child(step_raw, url, campaign_path)
        print(f"Nạp chiến dịch: {assignments:,} nghĩa vụ trong {load_s:.2f} s, bộ nhớ đỉnh {load_peak:.0f} MB")
        print(f"Sàn (INSERT … SELECT trần vào bảng trống cùng chỉ mục): {floor_rows:,} dòng trong {floor_s:.2f} s")
        print(f"Tỉ lệ nạp / sàn: {load_s / floor_s:.2f} (mục tiêu ≤ 2)")
        print(
            f"Tham khảo — Core executemany cùng số dòng: {raw_rows:,} dòng trong {raw_s:.2f} s, bộ nhớ đỉnh {raw_peak:.0f} MB "
            f"(tỉ lệ nạp / executemany {load_s / raw_s:.2f})"
        )
        median, p95, owed, groups = in_child(step_rollup, url, "T01")
        print(
            f"Tổng hợp tình hình cấp tỉnh (T01: {owed:,} nghĩa vụ, {groups} đơn vị trực thuộc): "
            f"trung vị {median:.1f} ms, p95 {p95:.1f} ms (mục tiêu ≤ 100 ms)"
        )
        median, p95, owed, groups = in_child(step_rollup, url, "TLD")
        print(f"Tổng hợp toàn quốc (TLD: {owed:,} nghĩa vụ, {groups} tỉnh): trung vị {median:.1f} ms, p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()
