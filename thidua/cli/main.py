"""`thidua` command line. Each family of commands lives in its own module and registers a sub-app here."""

from __future__ import annotations

import typer

from thidua.cli.vietnamese import install as _speak_vietnamese

_speak_vietnamese()  # click/typer framework text (Usage, Options, errors) in Vietnamese
from thidua.cli import campaign as campaign_cli
from thidua.cli import units as units_cli
from thidua.cli import reminders as reminders_cli
from thidua.cli import submissions as submissions_cli
from thidua.cli import nominations as nominations_cli
from thidua.cli import commendation as commendation_cli
from thidua.cli import app_cmds as app_cli
from thidua.cli import web as web_cli
from thidua.cli import demo as demo_cli
from thidua.cli import scaleout as scaleout_cli
from thidua.cli import init_cmd as init_cli
from thidua.cli import clusters as clusters_cli

app = typer.Typer(
    name="thidua",
    help="Hệ thống quản lý phong trào thi đua công đoàn.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

for module in (
    campaign_cli,
    units_cli,
    reminders_cli,
    submissions_cli,
    nominations_cli,
    commendation_cli,
    app_cli,
    web_cli,
    demo_cli,
    scaleout_cli,
    init_cli,
    clusters_cli,
):
    module.register(app)


def main() -> None:
    app(prog_name="thidua")


if __name__ == "__main__":
    main()
