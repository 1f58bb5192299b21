"""Hostile unit lists, form files and award catalogues: refused in Vietnamese with the file and the line, cell or
field, exit code 1, quickly and in little memory, and the database unchanged. Merged cells are read as shown."""

from __future__ import annotations

import time
import tracemalloc
import zipfile
from pathlib import Path
from typing import Callable

import pytest
from openpyxl import Workbook

from tests.hostile.conftest import Corpus, fingerprint
from thidua.settings import CONFIG_DIR

UNIT_HEADER = ["Mã đơn vị", "Tên đơn vị", "Cấp", "Mã đơn vị cấp trên"]
GOOD_UNITS = [
    ["BDH.X1", "LĐLĐ huyện Thử", "cap_tren_truc_tiep", "BDH"],
    ["BDH.X1.1", "CĐCS Thử 1", "cdcs", "BDH.X1"],
    ["BDH.X1.2", "CĐCS Thử 2", "cdcs", "BDH.X1"],
]


def workbook(rows: list[list[object]], edit: Callable | None = None) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        wb = Workbook()
        ws = wb.active
        for row in rows:
            ws.append(row)
        if edit:
            edit(wb, ws)
        wb.save(path)

    return make


def raw(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def text(data: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(data, encoding="utf-8")


def zip_of(members: dict[str, bytes], *, big: tuple[str, int] | None = None) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
            if big:
                with zf.open(big[0], "w", force_zip64=True) as out:
                    chunk = b"0" * (1 << 20)
                    for _ in range(big[1]):
                        out.write(chunk)

    return make


MINIMAL_XLSX = {
    "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="xml" ContentType="application/xml"/></Types>',
}
ENTITY_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><worksheet>&lol3;</worksheet>'
)
XXE = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><worksheet>&xxe;</worksheet>'


def _with_sheet_xml(sheet_xml: bytes) -> Callable[[Path], None]:
    """A real workbook whose first sheet's XML is replaced."""

    def make(path: Path) -> None:
        workbook([UNIT_HEADER, *GOOD_UNITS])(path)
        with zipfile.ZipFile(path) as zf:
            members = {n: zf.read(n) for n in zf.namelist()}
        members["xl/worksheets/sheet1.xml"] = sheet_xml
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)

    return make


def _merged_parent(wb, ws) -> None:  # noqa: ANN001
    ws.merge_cells("D3:D4")  # both CĐCS under BDH.X1, typed once


def _formula_parent(wb, ws) -> None:  # noqa: ANN001
    ws["D3"] = '=B2&""'  # no cached value: openpyxl writes none


def _hidden_row(wb, ws) -> None:  # noqa: ANN001
    ws.row_dimensions[3].hidden = True


def _hidden_sheet(wb, ws) -> None:  # noqa: ANN001
    ws.sheet_state = "hidden"
    wb.create_sheet("Khác")


def _far_cell(wb, ws) -> None:  # noqa: ANN001
    ws["XFD1048576"] = "x"


def _wide(wb, ws) -> None:  # noqa: ANN001
    ws.cell(2, 250, "dữ liệu lạc")


ALIAS_BOMB = "units:\n  - &a {code: A, name: A, level: cdcs, parent: BDH}\n" + "".join(
    f"x{i}: &x{i} [" + ",".join([f"*x{i - 1}" if i else "*a"] * 9) + "]\n" for i in range(9)
)

