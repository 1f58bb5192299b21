"""Benchmark of the unit import: the synthetic national tree (≈130,000 CĐCS) into a fresh database.

    python bench/bench_units.py                    # SQLite in a temporary directory
    python bench/bench_units.py --pg               # also PostgreSQL (THIDUA_TEST_POSTGRES or the test URL)
    python bench/bench_units.py --cdcs 20000       # smaller tree

Prints wall and CPU time of each step, the process's peak memory, and for comparison the time of a raw
SQLAlchemy Core executemany of the very same unit rows into an empty table (the floor for the insert).
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, ContextManager, Iterator, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from thidua.models.tables import AuditLog, Unit  # noqa: E402
from thidua.db import create_schema, make_engine  # noqa: E402
from thidua.services.units import get_unit, import_units, load_levels, subtree_ids  # noqa: E402
from thidua.unitgen import CSV_COLUMNS, national_tree, write_units_csv  # noqa: E402

DEFAULT_PG = os.environ.get("THIDUA_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
T = TypeVar("T")


def n(value: int) -> str:
    """Vietnamese thousands separator."""
    return f"{value:,}".replace(",", ".")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def timed(label: str, step: Callable[[], T]) -> T:
    wall, cpu = time.perf_counter(), time.process_time()
    result = step()
    print(f"  {label:<46} {time.perf_counter() - wall:7.2f} s  (CPU {time.process_time() - cpu:6.2f} s)")
    return result


@contextmanager
def postgres_engine(url: str) -> Iterator[Engine]:
    """A throw-away schema in the given database."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url + f"?options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def move_file(source: Path, target: Path) -> tuple[str, str]:
    """A one-row file moving the first directly-superior union of province T01 to province T02."""
    with source.open(encoding="utf-8-sig", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["cap"] == "cap_tren_truc_tiep")
    row["ma_cap_tren"] = "T02"
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerow(row)
    return row["ma_don_vi"], "T02"


def _import_in_child(url: str, units_csv: str, whole_file: bool, conn) -> None:  # noqa: ANN001
    """One import in a fresh (spawned) process: its peak memory is the import's own (plus the modules)."""
    from thidua.db import make_engine as make
    from thidua.services import units as service

    engine = make(url)
    if whole_file:  # the path before issue 17: the whole file read, checked and planned in memory
        service._import_new_csv = lambda *a, **k: None  # type: ignore[assignment]
    before = _vm_hwm_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    report = service.import_units(engine, Path(units_csv))
    conn.send((time.perf_counter() - wall, time.process_time() - cpu, _vm_hwm_mb(), before, len(report.created)))
    engine.dispose()


def compare_imports(units_csv: Path, work: Path, repeats: int, pg: str | None) -> None:
    """The national import, streamed and whole-file, alternating, each in its own process, `repeats` times;
    the floor is a bare Core executemany of the same unit rows into an empty table (the median of as many)."""
    import multiprocessing
    import statistics

    context = multiprocessing.get_context("spawn")
    runs: dict[str, list[tuple[float, float, float, float, int]]] = {"streamed": [], "whole": []}
    floors: list[float] = []
    print(f"\nSo sánh nhập toàn quốc ({repeats} lần, mỗi lần nhập trong một tiến trình riêng); tải {_load()}")
    for attempt in range(repeats):
        for mode in ("streamed", "whole"):
            with postgres_engine(pg) if pg else _sqlite(work / f"cmp-{mode}-{attempt}.db") as engine:
                create_schema(engine)
                load_levels(engine)
                url = engine.url.render_as_string(hide_password=False)
                parent, child = context.Pipe()
                process = context.Process(target=_import_in_child, args=(url, str(units_csv), mode == "whole", child))
                process.start()
                result = parent.recv()
                process.join()
                runs[mode].append(result)
                print(
                    f"  lần {attempt + 1} {'đọc luồng ' if mode == 'streamed' else 'đọc cả tệp'}: {n(result[4])} đơn vị "
                    f"{result[0]:6.2f} s (CPU {result[1]:6.2f} s), bộ nhớ đỉnh {result[2]:4.0f} MB "
                    f"(trước khi nhập {result[3]:.0f} MB); tải {_load()}",
                    flush=True,
                )
                if mode == "whole":
                    with engine.connect() as conn:
                        rows = [dict(r._mapping) for r in conn.execute(select(Unit.__table__).order_by(Unit.depth))]
        with postgres_engine(pg) if pg else _sqlite(work / f"floor-{attempt}.db") as empty:
            create_schema(empty)
            load_levels(empty)
            wall = time.perf_counter()
            with empty.begin() as conn:
                conn.execute(insert(Unit.__table__), rows)
            floors.append(time.perf_counter() - wall)
            print(
                f"  lần {attempt + 1} sàn (Core executemany {n(len(rows))} dòng unit, không kiểm tra, không nhật ký): "
                f"{floors[-1]:6.2f} s",
                flush=True,
            )
        del rows
    for mode, label in (("streamed", "đọc luồng (mới)"), ("whole", "đọc cả tệp (cũ)")):
        wall = statistics.median(r[0] for r in runs[mode])
        peak = statistics.median(r[2] for r in runs[mode])
        print(
            f"  Trung vị {label}: {wall:.2f} s ({wall / statistics.median(floors):.1f}× sàn), bộ nhớ đỉnh {peak:.0f} MB"
        )
    print(f"  Trung vị sàn: {statistics.median(floors):.2f} s; tải {_load()}")


