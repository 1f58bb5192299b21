"""The command line's framework text in Vietnamese: "Usage:", "Show this message and exit.", the help panels
("Options", "[default: …]"), the type placeholders (<str>, <int>) and the usage errors.

typer ships no Vietnamese catalogue: its help renderer marks text for gettext (read once, at import), and the
click it vendors has fixed English messages. `install()` (idempotent) rewrites both where they are shown;
anything not in the tables stays as it is.
"""

from __future__ import annotations

import importlib.abc
import re
import importlib.util
import sys
from types import ModuleType
from typing import Callable

MESSAGES = {
    # click: help and usage
    "Usage:": "Cách dùng:",
    "Show this message and exit.": "Hiện hướng dẫn này rồi thoát.",
    "Show the version and exit.": "Hiện phiên bản rồi thoát.",
    "Options": "Tùy chọn",
    "Arguments": "Tham số",
    "Commands": "Lệnh",
    "Positional arguments": "Tham số theo vị trí",
    "Error": "Lỗi",
    "[default: {}]": "[mặc định: {}]",
    "[env var: {}]": "[biến môi trường: {}]",
    "[required]": "[bắt buộc]",
    "(deprecated) ": "(không còn dùng) ",
    "default: {default}": "mặc định: {default}",
    "env var: {var}": "biến môi trường: {var}",
    "required": "bắt buộc",
    "deprecated": "không còn dùng",
    "(dynamic)": "(tùy lúc)",
    "Aborted!": "Đã dừng.",
    "Aborted.": "Đã dừng.",
    "Try [blue]'{command_path} {help_option}'[/] for help.": "Xem hướng dẫn: [blue]'{command_path} {help_option}'[/]",
    "Try '{command} {option}' for help.": "Xem hướng dẫn: '{command} {option}'",
    "Error: {message}": "Lỗi: {message}",
    "Confirm the action without prompting.": "Xác nhận luôn, không hỏi lại.",
    "Do you want to continue?": "Tiếp tục?",
    "Repeat for confirmation": "Nhập lại để xác nhận",
    "Error: The two entered values do not match.": "Lỗi: hai lần nhập không khớp nhau.",
    "Error: invalid input": "Lỗi: giá trị không hợp lệ",
    "Press any key to continue...": "Bấm phím bất kỳ để tiếp tục…",
    # click: errors
    "Missing command.": "Thiếu lệnh.",
    "No such command {name!r}.": "Không có lệnh {name!r}.",
    "No such option {name!r}.": "Không có tùy chọn {name!r}.",
    "No such option: {name}": "Không có tùy chọn: {name}",
    "Option {name!r} does not take a value.": "Tùy chọn {name!r} không nhận giá trị.",
    "Missing argument": "Thiếu tham số",
    "Missing option": "Thiếu tùy chọn",
    "Missing parameter": "Thiếu tham số",
    "Missing {param_type}": "Thiếu {param_type}",
    "Missing parameter: {param_name}": "Thiếu tham số: {param_name}",
    "argument": "tham số",
    "option": "tùy chọn",
    "parameter": "tham số",
    "Invalid value: {message}": "Giá trị không hợp lệ: {message}",
    "Invalid value for {param_hint}: {message}": "Giá trị không hợp lệ cho {param_hint}: {message}",
    "{value!r} is not a valid {number_type}.": "{value!r} không phải là {number_type} hợp lệ.",
    "{value!r} is not a valid boolean. Recognized values: {states}": "{value!r} không phải là giá trị có/không. Các giá trị được hiểu: {states}",
    "{value!r} is not a valid UUID.": "{value!r} không phải là UUID hợp lệ.",
    "{value} is not in the range {range}.": "{value} không nằm trong khoảng {range}.",
    "{name} {filename!r} does not exist.": "{name} {filename!r} không tồn tại.",
    "{name} {filename!r} is a file.": "{name} {filename!r} là một tệp.",
    "{name} {filename!r} is a directory.": "{name} {filename!r} là một thư mục.",
    "{name} {filename!r} is not readable.": "Không đọc được {name} {filename!r}.",
    "{name} {filename!r} is not writable.": "Không ghi được {name} {filename!r}.",
    "{name} {filename!r} is not executable.": "Không chạy được {name} {filename!r}.",
    "Could not open file {filename!r}: {message}": "Không mở được tệp {filename!r}: {message}",
    "Choose from:\n\t{choices}": "Chọn một trong:\n\t{choices}",
    "unknown error": "lỗi không rõ",
    # type names (error messages and, upper-cased, the placeholders of the help)
    "file": "tệp",
    "directory": "thư mục",
    "path": "đường dẫn",
    "integer": "số nguyên",
    "float": "số",
    "text": "chữ",
    "boolean": "có/không",
    # typer: shell completion options
    "Install completion for the current shell.": "Cài gợi ý lệnh (tab) cho shell đang dùng.",
    "Show completion for the current shell, to copy it or customize the installation.": "In đoạn gợi ý lệnh cho shell đang dùng (để chép hoặc tự cài).",
    "Install completion for the specified shell.": "Cài gợi ý lệnh (tab) cho shell được chỉ định.",
    "Show completion for the specified shell, to copy it or customize the installation.": "In đoạn gợi ý lệnh cho shell được chỉ định (để chép hoặc tự cài).",
}
# typer reads these module constants when it draws the help.
TYPER_CONSTANTS = {
    "ARGUMENTS_PANEL_TITLE": "Arguments",
    "OPTIONS_PANEL_TITLE": "Options",
    "COMMANDS_PANEL_TITLE": "Commands",
    "ERRORS_PANEL_TITLE": "Error",
    "DEFAULT_STRING": "[default: {}]",
    "ENVVAR_STRING": "[env var: {}]",
    "REQUIRED_LONG_STRING": "[required]",
    "DEPRECATED_STRING": "(deprecated) ",
    "ABORTED_TEXT": "Aborted.",
    "RICH_HELP": "Try [blue]'{command_path} {help_option}'[/] for help.",
}