# (id, file name, maker, where the message must point, words)
UNIT_CASES = [
    (
        "units-xlsx-formula-without-value",
        "dv.xlsx",
        workbook([UNIT_HEADER, *GOOD_UNITS], _formula_parent),
        "ô D3",
        ("công thức", "chưa có giá trị"),
    ),
    ("units-xlsx-hidden-row", "dv.xlsx", workbook([UNIT_HEADER, *GOOD_UNITS], _hidden_row), "dòng 3", ("bị ẩn",)),
    (
        "units-xlsx-hidden-first-sheet",
        "dv.xlsx",
        workbook([UNIT_HEADER, *GOOD_UNITS], _hidden_sheet),
        "dv.xlsx",
        ("bị ẩn",),
    ),
    (
        "units-xlsx-cell-at-XFD1048576",
        "dv.xlsx",
        workbook([UNIT_HEADER, *GOOD_UNITS], _far_cell),
        "dòng 1048576",
        ("quá giới hạn 300.000 dòng",),
    ),
    ("units-xlsx-data-in-column-250", "dv.xlsx", workbook([UNIT_HEADER, *GOOD_UNITS], _wide), "ô IP2", ("200 cột",)),
    (
        "units-xlsx-zip-bomb",
        "dv.xlsx",
        zip_of(MINIMAL_XLSX, big=("xl/worksheets/sheet1.xml", 210)),
        "dv.xlsx",
        ("zip bomb",),
    ),
    ("units-xlsx-entity-bomb", "dv.xlsx", _with_sheet_xml(ENTITY_BOMB), "dv.xlsx", ("DTD",)),
    ("units-xlsx-xxe", "dv.xlsx", _with_sheet_xml(XXE), "dv.xlsx", ("DTD",)),
    ("units-xlsx-not-a-zip", "dv.xlsx", text("code,name\nA,B\n"), "dv.xlsx", ("không đọc được tệp Excel",)),
    (
        "units-xlsx-truncated",
        "dv.xlsx",
        lambda p: (workbook([UNIT_HEADER, *GOOD_UNITS])(p), p.write_bytes(p.read_bytes()[:600])),
        "dv.xlsx",
        ("không đọc được tệp Excel",),
    ),
    ("units-xlsx-empty-zip", "dv.xlsx", zip_of({}), "dv.xlsx", ("không đọc được tệp Excel",)),
    (
        "units-csv-200k-field",
        "dv.csv",
        text("ma_don_vi,ten_don_vi,cap,ma_cap_tren\nA," + "x" * 200_000 + ",cdcs,BDH\n"),
        "dv.csv:2:",
        ("quá 2.000 ký tự",),
    ),
    (
        "units-csv-3k-field",
        "dv.csv",
        text("ma_don_vi,ten_don_vi,cap,ma_cap_tren\nA," + "x" * 3000 + ",cdcs,BDH\n"),
        "dv.csv:2: cột 2",
        ("quá 2.000 ký tự",),
    ),
    (
        "units-csv-unclosed-quote",
        "dv.csv",
        text('ma_don_vi,ten_don_vi,cap,ma_cap_tren\nA,"Công đoàn,cdcs,BDH\n' + "B,x,cdcs,BDH\n" * 3),
        "dv.csv:2: cột 2",
        ("dấu nháy",),
    ),
    (
        "units-csv-cp1258",
        "dv.csv",
        raw("ma_don_vi,ten_don_vi,cap,ma_cap_tren\nA,Công đoàn,cdcs,BDH\n".encode("cp1258", "replace")),
        "dv.csv:2:",
        ("UTF-8",),
    ),
    (
        "units-csv-utf16",
        "dv.csv",
        raw("ma_don_vi,ten_don_vi,cap,ma_cap_tren\n".encode("utf-16")),
        "dv.csv:1:",
        ("UTF-16",),
    ),
    (
        "units-csv-nul",
        "dv.csv",
        text("ma_don_vi,ten_don_vi,cap,ma_cap_tren\nA,B\x00C,cdcs,BDH\n"),
        "dv.csv:2:",
        ("NUL",),
    ),
    ("units-yaml-alias-bomb", "dv.yaml", text(ALIAS_BOMB), "dv.yaml", ("tham chiếu YAML",)),
    (
        "units-yaml-deep",
        "dv.yaml",
        text("units: " + "[" * 5000 + "]" * 5000 + "\n"),
        "dv.yaml:1:",
        ("lồng nhau quá sâu",),
    ),
    ("units-yaml-nul", "dv.yaml", text('units:\n  - {code: A, name: "x\x00"}\n'), "dv.yaml:2:", ("U+0000",)),
    (
        "units-yaml-python-tag",
        "dv.yaml",
        text("units:\n  - !!python/object/apply:os.system [ls]\n"),
        "dv.yaml:2:",
        ("thẻ YAML",),
    ),
    ("units-unknown-suffix", "dv.exe", raw(b"MZ\x90\x00"), "dv.exe", ("định dạng tệp không được hỗ trợ",)),
]


