"""Reading the declarative files people hand to thidua (campaigns, catalogues, holidays, units, forms):
every way a file can be unreadable becomes a located Vietnamese problem, never a traceback.

A folder given for a file, a file too large to be a declaration, text not saved as UTF-8 (Windows-1258,
UTF-16, stray bytes): SpecError naming the file and, for bad bytes, the line and column."""

from __future__ import annotations

import errno
from pathlib import Path

from thidua.models.spec.problems import Problem, SpecError
from thidua.models.spec.yamlsource import decode_text

MAX_TEXT_FILE_BYTES = 50 * 1024 * 1024  # a national unit list in YAML is ~20 MB; campaign files are kilobytes


def read_text_file(path: Path | str) -> str:
    """The UTF-8 text of a file (a UTF-8 byte-order mark is dropped). FileNotFoundError when it does not
    exist (callers already word that); SpecError for everything else."""
    path = Path(path)
    file = str(path)
    if path.is_dir():
        raise SpecError([Problem(file, None, "", "đây là một thư mục, không phải một tệp")])
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_FILE_BYTES:
            raise SpecError(
                [
                    Problem(
                        file,
                        None,
                        "",
                        f"tệp quá lớn ({size // (1024 * 1024)} MB; tối đa {MAX_TEXT_FILE_BYTES // (1024 * 1024)} MB)",
                    )
                ]
            )
        data = path.read_bytes()
    except PermissionError:
        raise SpecError([Problem(file, None, "", "không có quyền đọc tệp")]) from None
    except IsADirectoryError:
        raise SpecError([Problem(file, None, "", "đây là một thư mục, không phải một tệp")]) from None
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise
        raise SpecError([Problem(file, None, "", f"không đọc được tệp ({exc.strerror or exc})")]) from None
    return decode_text(data, file)