def translate(message: str) -> str:
    return MESSAGES.get(message, message)


# typer (0.29) vendors its own click with fixed English messages: these rewrite them as they are shown.
ERROR_PATTERNS = [
    (re.compile(p), r)
    for p, r in (
        (r"^Missing argument (.+?)\.", r"Thiếu tham số \1."),
        (r"^Missing option (.+?)\.", r"Thiếu tùy chọn \1."),
        (r"^Missing parameter(: )?", r"Thiếu tham số\1"),
        (r"^Invalid value for (.+?): ", r"Giá trị không hợp lệ cho \1: "),
        (r"^Invalid value: ", "Giá trị không hợp lệ: "),
        (r"^No such option: (\S+)", r"Không có tùy chọn: \1"),
        (r"\(Possible options: (.+)\)$", r"(có thể là: \1)"),
        (r"^No such command (.+)\.$", r"Không có lệnh \1."),
        (r"^Missing command\.$", "Thiếu lệnh."),
        (r"\(?Did you mean one of: (.+)\?\)?", r"(có phải ý bạn là một trong: \1?)"),
        (r"Did you mean (.+)\?", r"Có phải ý bạn là \1?"),
        (r"^Got unexpected extra argument\(s\) \((.*)\)$", r"Thừa tham số (\1)"),
        (r"^Option (.+) requires an argument\.$", r"Tùy chọn \1 cần một giá trị."),
        (r"^Option (.+) requires (\d+) arguments\.$", r"Tùy chọn \1 cần \2 giá trị."),
        (r"^Option (.+) does not take a value\.$", r"Tùy chọn \1 không nhận giá trị."),
        (r"^Could not open file (.+?): ", r"Không mở được tệp \1: "),
        (r"^Value (.+) is not a valid (.+)\.$", r"Giá trị \1 không phải là \2 hợp lệ."),
        # pydantic's messages for typed parameters
        (r"Input should be a valid integer.*$", "phải là số nguyên"),
        (r"Input should be a valid number.*$", "phải là số"),
        (r"Input should be a valid boolean.*$", "phải là có/không (true/false, yes/no, 1/0)"),
        (r"Input should be a valid date.*$", "phải là ngày hợp lệ"),
        (r"Input should be greater than or equal to (\S+)", r"phải lớn hơn hoặc bằng \1"),
        (r"Input should be less than or equal to (\S+)", r"phải nhỏ hơn hoặc bằng \1"),
        (r"Input should be greater than (\S+)", r"phải lớn hơn \1"),
        (r"Input should be less than (\S+)", r"phải nhỏ hơn \1"),
        (r"Path does not point to a file", "đường dẫn không phải là một tệp"),
        (r"Path does not point to a directory", "đường dẫn không phải là một thư mục"),
        (r"Path does not exist", "đường dẫn không tồn tại"),
        (r"Input should be (.+)$", r"phải là \1"),
        (r"' or '", "' hoặc '"),
    )
]
USAGE_PIECES = {"[OPTIONS]": "[TÙY CHỌN]", "COMMAND [ARGS]...": "LỆNH [THAM SỐ]..."}
TYPE_LABELS = {
    "str": "chữ",
    "int": "số nguyên",
    "float": "số",
    "bool": "có/không",
    "int range": "số nguyên",
    "float range": "số",
    "Path": "đường dẫn",
    "path": "đường dẫn",
    "file": "tệp",
    "dir": "thư mục",
    "directory": "thư mục",
    "datetime": "ngày giờ",
    "date": "ngày",
    "list[str]": "danh sách chữ",
}