def _check_refused(corpus: Corpus, args: list[str], where: str, words: tuple[str, ...]) -> None:
    before = fingerprint(corpus.engine)
    tracemalloc.start()
    started = time.perf_counter()
    code, out, result = corpus.run(*args)
    seconds = time.perf_counter() - started
    peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    assert code == 1, out
    assert "Traceback" not in out and isinstance(result.exception, (SystemExit, type(None))), out
    assert where in out, (where, out)
    for word in words:
        assert word in out, (word, out)
    assert fingerprint(corpus.engine) == before
    assert peak_mb < 200, peak_mb  # the limits are a safety property, not a speed target
    assert seconds < 30, seconds


@pytest.mark.parametrize("case_id, name, make, where, words", UNIT_CASES, ids=[c[0] for c in UNIT_CASES])
def test_hostile_unit_file_is_refused(
    corpus: Corpus,
    case_id: str,
    name: str,
    make,
    where: str,  # noqa: ANN001
    words: tuple[str, ...],
) -> None:
    folder = corpus.work / case_id
    folder.mkdir()
    make(folder / name)
    _check_refused(corpus, ["units", "import", str(folder / name)], where, words)


def test_merged_parent_cells_are_read_as_shown(corpus: Corpus) -> None:
    path = corpus.work / "gop-o.xlsx"
    rows = [UNIT_HEADER, GOOD_UNITS[0], GOOD_UNITS[1], [*GOOD_UNITS[2][:3], None]]
    workbook(rows, _merged_parent)(path)
    code, out, _ = corpus.run("units", "import", str(path), "--dry-run")
    assert code == 0, out
    from thidua.services.units import read_unit_file

    raws, problems = read_unit_file(path)
    assert problems == [] and [r.parent for r in raws] == ["BDH", "BDH.X1", "BDH.X1"]


def test_a_directory_given_as_a_unit_file(corpus: Corpus) -> None:
    _check_refused(corpus, ["units", "import", str(corpus.work)], str(corpus.work), ("thư mục",))