def _vm_hwm_mb() -> float:
    """This process's own peak resident memory (VmHWM: getrusage's figure can carry the parent's over a spawn)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return peak_rss_mb()


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@contextmanager
def _sqlite(path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{path}")
    try:
        yield engine
    finally:
        engine.dispose()


def run(label: str, make: Callable[[], ContextManager[Engine]], units_csv: Path, work: Path) -> None:
    print(f"\n{label}")
    with make() as engine, make() as empty:
        create_schema(engine)
        load_levels(engine)
        rss_before = peak_rss_mb()
        report = timed("import (đọc CSV, kiểm tra, ghi, nhật ký)", lambda: import_units(engine, units_csv))
        print(
            f"  → thêm mới {n(len(report.created))} đơn vị; bộ nhớ đỉnh {peak_rss_mb():.0f} MB "
            f"(trước khi nhập {rss_before:.0f} MB)"
        )
        again = timed("nhập lại cùng tệp (không đổi)", lambda: import_units(engine, units_csv))
        assert again.changed == 0, again.counts
        code, target = move_file(units_csv, work / "move.csv")
        moved = timed(f"di chuyển {code} sang {target} (cả cây con)", lambda: import_units(engine, work / "move.csv"))
        assert moved.moved == [code]
        with Session(engine) as session:
            subtree = len(subtree_ids(session, get_unit(session, code).id))
            audits = session.scalar(select(func.count()).select_from(AuditLog))
            rows = [dict(r._mapping) for r in session.execute(select(Unit.__table__).order_by(Unit.depth))]
        print(f"  → cây con {n(subtree)} đơn vị được ghi lại đường dẫn; nhật ký có {n(audits)} dòng")

        create_schema(empty)
        load_levels(empty)

        def raw_insert() -> None:
            with empty.begin() as conn:
                conn.execute(insert(Unit.__table__), rows)

        timed(f"so sánh: Core executemany {n(len(rows))} dòng unit", raw_insert)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cdcs", type=int, default=130_000)
    parser.add_argument("--provinces", type=int, default=63)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument(
        "--pg",
        nargs="?",
        const=DEFAULT_PG,
        default=None,
        metavar="URL",
        help="also run on PostgreSQL (default URL: THIDUA_TEST_POSTGRES or the test database)",
    )
    parser.add_argument(
        "--compare",
        type=int,
        default=0,
        metavar="N",
        help="only: the import streamed vs whole-file, each in its own process, N times (median)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_units_") as tmp:
        work = Path(tmp)
        units_csv = work / "national.csv"
        print(f"Cây đơn vị toàn quốc giả lập: {args.provinces} tỉnh, {n(args.cdcs)} CĐCS (seed {args.seed})")
        count = timed(
            "sinh và ghi CSV", lambda: write_units_csv(national_tree(args.seed, args.provinces, args.cdcs), units_csv)
        )
        print(f"  → {n(count)} đơn vị, {units_csv.stat().st_size / 1e6:.1f} MB")

        if args.compare:
            compare_imports(units_csv, work, args.compare, args.pg)
            return
        counter = iter(range(1000))

        @contextmanager
        def sqlite() -> Iterator[Engine]:
            engine = make_engine(f"sqlite:///{work / f'bench{next(counter)}.db'}")
            yield engine
            engine.dispose()

        run("SQLite", sqlite, units_csv, work)
        if args.pg:
            run(f"PostgreSQL ({args.pg})", lambda: postgres_engine(args.pg), units_csv, work)


if __name__ == "__main__":
    main()