def translate_error(message: str) -> str:
    for pattern, replacement in ERROR_PATTERNS:
        message = pattern.sub(replacement, message)
    return message


_installed = False


def install() -> None:
    """Make typer (and its vendored click) speak Vietnamese in this process."""
    global _installed
    if _installed:
        return
    import typer.completion
    import typer.core
    from typer import _click
    from typer._click import exceptions, formatting

    for name in dir(exceptions):
        cls = getattr(exceptions, name)
        if isinstance(cls, type) and "format_message" in vars(cls):
            cls.format_message = _translated(cls.format_message)
    original_write_usage = formatting.HelpFormatter.write_usage

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:  # noqa: ANN001
        original_write_usage(self, prog, args, "Cách dùng: " if prefix is None else prefix)

    formatting.HelpFormatter.write_usage = write_usage
    for command_class in {_click.core.Command, *_subclasses(_click.core.Command)}:
        if "collect_usage_pieces" in vars(command_class):
            command_class.collect_usage_pieces = _translated_pieces(command_class.collect_usage_pieces)
        if "get_help_option" in vars(command_class):
            command_class.get_help_option = _translated_help_option(command_class.get_help_option)
    parameter_class = typer.core._TyperParameter
    parameter_class.display_type = _translated_type(parameter_class.display_type)
    for placeholder in ("_install_completion_placeholder_function", "_install_completion_no_auto_placeholder_function"):
        for option in getattr(getattr(typer.completion, placeholder, None), "__defaults__", None) or ():
            if isinstance(getattr(option, "help", None), str):
                option.help = translate(option.help)
    _patch(typer.core, "_", translate)
    # typer's help renderer is heavy and imported only when help or an error is shown: patch it then.
    if "typer.rich_utils" in sys.modules:
        _patch_rich_utils(sys.modules["typer.rich_utils"])
    else:
        sys.meta_path.insert(0, _AfterImport("typer.rich_utils", _patch_rich_utils))
    _installed = True


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.extend([sub, *_subclasses(sub)])
    return out


def _translated(method: Callable) -> Callable:
    def format_message(self) -> str:  # noqa: ANN001
        return translate_error(method(self))

    return format_message


def _translated_pieces(method: Callable) -> Callable:
    def collect_usage_pieces(self, ctx):  # noqa: ANN001, ANN202
        return [USAGE_PIECES.get(piece, piece) for piece in method(self, ctx)]

    return collect_usage_pieces


def _translated_help_option(method: Callable) -> Callable:
    def get_help_option(self, ctx):  # noqa: ANN001, ANN202
        option = method(self, ctx)
        if option is not None and isinstance(option.help, str):
            option.help = translate(option.help)
        return option

    return get_help_option


def _translated_type(method: Callable) -> Callable:
    def display_type(self, ctx):  # noqa: ANN001, ANN202
        shown = method(self, ctx)
        if isinstance(shown, str) and shown.startswith("<") and shown.endswith(">"):
            return f"<{TYPE_LABELS.get(shown[1:-1], shown[1:-1])}>"
        return shown

    return display_type


def _patch_rich_utils(module: ModuleType) -> None:
    _patch(module, "_", translate)
    highlights = getattr(getattr(module, "OptionHighlighter", None), "highlights", None)
    if isinstance(highlights, list):
        highlights[:] = [h.replace("(?P<usage>Usage: )", "(?P<usage>Cách dùng: )") for h in highlights]
    for name, english in TYPER_CONSTANTS.items():
        if getattr(module, name, None) == english:
            setattr(module, name, translate(english))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs `then(module)` right after the module `name` is first imported."""

    def __init__(self, name: str, then: Callable[[ModuleType], None]) -> None:
        self.name, self.then = name, then

    def find_spec(self, fullname, path, target=None):  # noqa: ANN001, ANN201
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader, then = spec.loader, self.then

        class Loader(importlib.abc.Loader):
            def create_module(self, spec):  # noqa: ANN001, ANN201
                return loader.create_module(spec)

            def exec_module(self, module):  # noqa: ANN001, ANN201
                loader.exec_module(module)
                then(module)

        spec.loader = Loader()
        return spec


def _patch(module: object, name: str, replacement: Callable) -> None:
    if hasattr(module, name):
        setattr(module, name, replacement)
