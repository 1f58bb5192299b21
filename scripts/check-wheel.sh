#!/usr/bin/env bash
# Build the wheel, install it with the locked dependencies into a fresh virtual environment outside the
# checkout, and run the installed `thidua` there: init, validate, and a short demo (15/02–15/03/2023).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON_BIN="${PYTHON:-python3}"
work="$(mktemp -d /tmp/thidua-wheel.XXXXXX)"
trap 'rm -rf "$work"' EXIT

.venv/bin/python -m build --wheel --outdir "$work/dist" . > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
wheel="$(ls "$work"/dist/thidua-*.whl)"
# Only the `thidua` name at top level, and the default configuration inside it.
.venv/bin/python - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
assert tops == {"thidua"}, f"top-level names in the wheel: {sorted(tops)}"
for needed in ("thidua/config/levels.yaml", "thidua/config/campaigns/binh_dinh_2023.yaml",
               "thidua/notifications/templates/reminder_upcoming.html.j2", "thidua/web/templates/base.html",
               "thidua/migrations/versions/0001_initial_schema.py"):
    assert needed in names, f"missing from the wheel: {needed}"
print(f"wheel: {len(names)} files, top level {sorted(tops)}")
PY

"$PYTHON_BIN" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check -r requirements.lock 2>&1 | grep -v '^WARNING: Location' || true
"$work/venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "$wheel"

cd "$work"  # nowhere near the checkout
export THIDUA_DATA_DIR="$work/data"
"$work/venv/bin/thidua" init "$work/cau-hinh"
"$work/venv/bin/thidua" validate "$work/cau-hinh/campaigns/binh_dinh_2023.yaml"
THIDUA_CONFIG_DIR="$work/cau-hinh" "$work/venv/bin/thidua" units levels
"$work/venv/bin/thidua" demo --end 15/03/2023 > "$work/demo.log" 2>&1 || { cat "$work/demo.log"; exit 1; }
tail -n 5 "$work/demo.log"
echo "wheel check: passed"
