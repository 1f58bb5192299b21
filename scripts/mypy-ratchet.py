"""The mypy ratchet of `make lint`.

mypy cannot follow the package-dir mapping of the source tree (models/ is imported as thidua.models), so this
builds a tree of symbolic links that has the wheel's layout (build/mypy/src/thidua/...) and checks `-p thidua`
once with the settings of pyproject.toml. Two rules:
- strict packages (STRICT below; strict flags in pyproject's [[tool.mypy.overrides]]): no error at all;
- everything else: per file at most the count recorded in scripts/mypy-baseline.txt ("count path" lines). Fixing
  errors lowers a count; `--update` (make lint-baseline) writes the new counts so they can only go down.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "mypy"
BASELINE = ROOT / "scripts" / "mypy-baseline.txt"
STRICT = ("thidua/models/", "thidua/notifications/", "thidua/errors.py")
MAPPED = ("models", "flows", "notifications", "web", "config")
ERROR = re.compile(r"^(?P<path>[^:]+):\d+: error: ")


def link_tree() -> Path:
    src = BUILD / "src"
    package = src / "thidua"
    package.mkdir(parents=True, exist_ok=True)
    wanted = {entry.name: entry for entry in (ROOT / "thidua").iterdir() if entry.name != "__pycache__"}
    wanted |= {name: ROOT / name for name in MAPPED}
    for existing in package.iterdir():
        if existing.name not in wanted or not existing.is_symlink() or existing.resolve() != wanted[existing.name]:
            existing.unlink()
    for name, target in wanted.items():
        if not (package / name).exists():
            (package / name).symlink_to(target)
    return src


def main() -> int:
    src = link_tree()
    env = os.environ | {"MYPYPATH": str(src)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(BUILD / "cache"),
            "-p",
            "thidua",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    strict: list[str] = []
    rest: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        match = ERROR.match(line)
        if match:
            shown = match["path"].replace(os.sep, "/").split("/src/", 1)[-1]
            if shown.startswith(STRICT):
                strict.append(line)
            else:
                rest.setdefault(shown, []).append(line)
    if done.returncode not in (0, 1) or (done.returncode == 1 and not strict and not rest):
        print(done.stdout, done.stderr, sep="\n")
        return 2
    baseline = {
        path: int(count) for count, path in (line.split() for line in BASELINE.read_text().splitlines() if line)
    }
    for line in strict:
        print(line)
    total, allowed = sum(map(len, rest.values())), sum(baseline.values())
    print(f"mypy: strict packages {len(strict)} errors (must be 0); the rest {total} (baseline {allowed})")
    grown = {path: lines for path, lines in rest.items() if len(lines) > baseline.get(path, 0)}
    for path, lines in sorted(grown.items()):
        print(f"{path}: {len(lines)} errors, baseline {baseline.get(path, 0)}:")
        print("\n".join(lines))
    if strict or grown:
        return 1
    if "--update" in sys.argv:  # only ever lowers the counts: a grown file failed above
        BASELINE.write_text("".join(f"{len(lines)} {path}\n" for path, lines in sorted(rest.items())))
        print("mypy: baseline updated")
        return 0
    if total < allowed:
        print(f"mypy: {allowed - total} fewer than the baseline: run `make lint-baseline` to lock that in")
    return 0


if __name__ == "__main__":
    sys.exit(main())
