"""The default configuration is package data under the `thidua` name; `thidua init` copies it for editing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from thidua.cli.main import app
from thidua.settings import CONFIG_DIR

RUNNER = CliRunner()


def test_default_configuration_is_read_through_the_thidua_package() -> None:
    from importlib.resources import files

    assert Path(str(files("thidua.config"))) == CONFIG_DIR
    assert (CONFIG_DIR / "levels.yaml").is_file()
    assert (CONFIG_DIR / "campaigns" / "binh_dinh_2023.yaml").is_file()


def test_init_copies_every_config_file_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "cau-hinh"
    first = RUNNER.invoke(app, ["init", str(target)])
    assert first.exit_code == 0, first.output
    copied = sorted(p.relative_to(target) for p in target.rglob("*") if p.is_file())
    shipped = sorted(
        p.relative_to(CONFIG_DIR)
        for p in CONFIG_DIR.rglob("*")
        if p.is_file() and p.suffix in {".yaml", ".json", ".csv", ".xlsx", ".docx", ".ttf"}
    )
    assert copied == shipped and Path("levels.yaml") in copied
    assert not any(p.suffix == ".py" for p in copied)

    (target / "levels.yaml").write_text("# sửa bởi văn phòng\n", encoding="utf-8")
    second = RUNNER.invoke(app, ["init", str(target)])
    assert second.exit_code == 1
    assert "--ghi-de" in second.output
    assert (target / "levels.yaml").read_text(encoding="utf-8") == "# sửa bởi văn phòng\n"

    third = RUNNER.invoke(app, ["init", str(target), "--ghi-de"])
    assert third.exit_code == 0
    assert (target / "levels.yaml").read_bytes() == (CONFIG_DIR / "levels.yaml").read_bytes()


def test_config_dir_setting_is_where_relative_config_paths_resolve(tmp_path: Path, monkeypatch) -> None:
    from thidua.services.calendars import resolve_config_path
    from thidua.settings import get_settings

    monkeypatch.setenv("THIDUA_CONFIG_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert resolve_config_path("calendars/vn_holidays.yaml") == tmp_path / "calendars" / "vn_holidays.yaml"
    finally:
        get_settings.cache_clear()


def test_python_dash_m_thidua_runs_the_command_line() -> None:
    done = subprocess.run([sys.executable, "-m", "thidua", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "init" in done.stdout and "demo" in done.stdout


def test_every_source_package_is_listed_for_the_wheel() -> None:
    """pyproject lists packages by name: a new sub-package left out installs nothing and fails only in the wheel."""
    import tomllib

    root = Path(__file__).resolve().parents[2]
    setup = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(setup["packages"])
    found = set()
    for package, folder in setup["package-dir"].items():
        for init in (root / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(root / folder)
            if "__pycache__" in relative.parts:
                continue
            found.add(".".join([package, *relative.parts]))
    assert found - listed == set()
