"""Hostile small files (issue 10 point 8): each is refused quickly, in little memory, with a Vietnamese message.

    python bench/bench_hostile.py [--repeats 3]

Each case runs the real CLI (`thidua.cli.main.app`, as `python -m thidua` does) in a child process against a
seeded SQLite database (the small Bình Định tree and the 2023 campaign). The child times the command itself
(after Python's start-up and thidua's imports); the parent times the whole process and reads its peak resident
memory (`os.wait4` gives the rusage of that one child, imports included). The floor beside them is the same CLI
refusing an ordinary bad file (a campaign with one impossible date). Targets: refused in < 2 s and < 200 MB, exit code 1, a Vietnamese message naming the file, nothing changed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from openpyxl import Workbook  # noqa: E402
from sqlmodel import Session  # noqa: E402

from tests.factories import small_binh_dinh  # noqa: E402
from thidua.db import create_schema, make_engine  # noqa: E402
from thidua.services.campaigns import load_campaign  # noqa: E402

CAMPAIGN = ROOT / "config" / "campaigns" / "binh_dinh_2023.yaml"
MINIMAL = (ROOT / "tests" / "campaigns" / "minimal.yaml").read_text(encoding="utf-8")
SUBMIT = ["submit", "bd-2023", "--unit", "BDH.D1.1", "--obligation", "so-ket-dot-1", "--now", "05/06/2023 09:00"]


def alias_bomb_lines(first: str, levels: int) -> str:
    """Levels of nine aliases each: nine levels already expand to 9^9 ≈ 387 million nodes."""
    lines = [f"a0: &a0 [{','.join([first] * 9)}]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def campaign_bomb(path: Path) -> None:
    path.write_text(MINIMAL + alias_bomb_lines('"lol"', 25), encoding="utf-8")  # 2.4 KB as in the issue


def unit_bomb(path: Path) -> None:
    path.write_text(
        "units:\n  - &u {code: A, name: A, level: cdcs, parent: BDH}\n" + alias_bomb_lines("*u", 25), encoding="utf-8"
    )


def far_cell(first_row: list[object]) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        wb = Workbook()
        ws = wb.active
        ws.append(first_row)
        ws["XFD1048576"] = "x"
        wb.save(path)

    return make


def zip_bomb(path: Path) -> None:
    """A workbook whose sheet expands to 350 MB of one repeated byte (about 350 KB on disk, as in the issue)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>',
        )
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as out:
            chunk = b"0" * (1 << 20)
            for _ in range(350):
                out.write(chunk)


def floor_file(path: Path) -> None:
    path.write_text(MINIMAL.replace("due: 15/03/2023", "due: 30/02/2023"), encoding="utf-8")


# (label, file name, maker, CLI arguments before/with the file)
CASES: list[tuple[str, str, Callable[[Path], None], Callable[[Path], list[str]]]] = [
    ("sàn: tệp chiến dịch sai một ngày (validate)", "san.yaml", floor_file, lambda p: ["validate", str(p)]),
    ("bom alias YAML, tệp chiến dịch (validate)", "bom.yaml", campaign_bomb, lambda p: ["validate", str(p)]),
    (
        "bom alias YAML, tệp chiến dịch (campaign load)",
        "bom.yaml",
        campaign_bomb,
        lambda p: ["campaign", "load", str(p)],
    ),
    ("bom alias YAML, tệp đơn vị (units import)", "dv.yaml", unit_bomb, lambda p: ["units", "import", str(p)]),
    (
        "XLSX ô XFD1048576, tệp đơn vị (units import)",
        "dv.xlsx",
        far_cell(["Mã đơn vị", "Tên đơn vị", "Cấp", "Mã đơn vị cấp trên"]),
        lambda p: ["units", "import", str(p)],
    ),
    (
        "XLSX ô XFD1048576, báo cáo (submit --file)",
        "bc.xlsx",
        far_cell(["so_sang_kien", 1]),
        lambda p: [*SUBMIT, "--file", str(p)],
    ),
    ("XLSX zip bomb, tệp đơn vị (units import)", "dv.xlsx", zip_bomb, lambda p: ["units", "import", str(p)]),
    ("XLSX zip bomb, báo cáo (submit --file)", "bc.xlsx", zip_bomb, lambda p: [*SUBMIT, "--file", str(p)]),
]


