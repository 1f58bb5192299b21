"""Benchmark (issue 12): plan a monthly obligation ('every: month') for the national tree (~131,000 CĐCS ×
12 months ≈ 1.57 million assignments) beside the floor: a bare INSERT … SELECT of the same rows into the
same indexed `assignment` table, measured in the same run, alternately, several times.

    python bench/bench_recurring.py [--cdcs 131000] [--repeats 3] [--pg]

Target: planning ≤ 2× the bare INSERT … SELECT.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchlib import bench_database
from sqlalchemy import insert, literal, select, text

from thidua.db import create_schema, make_engine
from thidua.models.clock import end_of_day_utc, utcnow
from thidua.models.tables import Assignment, ObligationDef, Unit
from thidua.services.campaigns import load_campaign
from thidua.services.units import import_units, load_levels
from thidua.unitgen import national_tree, write_units_csv

A, U = Assignment.__table__, Unit.__table__  # type: ignore[attr-defined]

CAMPAIGN = """\
code: thang-toan-quoc
title: Đánh giá hằng tháng toàn quốc (đo hiệu năng)
theme: Đo hiệu năng
year: 2024
issuing_unit: TLD
owner: {department: Ban Tuyên giáo, email: tuyengiao@example.vn}
plan_issued_on: 01/01/2024
starts: 01/01/2024
ends: 31/12/2024
rounds: [{number: 1, name: Cả năm, starts: 01/01/2024, ends: 31/12/2024}]
obligations:
  - code: danh-gia-thang
    kind: custom
    title: Đánh giá trong sinh hoạt công đoàn
    levels: [cdcs]
    every: month
    due: {days_after_period_end: 5}
    fields: [{code: da_danh_gia, label: Đã đánh giá, type: bool}]
"""


def bare_insert_select(engine, campaign_id: int, periods: list[tuple[int, object]]) -> int:
    """The floor: the same rows, one bare INSERT … SELECT per period over the CĐCS of the tree."""
    now = utcnow()
    rows = 0
    with engine.begin() as conn:
        for obligation_id, due_on in periods:
            rows += conn.execute(
                insert(A)
                .from_select(
                    [
                        "campaign_id",
                        "obligation_id",
                        "unit_id",
                        "reviewer_unit_id",
                        "due_on",
                        "due_at",
                        "status",
                        "late",
                        "current_version",
                        "active",
                        "version",
                        "updated_at",
                    ],
                    select(
                        literal(campaign_id),
                        literal(obligation_id),
                        U.c.id,
                        U.c.parent_id,
                        literal(due_on),
                        literal(end_of_day_utc(due_on)),
                        literal("chua_gui"),
                        literal(False),
                        literal(0),
                        literal(True),
                        literal(1),
                        literal(now),
                    ).where(U.c.level_code == "cdcs", U.c.active.is_(True)),
                )
                .execution_options(preserve_rowcount=True)
            ).rowcount
    return rows


def clear(engine, campaign_only: bool) -> None:
    """Remove the rows just made, then compact, so that each measured step starts from the same file
    (on SQLite, the WAL of a big DELETE would otherwise be checkpointed inside the next measured step)."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM assignment"))
        if campaign_only:
            for table in ("auditlog", "obligation", "round", "target"):
                conn.execute(text(f"DELETE FROM {table}"))
            conn.execute(text("DELETE FROM campaign"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            conn.execute(text("VACUUM"))
        else:
            conn.execute(text("VACUUM (ANALYZE) assignment"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cdcs", type=int, default=131_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL on 127.0.0.1:5432 instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = bench_database(args.pg, workdir, "bench_recurring")
        engine = make_engine(url)
        create_schema(engine)
        load_levels(engine)
        csv_path = workdir / "national.csv"
        units = write_units_csv(national_tree(cdcs_total=args.cdcs), csv_path)
        import_units(engine, csv_path)
        campaign_path = workdir / "thang.yaml"
        campaign_path.write_text(CAMPAIGN, encoding="utf-8")
        print(f"Cây toàn quốc: {units:,} đơn vị; máy: tải trung bình {os.getloadavg()[0]:.2f} khi bắt đầu")
        plan_s, bare_s = [], []
        for repeat in range(args.repeats):
            t0 = time.perf_counter()
            result = load_campaign(engine, campaign_path)
            plan_s.append(time.perf_counter() - t0)
            with engine.connect() as conn:
                campaign_id = conn.execute(text("SELECT id FROM campaign")).scalar_one()
                periods = conn.execute(
                    select(ObligationDef.id, ObligationDef.due_on).order_by(ObligationDef.due_on)
                ).all()
            clear(engine, campaign_only=False)
            t0 = time.perf_counter()
            rows = bare_insert_select(engine, campaign_id, [(p.id, p.due_on) for p in periods])
            bare_s.append(time.perf_counter() - t0)
            assert rows == result.assignments_created, (rows, result.assignments_created)
            clear(engine, campaign_only=True)
            print(
                f"  lần {repeat + 1}: lập kế hoạch {result.assignments_created:,} nghĩa vụ ({len(periods)} kỳ) "
                f"{plan_s[-1]:.2f} s; INSERT … SELECT trần {bare_s[-1]:.2f} s"
            )
        plan, bare = statistics.median(plan_s), statistics.median(bare_s)
        print(
            f"Trung vị {args.repeats} lần: lập kế hoạch {plan:.2f} s, INSERT … SELECT trần {bare:.2f} s, "
            f"tỉ lệ {plan / bare:.2f} (mục tiêu ≤ 2); tải trung bình {os.getloadavg()[0]:.2f} khi kết thúc"
        )


if __name__ == "__main__":
    main()
