"""Benchmark (issue 16): at national scale (~131,000 CĐCS, ~1.3 million assignments) merge two provinces
into a new one and dissolve their district federations (children to the new province), from a change file,
beside bare UPDATEs of the same rows in the same run.

    python bench/bench_reorganisation.py [--cdcs 130000] [--obligations 10] [--pg] [--repeats 3]

The reorganisation writes a version of every unit whose path, parent or state changes, the reorganisation
log, one audit row per unit and per carried item, and re-points the reviewer of every unreviewed assignment
of the moved CĐCS. The floor does only the UPDATEs (parents, paths, states, reviewers) in plain SQL.
Both are measured inside a transaction that is rolled back (`--dry-run` does the whole work and rolls back),
repeated, then the real reorganisation runs once and commits. Target: < 30 s.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from bench_plan import campaign_yaml, step_import, step_load
from benchlib import bench_database, in_child, peak_mb
from sqlalchemy import Integer, String, and_, func, insert, literal, select, update

from thidua.db import create_schema, make_engine
from thidua.models.hierarchy import path_segment, subtree_upper_bound
from thidua.models.tables import Assignment, Unit
from thidua.services.reorganisation import reorganise
from thidua.unitgen import national_tree, write_units_csv

U = Unit.__table__  # type: ignore[attr-defined]
A = Assignment.__table__  # type: ignore[attr-defined]
TODAY = date(2025, 7, 15)
MERGED = ("T01", "T02")
NEW_CODE = "T01T02"


def districts_of(url: str) -> list[str]:
    """District federations (not sector unions) of the merged provinces: generated names say 'LĐLĐ huyện'."""
    engine = make_engine(url)
    parent = U.alias("parent")
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(U.c.code)
                .join(parent, parent.c.id == U.c.parent_id)
                .where(parent.c.code.in_(MERGED), U.c.name.like("LĐLĐ huyện%"))
                .order_by(U.c.code)
            ).scalars()
        )


def write_change_file(path: Path, districts: list[str]) -> int:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["ngay_hieu_luc", "thao_tac", "ma_don_vi", "ma_ke_thua", "ten_don_vi", "ma_cap_tren", "ghi_chu"]
        )
        writer.writerow(
            [
                "01/07/2025",
                "sap_nhap",
                "; ".join(MERGED),
                NEW_CODE,
                "LĐLĐ tỉnh Mẫu số 01-02 (giả lập)",
                "TLD",
                "Nghị quyết sáp nhập tỉnh (giả lập)",
            ]
        )
        for code in districts:
            writer.writerow(["01/07/2025", "giai_the", code, NEW_CODE, "", "", "Kết thúc hoạt động LĐLĐ cấp huyện"])
    return 1 + len(districts)


def step_floor(url: str, districts: list[str]) -> tuple[float, int, int]:
    """The same row changes as bare UPDATEs (and one INSERT), rolled back."""
    engine = make_engine(url)
    with engine.connect() as conn:
        ids = dict(conn.execute(select(U.c.code, U.c.id).where(U.c.code.in_([*MERGED, *districts, "TLD"]))).all())
        paths = dict(conn.execute(select(U.c.id, U.c.path).where(U.c.id.in_(list(ids.values())))).all())
        new_id = conn.execute(select(func.max(U.c.id))).scalar_one() + 1
        conn.rollback()
        trans = conn.begin()
        t0 = time.perf_counter()
        new_path = paths[ids["TLD"]] + path_segment(new_id)
        conn.execute(
            insert(U).values(
                id=new_id,
                code=NEW_CODE,
                name="x",
                level_code="ldld_tinh",
                parent_id=ids["TLD"],
                emails=[],
                active=True,
                path=new_path,
                depth=1,
            )
        )
        units = 0
        for old in [*(ids[c] for c in MERGED), *(ids[c] for c in districts)]:
            old_path = paths[old]
            units += conn.execute(update(U).where(U.c.parent_id == old).values(parent_id=new_id)).rowcount
            where = and_(U.c.path > old_path, U.c.path < subtree_upper_bound(old_path))
            prefix = new_path  # children of a merged province and of a dissolved district go to the new province
            conn.execute(
                update(U)
                .where(where)
                .values(
                    path=literal(prefix, String) + func.substr(U.c.path, literal(len(old_path) + 1, Integer)),
                    depth=U.c.depth + (len(prefix) - len(old_path)) // 9,
                )
            )
            if old in (ids[c] for c in MERGED):  # district paths changed: read them again
                for code in districts:
                    paths[ids[code]] = conn.execute(select(U.c.path).where(U.c.id == ids[code])).scalar_one()
        ended = [ids[c] for c in (*MERGED, *districts)]
        conn.execute(update(U).where(U.c.id.in_(ended)).values(active=False))
        rows = conn.execute(
            update(A)
            .where(A.c.reviewer_unit_id.in_([ids[c] for c in districts]), A.c.status != "da_duyet")
            .values(reviewer_unit_id=new_id)
        ).rowcount
        elapsed = time.perf_counter() - t0
        trans.rollback()
    return elapsed, units, rows


def step_reorganise(url: str, change_file: Path, dry_run: bool):
    engine = make_engine(url)
    t0 = time.perf_counter()
    report = reorganise(engine, change_file, dry_run=dry_run, today=TODAY, detail_limit=0)
    return time.perf_counter() - t0, report.units_versioned, dict(report.carried_counts), peak_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cdcs", type=int, default=130_000)
    parser.add_argument("--obligations", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL on 127.0.0.1:5432 instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = bench_database(args.pg, workdir, "bench_reorg")
        create_schema(make_engine(url))
        csv_path = workdir / "national.csv"
        units = write_units_csv(national_tree(cdcs_total=args.cdcs), csv_path)
        seconds, _, _ = in_child(step_import, url, csv_path)
        print(f"Cây toàn quốc: {units:,} đơn vị (nhập trong {seconds:.1f} s)")
        campaign_path = workdir / "campaign.yaml"
        campaign_path.write_text(campaign_yaml(args.obligations), encoding="utf-8")
        seconds, assignments, _ = in_child(step_load, url, campaign_path)
        print(f"Chiến dịch: {assignments:,} nghĩa vụ (nạp trong {seconds:.1f} s)")
        districts = districts_of(url)
        change_file = workdir / "sap_nhap.csv"
        rows = write_change_file(change_file, districts)
        print(
            f"Tệp thay đổi: {rows} dòng (sáp nhập {' + '.join(MERGED)} → {NEW_CODE}, giải thể {len(districts)} LĐLĐ huyện)"
        )
        floors, dry = [], []
        for _ in range(args.repeats):
            floor_s, floor_units, floor_rows = in_child(step_floor, url, districts)
            floors.append(floor_s)
            dry_s, versioned, carried, peak = in_child(step_reorganise, url, change_file, True)
            dry.append(dry_s)
        print(
            f"Sàn (UPDATE trần cùng các dòng, hoàn tác): {floor_units:,} đơn vị đổi cấp trên, {floor_rows:,} nghĩa vụ "
            f"đổi người duyệt; trung vị {statistics.median(floors):.2f} s ({', '.join(f'{s:.2f}' for s in floors)})"
        )
        print(
            f"Tái cấu trúc --dry-run (làm đủ rồi hoàn tác): trung vị {statistics.median(dry):.2f} s "
            f"({', '.join(f'{s:.2f}' for s in dry)}), {versioned:,} phiên bản đơn vị, chuyển theo {carried}, "
            f"bộ nhớ đỉnh {peak:.0f} MB"
        )
        real_s, versioned, carried, peak = in_child(step_reorganise, url, change_file, False)
        print(
            f"Tái cấu trúc thật (ghi): {real_s:.2f} s (mục tiêu < 30 s); tỉ lệ / sàn: "
            f"{real_s / statistics.median(floors):.1f}"
        )


if __name__ == "__main__":
    main()
