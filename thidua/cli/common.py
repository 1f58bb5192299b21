"""Shared CLI plumbing: the one error handler (exit codes 0 ok, 1 refused or bad input, 2 usage), never a
traceback for bad input."""

from __future__ import annotations

import functools
import os
import sys
from datetime import date, datetime
from typing import Callable, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from thidua.errors import EXIT_ERROR, InvalidInputError, ThiduaError
from thidua.models.clock import parse_date
from thidua.models.spec.problems import SpecError

# A terminal (or COLUMNS, which rich reads) sets the width; a file or a pipe gets room for the wide tables.
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit() else 140
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)

F = TypeVar("F", bound=Callable)


class UserError(InvalidInputError):
    """Bad input noticed by the CLI itself (an option, a date): one clear message, exit code 1."""


def friendly(func: F) -> F:
    """The one CLI error handler. Exit codes: 0 ok; 1 any error of thidua.errors (refused or bad input: one
    Vietnamese message, or the list of problems of a file, never a traceback); 2 usage (typer/click)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except SpecError as exc:
            err_console.print(f"[bold red]Có {len(exc.problems)} lỗi:[/]")
            for problem in exc.problems:
                # soft_wrap: a long path stays whole on its line (copied, grepped from a log); the terminal folds it
                err_console.print(f"  • {problem}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except ThiduaError as exc:
            # The message is printed with markup escaped: field codes in [brackets] must survive.
            err_console.print(f"[bold red]Lỗi:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            for field, message in (exc.detail.get("errors") or {}).items():  # InvalidFields: one line per field
                err_console.print(f"  • {field}: {message}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except FileNotFoundError as exc:
            err_console.print(
                f"[bold red]Lỗi:[/] không tìm thấy tệp: {escape(str(exc.filename))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(EXIT_ERROR) from None
        except Exception as exc:
            # A locked database (after the busy timeout) or a full disk is the machine's state, not a bug.
            # SQLAlchemy and thidua.db are looked at only here: `thidua --help` and `validate` never load them.
            if not (isinstance(exc, OSError) or _is_dbapi_error(exc)):
                raise
            from thidua.db import storage_failure

            failure = storage_failure(exc, _busy_timeout_s())
            if failure is None:
                raise
            err_console.print(f"[bold red]Lỗi:[/] {escape(str(failure))}", highlight=False, soft_wrap=True)
            raise typer.Exit(failure.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _is_dbapi_error(exc: BaseException) -> bool:
    loaded = sys.modules.get("sqlalchemy.exc")  # not loaded: no database error can have been raised
    return loaded is not None and isinstance(exc, loaded.DBAPIError)


def _busy_timeout_s() -> float:
    from thidua.db import DEFAULT_BUSY_TIMEOUT_S
    from thidua.settings import get_settings

    try:
        return get_settings().sqlite_busy_timeout_s
    except Exception:  # noqa: BLE001 - settings unreadable: the message keeps the default
        return DEFAULT_BUSY_TIMEOUT_S


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


def ready_engine(settings=None):  # noqa: ANN001, ANN201  (typed in thidua.bootstrap; kept lazy here)
    """The migrated engine of the environment's settings (thidua.bootstrap.ready_engine), imported when a command
    first touches data, so `thidua --help` and `validate` start without SQLAlchemy."""
    from thidua.bootstrap import ready_engine as _ready_engine

    return _ready_engine(settings)
