"""`thidua` command line. Each family of commands lives in its own module and registers on the app given to its
`register(app)`; this module imports a family's module only when one of its commands runs (or its help is shown),
so `thidua --help` and `thidua validate FILE` do not pay for the other families' imports.

`COMMANDS` is the static table behind the top-level listing: every top-level name, the module that registers
it and the line `thidua --help` shows for it. tests/core/test_cli_startup.py checks it against what the
modules register (same names, same order, same lines), so a new command must be added here.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any, Literal, NamedTuple

import typer
import typer.main
from typer import _click
from typer.core import TyperCommand, TyperGroup

from thidua.cli.vietnamese import install as _speak_vietnamese

_speak_vietnamese()  # click/typer framework text (Usage, Options, errors) in Vietnamese


class Entry(NamedTuple):
    module: str  # under thidua.cli, whose `register(app)` registers the command
    line: str  # the first paragraph of its help, as `thidua --help` lists it
    also: tuple[str, ...] = ()  # modules that add subcommands to it (registered first)


# In the order typer lists them: the commands in registration order, then the command groups.
COMMANDS: dict[str, Entry] = {
    "validate": Entry(
        "campaign", "Kiểm tra tệp khai báo (chiến dịch, đơn vị, cấp, khen thưởng, cụm thi đua, văn bản)."
    ),
    "status": Entry("campaign", "Tình hình thực hiện nghĩa vụ theo cấp và theo đơn vị."),
    "plan": Entry("campaign", "Các hạn nộp trong N ngày tới, theo đơn vị."),
    "schema": Entry("campaign", "Xuất JSON Schema của tệp chiến dịch (cho trình soạn thảo)."),
    "submit": Entry("submissions", "Đơn vị gửi báo cáo của mình từ tệp .yaml/.json/.xlsx."),
    "review": Entry("submissions", "Đơn vị cấp trên duyệt hoặc trả lại báo cáo của đơn vị trực thuộc."),
    "targets": Entry("submissions", "Tiến độ các chỉ tiêu (toàn tỉnh và từng đơn vị) tại một ngày."),
    "serve": Entry(
        "app_cmds", "Chạy hệ thống: trang web và đồng hồ gửi nhắc việc (và máy chủ thư cục bộ nếu có --sink)."
    ),
    "sink": Entry("app_cmds", "Máy chủ SMTP cục bộ: nhận thư và lưu thành tệp .eml (không gửi ra ngoài)."),
    "web": Entry("web", "Chạy trang web (đơn vị, người duyệt, văn phòng chiến dịch)."),
    "demo": Entry("demo", "Mô phỏng cả năm 2023 của chiến dịch Bình Định trên SQLite nhúng (thư lưu thành .eml)."),
    "init": Entry(
        "init_cmd",
        "Chép cấu hình mặc định (cấp, đơn vị, lịch nghỉ, danh mục khen thưởng, chiến dịch mẫu) ra một thư mục.",
    ),
    "campaign": Entry("campaign", "Chiến dịch thi đua: nạp, xem.", also=("submissions",)),  # close, reopen
    "units": Entry("units", "Đơn vị công đoàn: danh mục cấp, nhập danh sách đơn vị, tra cứu."),
    "reminders": Entry("reminders", "Nhắc việc qua e-mail: xem trước, gửi, theo dõi."),
    "forms": Entry("submissions", "Biểu mẫu: tạo tệp Excel để nhập, nhập báo cáo hàng loạt."),
    "report": Entry("submissions", "Báo cáo tổng hợp (XLSX, DOCX) và tổng hợp số liệu."),
    "nominations": Entry(
        "nominations", "Đề nghị khen thưởng: đề nghị, xét duyệt từng cấp, quyết định, sổ khen thưởng."
    ),
    "commendation": Entry(
        "commendation", "Văn bản khen thưởng: quyết định có số, tờ trình, hủy quyết định, sổ số văn bản."
    ),
    "users": Entry("web", "Tài khoản người dùng trang web."),
    "scaleout": Entry("scaleout", "Chế độ mở rộng: PostgreSQL, máy chủ Prefect, nhiều tiến trình gửi."),
    "clusters": Entry(
        "clusters", "Cụm, khối thi đua: thành viên, đơn vị trưởng cụm, chấm điểm và xếp hạng (Cờ thi đua)."
    ),
}
# Every module with commands, in the order an app registering them all would (tests build that app to check
# `COMMANDS`).
MODULES = (
    "campaign",
    "units",
    "reminders",
    "submissions",
    "nominations",
    "commendation",
    "app_cmds",
    "web",
    "demo",
    "scaleout",
    "init_cmd",
    "clusters",
)

HELP = "Hệ thống quản lý phong trào thi đua công đoàn."
MARKUP: Literal["rich"] = "rich"


_families: dict[str, typer.Typer] = {}


def family(module: str) -> typer.Typer:
    """A Typer holding what `thidua.cli.<module>` registers; the module is imported and registers once per
    process (a registration may also add subcommands to another module's group)."""
    if module not in _families:
        sub = typer.Typer(rich_markup_mode=MARKUP)
        importlib.import_module(f"thidua.cli.{module}").register(sub)
        _families[module] = sub
    return _families[module]


def _command(name: str) -> _click.Command:
    """The click command `name`, built as typer builds an app's commands (afresh for each app it builds)."""
    entry = COMMANDS[name]
    for module in entry.also:
        family(module)
    return typer.main.get_group(family(entry.module)).commands[name]


class _Commands(MutableMapping[str, _click.Command]):
    """The group's commands by name: the names come from `COMMANDS`, a command is built on first lookup."""

    def __init__(self, given: MutableMapping[str, _click.Command]) -> None:
        self.loaded: dict[str, _click.Command] = dict(given)

    def __getitem__(self, name: str) -> _click.Command:
        if name not in self.loaded and name in COMMANDS:
            self.loaded[name] = _command(name)
        return self.loaded[name]

    def __setitem__(self, name: str, command: _click.Command) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self.loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS or name in self.loaded

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (name for name in self.loaded if name not in COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS) + sum(name not in COMMANDS for name in self.loaded)


class LazyGroup(TyperGroup):
    """The top-level group: a command's module is imported when the command is looked up to run (or for its
    own help, or shell completion); the top-level help lists the names and lines of `COMMANDS` instead."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.commands)
        self._listing = False

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return list(self.commands)

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        commands = self.commands
        assert isinstance(commands, _Commands)
        if self._listing and cmd_name not in commands.loaded and cmd_name in COMMANDS:
            return TyperCommand(cmd_name, help=COMMANDS[cmd_name].line)
        return commands.get(cmd_name)

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="thidua",
    help=HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=MARKUP,
    cls=LazyGroup,
)


@app.callback()
def _thidua() -> None:
    """(typer builds a group only for an app with a callback or commands; the commands are in `COMMANDS`.)"""


def main() -> None:
    app(prog_name="thidua")


if __name__ == "__main__":
    main()