def seeded_data_dir(folder: Path) -> Path:
    data_dir = folder / "du-lieu"
    data_dir.mkdir()
    engine = make_engine(f"sqlite:///{data_dir / 'thidua.db'}")
    create_schema(engine)
    with Session(engine) as session:
        small_binh_dinh(session)
        session.commit()
    load_campaign(engine, CAMPAIGN)
    engine.dispose()
    return data_dir


ELAPSED = "__thoi_gian_xu_ly__"


def child_main(args: list[str]) -> None:
    """In the child: import the CLI, then time the command alone (the refusal, without Python's start-up)."""
    from thidua.cli.main import app

    started = time.perf_counter()
    try:
        app(args, prog_name="thidua")
    finally:
        print(f"{ELAPSED} {time.perf_counter() - started:.3f}", file=sys.stderr)


def run_cli(args: list[str], env: dict[str, str]) -> tuple[float, float, float, int, str]:
    """Seconds of the command itself, seconds of the whole process, its peak RSS in MB, exit code, output."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert child.stdout is not None
    output = child.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(child.pid, 0)
    total = time.perf_counter() - started
    command = float(output.rsplit(ELAPSED, 1)[1].split()[0])
    output = output.rsplit(ELAPSED, 1)[0]
    return command, total, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), output


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    print(f"tải 1 phút lúc bắt đầu: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data_dir = seeded_data_dir(folder)
        env = {
            **os.environ,
            "THIDUA_DATA_DIR": str(data_dir),
            "THIDUA_SECRET_KEY": "khoa-bi-mat-do-hieu-nang",
            "PYTHONPATH": str(ROOT),
        }
        env.pop("THIDUA_DATABASE_URL", None)
        database = data_dir / "thidua.db"
        failures = 0
        print(
            f"{'trường hợp':52} {'cỡ tệp':>9} {'giây xử lý (3 lần; trung vị)':>30} {'cả tiến trình':>13} "
            f"{'MB đỉnh':>8} mã  thông báo"
        )
        for label, name, make, args in CASES:
            path = folder / "tep" / label.split(" (")[0].replace(" ", "-").replace(",", "") / name
            path.parent.mkdir(parents=True, exist_ok=True)
            make(path)
            before = database.read_bytes()
            runs = [run_cli(args(path), env) for _ in range(options.repeats)]
            unchanged = database.read_bytes() == before
            seconds = [r[0] for r in runs]
            total = statistics.median(r[1] for r in runs)
            peak = max(r[2] for r in runs)
            code = runs[0][3]
            message = " ".join(runs[0][4].split())[:150]
            ok = (
                all(r[3] == 1 for r in runs)
                and "Traceback" not in runs[0][4]
                and str(path) in runs[0][4]
                and unchanged
                and statistics.median(seconds) < 2
                and peak < 200
            )
            failures += 0 if ok else 1
            print(
                f"{label:52} {path.stat().st_size / 1024:7.1f} KB "
                f"{', '.join(f'{s:.2f}' for s in seconds):>20}; {statistics.median(seconds):5.2f} {total:11.2f} s "
                f"{peak:8.0f} {code:>2}  {'' if ok else 'KHÔNG ĐẠT '}{'' if unchanged else 'CSDL ĐÃ ĐỔI '}"
                f"{message.replace(str(path.parent) + '/', '')}"
            )
        print(f"tải 1 phút lúc kết thúc: {os.getloadavg()[0]:.1f}")
        sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