# --- forms: `thidua submit --file` ---------------------------------------------------------------
SUBMIT = ["submit", "bd-2023", "--unit", "BDH.D1.1", "--obligation", "so-ket-dot-1", "--now", "05/06/2023 09:00"]
FORM_CASES = [
    (
        "form-json-deep",
        "bc.json",
        text('{"so_sang_kien": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        "bc.json",
        ("lồng nhau quá sâu",),
    ),
    ("form-json-syntax", "bc.json", text('{"so_sang_kien": 3,\n "so_doan_vien_moi": }'), "bc.json", ("dòng 2", "JSON")),
    (
        "form-json-cp1258",
        "bc.json",
        raw('{"guong_dien_hinh": "Công đoàn"}'.encode("cp1258", "replace")),
        "bc.json:1:",
        ("UTF-8",),
    ),
    (
        "form-yaml-alias-bomb",
        "bc.yaml",
        text("so_sang_kien: 1\nso_doan_vien_moi: 2\n" + ALIAS_BOMB.split("\n", 2)[2].replace("*a", "1")),
        "bc.yaml",
        ("tham chiếu YAML",),
    ),
    ("form-yaml-nul", "bc.yaml", text("so_sang_kien: 1\nguong_dien_hinh: a\x00b\n"), "bc.yaml:2:", ("U+0000",)),
    ("form-yaml-utf16", "bc.yaml", raw("so_sang_kien: 1\n".encode("utf-16")), "bc.yaml:1:", ("UTF-16",)),
    (
        "form-yaml-number-too-large",
        "bc.yaml",
        text("so_sang_kien: 100000000000000000000\nso_doan_vien_moi: 1\n"),
        "so_sang_kien",
        ("quá lớn",),
    ),
    ("form-yaml-inf", "bc.yaml", text("so_sang_kien: .inf\nso_doan_vien_moi: 1\n"), "so_sang_kien", ("số nguyên",)),
    (
        "form-yaml-text-too-long",
        "bc.yaml",
        text("so_sang_kien: 1\nso_doan_vien_moi: 1\nguong_dien_hinh: " + "x" * 200_000 + "\n"),
        "guong_dien_hinh",
        ("vượt mức tối đa 2000 ký tự",),
    ),
    (
        "form-xlsx-formula-without-value",
        "bc.xlsx",
        workbook([["Mã trường", "Giá trị"], ["so_sang_kien", "=1+1"], ["so_doan_vien_moi", 3]]),
        "ô B2",
        ("công thức",),
    ),
    (
        "form-xlsx-far-cell",
        "bc.xlsx",
        workbook([["so_sang_kien", 1]], _far_cell),
        "dòng 1048576",
        ("quá giới hạn 300.000 dòng",),
    ),
    ("form-xlsx-entity-bomb", "bc.xlsx", _with_sheet_xml(ENTITY_BOMB), "bc.xlsx", ("DTD",)),
    (
        "form-xlsx-zip-bomb",
        "bc.xlsx",
        zip_of(MINIMAL_XLSX, big=("xl/worksheets/sheet1.xml", 210)),
        "bc.xlsx",
        ("zip bomb",),
    ),
    ("form-unknown-suffix", "bc.txt", text("so_sang_kien: 1"), "bc.txt", ("chỉ nhận tệp",)),
]


@pytest.mark.parametrize("case_id, name, make, where, words", FORM_CASES, ids=[c[0] for c in FORM_CASES])
def test_hostile_form_file_is_refused(
    corpus: Corpus,
    case_id: str,
    name: str,
    make,
    where: str,  # noqa: ANN001
    words: tuple[str, ...],
) -> None:
    folder = corpus.work / case_id
    folder.mkdir()
    make(folder / name)
    _check_refused(corpus, [*SUBMIT, "--file", str(folder / name)], where, words)


def test_a_directory_given_as_a_form_file(corpus: Corpus) -> None:
    folder = corpus.work / "thu-muc.yaml"
    folder.mkdir()
    _check_refused(corpus, [*SUBMIT, "--file", str(folder)], str(folder), ("thư mục",))


# --- award catalogues: `thidua validate` -------------------------------------------------------------
CATALOGUE = (CONFIG_DIR / "awards" / "qd999_2024.yaml").read_text(encoding="utf-8")
CATALOGUE_CASES = [
    (
        "catalogue-alias-bomb",
        CATALOGUE + "\n" + ALIAS_BOMB.split("\n", 2)[2].replace("*a", "1"),
        None,
        ("tham chiếu YAML",),
    ),
    ("catalogue-nul", CATALOGUE.replace("ratings:", "ratings:\x00", 1), None, ("U+0000",)),
    (
        "catalogue-misspelled-awards",
        CATALOGUE.replace("\nawards:", "\naward:", 1),
        None,
        ("awards", "thiếu trường bắt buộc"),
    ),
    (
        "catalogue-python-tag",
        CATALOGUE.replace("ratings:", "extra: !!python/name:os.system\nratings:", 1),
        None,
        ("thẻ YAML",),
    ),
    ("catalogue-deep", CATALOGUE + "\nx: " + "{a: " * 200 + "1" + "}" * 200 + "\n", None, ("lồng nhau quá sâu",)),
]


@pytest.mark.parametrize("case_id, content, line, words", CATALOGUE_CASES, ids=[c[0] for c in CATALOGUE_CASES])
def test_hostile_award_catalogue_is_refused(
    corpus: Corpus, case_id: str, content: str, line: int | None, words: tuple[str, ...]
) -> None:
    path = corpus.work / f"{case_id}.yaml"
    path.write_text(content, encoding="utf-8")
    _check_refused(corpus, ["validate", str(path)], str(path), words)


def test_catalogue_as_cp1258(corpus: Corpus) -> None:
    path = corpus.work / "danh-muc-cp1258.yaml"
    path.write_bytes(CATALOGUE.encode("cp1258", "replace"))
    _check_refused(corpus, ["validate", str(path)], str(path), ("UTF-8",))
