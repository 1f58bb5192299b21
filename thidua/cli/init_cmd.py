"""CLI: `thidua init DIR` writes editable copies of the default configuration for an office to change."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer
from rich.markup import escape

from thidua.cli.common import UserError, console, friendly
from thidua.paths import CONFIG_DIR

_CONFIG_SUFFIXES = {".yaml", ".json", ".csv", ".xlsx", ".docx", ".ttf"}


def config_files(root: Path = CONFIG_DIR) -> list[Path]:
    """The shipped configuration files, relative to their folder (no Python files)."""
    return sorted(
        path.relative_to(root) for path in root.rglob("*") if path.is_file() and path.suffix in _CONFIG_SUFFIXES
    )


def write_config_copy(target: Path, *, overwrite: bool) -> list[Path]:
    """Copy every configuration file under target; refuse (changing nothing) when one exists, unless overwrite."""
    files = config_files()
    existing = [relative for relative in files if (target / relative).exists()]
    if existing and not overwrite:
        shown = ", ".join(str(relative) for relative in existing[:5])
        raise UserError(f"thư mục {target} đã có {len(existing)} tệp cấu hình ({shown}…); dùng --ghi-de để ghi đè")
    for relative in files:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CONFIG_DIR / relative, target / relative)
    return files


def register(app: typer.Typer) -> None:
    @app.command("init")
    @friendly
    def init_cmd(
        directory: Path = typer.Argument(..., help="Thư mục sẽ chứa bản cấu hình để sửa."),
        overwrite: bool = typer.Option(False, "--ghi-de", help="Ghi đè các tệp đã có."),
    ) -> None:
        """Chép cấu hình mặc định (cấp, đơn vị, lịch nghỉ, danh mục khen thưởng, chiến dịch mẫu) ra một thư mục."""
        if directory.exists() and not directory.is_dir():
            raise UserError(f"{directory} không phải là thư mục")
        files = write_config_copy(directory, overwrite=overwrite)
        console.print(f"Đã chép {len(files)} tệp cấu hình vào {escape(str(directory.resolve()))}.")
        console.print(f"Để dùng bản này: [bold]export THIDUA_CONFIG_DIR={escape(str(directory.resolve()))}[/]")
