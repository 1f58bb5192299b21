"""Shared CLI plumbing: Vietnamese errors with exit code 1, never a traceback for bad input."""
from __future__ import annotations

import functools
import sys
from datetime import date, datetime
from typing import Callable, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from thidua.models.clock import parse_date
from thidua.models.spec.problems import SpecError

# Wide enough for the tables when output goes to a file or a pipe (rich assumes 80 columns there).
_WIDTH = None if sys.stdout.isatty() else 140
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)

F = TypeVar("F", bound=Callable)


class UserError(Exception):
    """Bad input or a refused action: shown to the user as one clear message, exit code 1."""


def friendly(func: F) -> F:
    """Turn user errors into a message and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except SpecError as exc:
            err_console.print(f"[bold red]Có {len(exc.problems)} lỗi:[/]")
            for problem in exc.problems:
                err_console.print(f"  • {problem}", markup=False, highlight=False)
            raise typer.Exit(1)
        except UserError as exc:
            err_console.print(f"[bold red]Lỗi:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1)
        except FileNotFoundError as exc:
            err_console.print(f"[bold red]Lỗi:[/] không tìm thấy tệp: {escape(str(exc.filename))}", highlight=False)
            raise typer.Exit(1)

    return wrapper  # type: ignore[return-value]


def parse_cli_date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return parse_date(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def parse_cli_now(text: str | None) -> datetime | None:
    """--now as 'dd/mm/yyyy' or 'dd/mm/yyyy HH:MM' in the campaign's local time; returned naive local."""
    if text is None:
        return None
    for fmt in ("%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    raise UserError(f"thời điểm không hợp lệ: '{text}' (dùng dd/mm/yyyy hoặc 'dd/mm/yyyy HH:MM')")


def stdout_utf8() -> None:
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")
