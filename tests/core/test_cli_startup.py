"""The command line starts light: the ORM, Prefect and the web stack load only for the commands that use them."""

from __future__ import annotations

import json
import subprocess
import sys

from thidua.settings import REPO_ROOT

HEAVY = ("sqlalchemy", "sqlmodel", "prefect", "fastapi", "alembic", "jinja2", "aiosmtplib")
CAMPAIGN = REPO_ROOT / "config" / "campaigns" / "binh_dinh_2023.yaml"

PROBE = """
import json, sys
from typer.testing import CliRunner
import thidua.cli.main as cli
loaded_by_import = sorted(m for m in {heavy!r} if m in sys.modules)
result = CliRunner().invoke(cli.app, {args!r})
print(json.dumps({{"import": loaded_by_import, "run": sorted(m for m in {heavy!r} if m in sys.modules),
                   "exit": result.exit_code, "output": result.output}}))
"""


def _run_probe(script: str, env_data_dir=None) -> dict:  # noqa: ANN001
    """Run a probe script in a fresh interpreter (optionally with its own data dir) and read its JSON answer."""
    import os

    env = None if env_data_dir is None else {**os.environ, "THIDUA_DATA_DIR": str(env_data_dir)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _probe(args: list[str], env_data_dir=None) -> dict:  # noqa: ANN001
    return _run_probe(PROBE.format(heavy=HEAVY, args=args), env_data_dir)


def test_importing_the_cli_loads_no_orm_prefect_or_web_stack():
    figures = _probe(["--help"])
    assert figures["import"] == []
    assert figures["exit"] == 0 and "validate" in figures["output"] and "status" in figures["output"]
    assert figures["run"] == [], "--help must not load them either"


def test_validate_a_campaign_file_without_the_orm():
    figures = _probe(["validate", str(CAMPAIGN)])
    assert figures["exit"] == 0, figures["output"]
    assert "hợp lệ" in figures["output"]
    assert figures["run"] == []


def test_status_reads_with_sqlalchemy_core_only(engine, settings):
    from datetime import datetime, timezone

    from sqlmodel import Session

    from tests.factories import small_binh_dinh
    from thidua.services.campaigns import load_campaign
    from thidua.services.status import status_report

    with Session(engine) as session:
        small_binh_dinh(session, districts=2, cdcs_per_district=3)
        session.commit()
    load_campaign(engine, CAMPAIGN)
    with engine.connect() as conn:
        owed = status_report(conn, "bd-2023", now=datetime(2023, 10, 12, 3, tzinfo=timezone.utc)).total.owed
    figures = _probe(["status", "bd-2023", "--now", "12/10/2023 10:00"], env_data_dir=settings.data_dir)
    assert figures["exit"] == 0, figures["output"]
    assert f"Tổng: {owed} nghĩa vụ" in figures["output"]
    assert figures["run"] == ["sqlalchemy"], "status needs SQLAlchemy Core, not the ORM models, Alembic or Prefect"


# --- issue 17 target 3: each command loads only what it uses ----------------------------------------------------
COMMAND_MODULES = tuple(f"thidua.cli.{module}" for module in ("campaign", "units", "reminders", "submissions",
    "nominations", "commendation", "app_cmds", "web", "demo", "scaleout", "init_cmd", "clusters"))  # fmt: skip
CAMPAIGN_FILE_MODELS = ("thidua.models.spec.campaign", "thidua.models.spec.awards", "thidua.models.hierarchy")

LOADED = """
import json, sys
from typer.testing import CliRunner
import thidua.cli.main as cli
result = CliRunner().invoke(cli.app, {args!r})
print(json.dumps({{"exit": result.exit_code, "output": result.output,
                   "loaded": sorted(m for m in {names!r} if m in sys.modules)}}))
"""


def _loaded(args: list[str], names: tuple[str, ...], env_data_dir=None) -> dict:  # noqa: ANN001
    return _run_probe(LOADED.format(args=args, names=names), env_data_dir)


def test_help_lists_every_command_without_importing_their_modules():
    figures = _loaded(["--help"], COMMAND_MODULES + HEAVY + ("pydantic", "ruamel.yaml"))
    assert figures["exit"] == 0
    assert figures["loaded"] == [], "--help lists the commands from thidua.cli.main.COMMANDS"
    from thidua.cli.main import COMMANDS

    for name, entry in COMMANDS.items():
        assert name in figures["output"] and entry.line.split()[0] in figures["output"]


def test_validate_imports_its_own_command_module_only():
    figures = _loaded(["validate", str(CAMPAIGN)], COMMAND_MODULES + HEAVY)
    assert figures["exit"] == 0, figures["output"]
    assert figures["loaded"] == ["thidua.cli.campaign"], "no other family, no sqlalchemy, prefect or jinja2"


def test_status_does_not_load_the_campaign_file_models(engine, settings):
    from sqlmodel import Session

    from tests.factories import small_binh_dinh
    from thidua.services.campaigns import load_campaign

    with Session(engine) as session:
        small_binh_dinh(session, districts=1, cdcs_per_district=2)
        session.commit()
    load_campaign(engine, CAMPAIGN)
    figures = _loaded(["status", "bd-2023"], COMMAND_MODULES + CAMPAIGN_FILE_MODELS, env_data_dir=settings.data_dir)
    assert figures["exit"] == 0, figures["output"]
    assert "Tổng:" in figures["output"]
    assert figures["loaded"] == ["thidua.cli.campaign"], "status reads the rounds and the subtree rule without them"


def _eager_app():
    """The app as it was built before the lazy table: every module registered on one Typer, in MODULES order."""
    import typer

    from thidua.cli import main

    app = typer.Typer(
        name="thidua",
        help=main.HELP,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=main.MARKUP,
    )
    for module in main.MODULES:
        family = main.family(module)
        app.registered_commands.extend(family.registered_commands)
        app.registered_groups.extend(family.registered_groups)
    return app


def test_the_static_table_is_what_the_modules_register():
    import inspect

    import typer.main

    from thidua.cli.main import COMMANDS

    eager = typer.main.get_group(_eager_app())
    listed = {}
    for name in eager.list_commands(None):  # type: ignore[arg-type]
        command = eager.commands[name]
        assert not command.hidden and not command.deprecated
        listed[name] = inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0]
    assert list(COMMANDS) == list(listed), "same names, same order"
    assert {name: entry.line for name, entry in COMMANDS.items()} == listed


def test_lazy_and_eager_apps_answer_alike():
    from typer.testing import CliRunner

    from thidua.cli.main import COMMANDS, app

    eager = _eager_app()
    runner = CliRunner()
    for args in ([], ["--help"], ["valdate"], ["campaign"], *([name, "--help"] for name in COMMANDS)):
        lazy_result, eager_result = (
            runner.invoke(app, args, terminal_width=100),
            runner.invoke(eager, args, terminal_width=100),
        )
        assert (lazy_result.exit_code, lazy_result.output) == (eager_result.exit_code, eager_result.output), args
