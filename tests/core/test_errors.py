"""The one error taxonomy (thidua.errors): every error class raised on purpose belongs to it, each category has
its CLI exit code, and flows retry exactly what the taxonomy calls retryable."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
import typer
from prefect.states import Failed
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

import thidua
from thidua.cli.common import friendly
from thidua.cli.main import app as thidua_app
from thidua.errors import (
    EXIT_ERROR,
    EXIT_USAGE,
    HTTP_STATUS,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    NotPermittedError,
    RefusedError,
    ThiduaError,
    UnavailableError,
    is_retryable,
    retry_only_retryable,
)

BRANCHES = [NotFoundError, InvalidInputError, NotPermittedError, ConflictError, RefusedError, UnavailableError]
# Private control-flow exceptions that never leave their module (a rollback signal, a parse failure turned into
# a FieldError, an SMTP session attempt that the transport turns into a TransportError).
PRIVATE = {"_DryRun", "_Invalid", "_Refer", "_SessionRefused"}


def _thidua_modules() -> list[str]:
    """Every module of the package, from the source folders (the repository keeps models/, flows/, … at the top
    level and maps them under thidua)."""
    root = Path(thidua.__file__).resolve().parent.parent
    folders = {
        "thidua": "thidua",
        "models": "thidua.models",
        "flows": "thidua.flows",
        "notifications": "thidua.notifications",
        "web": "thidua.web",
    }
    names = []
    for folder, package in folders.items():
        for path in sorted((root / folder).rglob("*.py")):
            relative = path.relative_to(root / folder).with_suffix("")
            if "migrations" in relative.parts or relative.name == "__main__":
                continue
            parts = [p for p in relative.parts if p != "__init__"]
            names.append(".".join([package, *parts]))
    return names


def test_every_exception_class_of_thidua_derives_from_the_taxonomy() -> None:
    outside = []
    for name in _thidua_modules():
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name or not issubclass(cls, BaseException) or cls_name in PRIVATE:
                continue
            if not issubclass(cls, ThiduaError):
                outside.append(f"{name}.{cls_name}")
    assert outside == []


def test_known_service_errors_sit_on_the_right_branch() -> None:
    from thidua.models import nominations as n, submissions as s
    from thidua.models.spec.problems import SpecError
    from thidua.notifications.transport import OutcomeUnknownError, PermanentError, RetryableError
    from thidua.services import reminders, status
    from thidua.web import errors as web

    expected = {
        s.UnknownReference: "not_found",
        s.NotPermitted: "not_permitted",
        s.StaleVersion: "conflict",
        s.InvalidTransition: "conflict",
        s.CampaignClosed: "refused",
        s.NotOpenYet: "refused",
        s.FormInvalid: "invalid_input",
        s.ImportRejected: "invalid_input",
        s.UnreadableFile: "invalid_input",
        n.NominationNotFound: "not_found",
        n.InvalidNominationInput: "invalid_input",
        n.NotPermitted: "not_permitted",
        n.NominationConflict: "conflict",
        n.InvalidTransition: "conflict",
        n.RulesRefused: "refused",
        n.NominationError: "refused",
        SpecError: "invalid_input",
        status.NotFound: "not_found",
        reminders.CampaignNotFound: "not_found",
        reminders.SmtpRefused: "unavailable",
        web.NotFound: "not_found",
        web.Forbidden: "not_permitted",
        web.Conflict: "conflict",
        web.InvalidInput: "invalid_input",
        web.Refused: "refused",
        RetryableError: "unavailable",
    }
    assert {cls: cls.category for cls in expected} == expected
    # Retryable: only what may succeed when asked again unchanged.
    assert s.StaleVersion.retryable and n.NominationConflict.retryable and RetryableError.retryable
    assert not any(
        c.retryable
        for c in (
            s.InvalidTransition,
            n.InvalidTransition,
            n.RulesRefused,
            s.FormInvalid,
            reminders.SmtpRefused,
            PermanentError,
            OutcomeUnknownError,
        )
    )
    # Old catch sites keep working: the names and their former bases are still there.
    assert issubclass(status.NotFound, LookupError) and issubclass(s.StaleVersion, s.SubmissionError)


@pytest.mark.parametrize("branch", BRANCHES, ids=lambda c: c.__name__)
def test_each_category_exits_with_code_1_and_one_vietnamese_line(branch: type[ThiduaError]) -> None:
    app = typer.Typer()

    @app.command()
    @friendly
    def act() -> None:
        raise branch("không làm được: đơn vị [BDH.D1] chưa gửi báo cáo")

    result = CliRunner().invoke(app, [])
    assert result.exit_code == EXIT_ERROR == 1
    assert "Lỗi: không làm được: đơn vị [BDH.D1] chưa gửi báo cáo" in result.output  # markup escaped, not eaten
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)


def test_exit_codes_of_real_commands(settings, monkeypatch) -> None:
    from thidua.settings import get_settings

    monkeypatch.setenv("THIDUA_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("THIDUA_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        ok = runner.invoke(thidua_app, ["units", "levels"])
        assert ok.exit_code == 0, ok.output
        missing = runner.invoke(thidua_app, ["campaign", "show", "khong-co"])  # a service NotFound
        assert missing.exit_code == 1 and "khong-co" in missing.output and "Traceback" not in missing.output
        usage = runner.invoke(thidua_app, ["campaign", "show", "--khong-co-tuy-chon"])
        assert usage.exit_code == EXIT_USAGE == 2
    finally:
        get_settings.cache_clear()


def test_http_status_per_category_is_the_documented_one() -> None:
    assert HTTP_STATUS == {
        "not_found": 404,
        "invalid_input": 422,
        "not_permitted": 403,
        "conflict": 409,
        "refused": 422,
        "unavailable": 503,
    }
    assert {b("x").http_status for b in BRANCHES} == set(HTTP_STATUS.values())


def _failed(exc: BaseException) -> Failed:
    return Failed(data=exc, message=repr(exc))  # what Prefect's task engine hands to retry_condition_fn


def test_flows_retry_only_retryable_errors() -> None:
    from thidua.flows.consolidation import consolidate_due_task, consolidate_task
    from thidua.flows.nominations import close_windows_task
    from thidua.models.submissions import CampaignClosed, StaleVersion

    for task in (consolidate_task, consolidate_due_task, close_windows_task):
        assert task.retry_condition_fn is retry_only_retryable and task.retries >= 1
    locked = OperationalError("UPDATE assignment", {}, Exception("database is locked"))
    assert retry_only_retryable(None, None, _failed(locked))
    assert retry_only_retryable(None, None, _failed(StaleVersion("đã có người duyệt trước")))
    assert not retry_only_retryable(None, None, _failed(CampaignClosed("chiến dịch đã đóng")))
    assert not retry_only_retryable(None, None, _failed(ValueError("lỗi lập trình")))
    assert not is_retryable(None) and is_retryable(ConflictError("x")) and not is_retryable(RefusedError("x"))
