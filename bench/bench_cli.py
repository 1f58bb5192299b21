"""Cold start of the command line: `thidua --help`, `thidua validate FILE`, `thidua status CODE`.

    python bench/bench_cli.py              # 9 runs of each, interleaved
    python bench/bench_cli.py --runs 21
    python bench/bench_cli.py --runs 3 --baseline /path/to/other/checkout   # "before" in the same rounds

Each command runs as a fresh `python -m thidua …` process (as a user types it) against a SQLite database
with the Bình Định units and the 2023 campaign loaded (set up once, not timed). Printed per command: median
and best wall time and median CPU time (user + system of the child), beside two floors measured the same way
in the same rounds:

* the interpreter: `python -c pass` — the floor of any Python command;
* the libraries the command cannot avoid: typer with its help renderer (rich) for --help; typer's argument
  parsing (pydantic) and the YAML reader for validate; typer and SQLAlchemy Core for status.

With --baseline, the same three commands also run from another checkout of thidua (its directory as the
working directory, so `python -m thidua` imports that checkout's code) against the same database, interleaved in
the same rounds: before and after under the same load.

The machine's load average is printed: on the shared 2-core box wall times move with it, CPU times much less.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CAMPAIGN_FILE = REPO / "config" / "campaigns" / "binh_dinh_2023.yaml"
UNITS_FILE = REPO / "config" / "units" / "binh_dinh.yaml"
TARGETS = {"--help": 0.25, "validate": 0.4, "status": 0.6}


def run(argv: list[str], env: dict[str, str], cwd: Path = REPO) -> tuple[float, float]:
    """Wall and CPU seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr.decode()}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--baseline", type=Path, help="another checkout whose commands run in the same rounds")
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench_cli_") as data_dir:
        env = {**os.environ, "THIDUA_DATA_DIR": data_dir}
        env.pop("THIDUA_DATABASE_URL", None)
        for setup in (
            ["units", "levels"],
            ["units", "import", str(UNITS_FILE)],
            ["campaign", "load", str(CAMPAIGN_FILE)],
        ):
            run([py, "-m", "thidua", *setup], env)
        commands = {
            "--help": [py, "-m", "thidua", "--help"],
            "validate": [py, "-m", "thidua", "validate", str(CAMPAIGN_FILE)],
            "status": [py, "-m", "thidua", "status", "bd-2023"],
            "floor: python -c pass": [py, "-c", "pass"],
            "floor: typer + help renderer": [py, "-c", "import typer.main, typer.rich_utils"],
            "floor: typer + pydantic + YAML": [py, "-c", "import typer.main, typer._adapters, ruamel.yaml"],
            "floor: typer + SQLAlchemy Core": [py, "-c", "import typer.main, typer._adapters, sqlalchemy"],
        }
        places = {name: REPO for name in commands}
        if args.baseline is not None:
            for name in TARGETS:
                commands[f"baseline: {name}"] = commands[name]
                places[f"baseline: {name}"] = args.baseline.resolve()
        for name, argv in commands.items():  # warm the file cache and the bytecode caches
            run(argv, env, places[name])
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        loads = []
        for _ in range(args.runs):
            loads.append(os.getloadavg()[0])
            for name, argv in commands.items():
                figures[name].append(run(argv, env, places[name]))
        loads.append(os.getloadavg()[0])
    print(
        f"{args.runs} runs each, interleaved; load average (1 min) during the runs: "
        f"{min(loads):.1f}–{max(loads):.1f}, {os.cpu_count()} cores"
    )
    if args.baseline is not None:
        print(f"baseline: {args.baseline.resolve()}")
    print(f"{'command':34} {'wall median':>12} {'wall best':>10} {'CPU median':>11}  target (wall / CPU)")
    for name, samples in figures.items():
        walls, cpus = [w for w, _ in samples], [c for _, c in samples]
        target = TARGETS.get(name)
        verdict = (
            ""
            if target is None
            else f"≤ {target:.2f} s: wall "
            + ("met" if statistics.median(walls) <= target else "NOT met")
            + ", CPU "
            + ("met" if statistics.median(cpus) <= target else "NOT met")
        )
        print(
            f"{name:34} {statistics.median(walls):10.3f} s {min(walls):8.3f} s {statistics.median(cpus):9.3f} s  {verdict}"
        )


if __name__ == "__main__":
    main()
