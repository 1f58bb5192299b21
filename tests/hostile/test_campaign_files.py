"""Hostile campaign files: `thidua validate` and `thidua campaign load` both refuse each one with a Vietnamese
message at file:line: field, exit code 1, in under the limits, and the database stays exactly as it was."""

from __future__ import annotations

import pytest

from tests.hostile.conftest import Corpus, fingerprint
from thidua.settings import REPO_ROOT

BASE = (REPO_ROOT / "tests" / "campaigns" / "minimal.yaml").read_text(encoding="utf-8")


def changed(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return BASE + "\n".join(lines) + "\n"


FIELD_LINE = "      - {code: so_sang_kien, label: Số sáng kiến, type: integer, min: 0}\ntargets"
# (id, file bytes, expected line (None: not tied to a line), words the message must contain)
CASES: list[tuple[str, bytes, int | None, tuple[str, ...]]] = [
    ("alias-bomb", alias_bomb().encode(), None, ("tham chiếu YAML", "lồng nhau quá nhiều")),
    (
        "alias-bomb-narrow",
        (
            BASE
            + "b0: &b0 [x, y, z]\n"
            + "".join(f"b{i}: &b{i} [*b{i - 1}, *b{i - 1}, *b{i - 1}]\n" for i in range(1, 22))
        ).encode(),
        None,
        ("tham chiếu YAML",),
    ),
    (
        "deep-flow-nesting",
        changed("theme: Thi đua thử nghiệm", "theme: " + "[" * 3000 + "]" * 3000).encode(),
        3,
        ("lồng nhau quá sâu",),
    ),
    (
        "deep-block-nesting",
        (BASE + "x:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 200))).encode(),
        None,
        ("lồng nhau quá sâu",),
    ),
    ("nul-byte", changed("title: Chiến dịch thử nghiệm", "title: Chiến dịch\x00thử").encode(), 2, ("U+0000", "cột")),
    ("bell-character", changed("theme: Thi đua thử nghiệm", "theme: Thi\x07đua").encode(), 3, ("U+0007",)),
    ("cp1258", BASE.encode("cp1258", errors="replace"), 3, ("không phải văn bản UTF-8", "Windows-1258")),
    ("utf16-bom", BASE.encode("utf-16"), 1, ("UTF-16",)),
    (
        "stray-byte",
        changed("theme: Thi đua thử nghiệm", "theme: Thi đua").encode().replace(b"Thi \xc4\x91ua", b"Thi \xff"),
        3,
        ("UTF-8", "0xFF"),
    ),
    (
        "latin1-title",
        changed("title: Chiến dịch thử nghiệm", "title: Café").encode().replace("é".encode(), b"\xe9"),
        2,
        ("UTF-8",),
    ),
    (
        "unclosed-double-quote",
        changed("title: Chiến dịch thử nghiệm", 'title: "Chiến dịch thử nghiệm').encode(),
        2,
        ("dấu nháy",),
    ),
    ("unclosed-single-quote", changed("theme: Thi đua thử nghiệm", "theme: 'Thi đua").encode(), 3, ("dấu nháy",)),
    ("tab-indent", changed("  department: Ban", "\tdepartment: Ban").encode(), 7, ("tab",)),
    (
        "colon-in-value",
        changed("title: Chiến dịch thử nghiệm", "title: Chiến dịch: thử: nghiệm").encode(),
        2,
        ("dấu ':'",),
    ),
    ("duplicate-key", changed("year: 2023", "year: 2023\nyear: 2024").encode(), None, ("lặp",)),
    (
        "python-tag",
        changed("title: Chiến dịch thử nghiệm", "title: !!python/object/apply:os.system ['ls']").encode(),
        2,
        ("thẻ YAML",),
    ),
    ("custom-tag", changed("theme: Thi đua thử nghiệm", "theme: !lenh rm").encode(), 3, ("thẻ YAML",)),
    (
        "iso-date-31-feb",
        changed("plan_issued_on: 15/02/2023", "plan_issued_on: 2023-02-31").encode(),
        9,
        ("plan_issued_on: giá trị '2023-02-31'", "ngày không tồn tại"),
    ),
    (
        "iso-date-month-13",
        changed("ends: 31/12/2023", "ends: 2023-13-01").encode(),
        11,
        ("ends: giá trị '2023-13-01'", "tháng phải từ 1 đến 12"),
    ),
    (
        "iso-datetime-hour-25",
        changed("due: 15/03/2023", "due: 2023-03-15t25:00:00").encode(),
        20,
        ("obligations[0].due: giá trị", "giờ phải từ 0 đến 23"),
    ),
    (
        "iso-datetime-with-time",
        changed("due: 15/03/2023", "due: 2023-03-15T08:00:00").encode(),
        20,
        ("obligations[0].due:", "không kèm giờ"),
    ),
    ("int-literal-0b_", changed("year: 2023", "year: 0b_").encode(), 4, ("year: giá trị '0b_'", "không phải số")),
    (
        "int-literal-0x__-in-list",
        changed("days_after_end: 10", "days_after_end: 0x__").encode(),
        28,
        ("obligations[1].due.days_after_end: giá trị '0x__'", "không phải số"),
    ),
    ("vn-date-30-feb", changed("due: 15/03/2023", "due: 30/02/2023").encode(), 20, ("ngày không hợp lệ", "30/02/2023")),
    ("date-with-time", changed("due: 15/03/2023", "due: 2023-03-15 08:00").encode(), 20, ("ngày không hợp lệ",)),
    ("month-13", changed("starts: 15/02/2023", "starts: 15/13/2023").encode(), 10, ("ngày không hợp lệ",)),
    ("year-text", changed("year: 2023", "year: hai nghìn").encode(), 4, ("year", "số nguyên")),
    ("year-huge", changed("year: 2023", "year: 99999999999999999999999").encode(), 4, ("year", "quá lớn")),
    ("code-too-long", changed("code: thu-nghiem", "code: " + "a" * 65).encode(), 1, ("code: dài quá 64 ký tự",)),
    (
        "rung-code-too-long",
        changed("{code: truoc-3,", "{code: " + "b" * 65 + ",").encode(),
        42,
        ("reminder_ladders[0].rungs[0].code: dài quá 64 ký tự",),
    ),
    ("code-uppercase", changed("code: thu-nghiem", "code: THU NGHIEM").encode(), 1, ("không đúng dạng",)),
    ("title-only-spaces", changed("title: Chiến dịch thử nghiệm", "title: '     '").encode(), 2, ("title", "để trống")),
    (
        "obligation-title-spaces",
        changed("    title: Đăng ký thi đua", "    title: '   '").encode(),
        18,
        ("obligations[0].title", "để trống"),
    ),
    ("target-inf", changed("value: 100", "value: .inf").encode(), 35, ("targets[0].value", "hữu hạn")),
    ("target-minus-inf", changed("value: 100", "value: -.inf").encode(), 35, ("targets[0].value",)),
    ("target-nan", changed("value: 100", "value: .nan").encode(), 35, ("targets[0].value",)),
    (
        "field-max-inf",
        changed(
            "type: integer, min: 0}\n  - code: so-ket-1", "type: integer, min: 0, max: .inf}\n  - code: so-ket-1"
        ).encode(),
        22,
        ("hữu hạn",),
    ),
    (
        "target-over-text-field",
        changed(FIELD_LINE, "      - {code: so_sang_kien, label: Số sáng kiến, type: text}\ntargets").encode(),
        37,
        ("targets[0].source.field", "kiểu 'text'"),
    ),
    (
        "target-over-date-field",
        changed(FIELD_LINE, "      - {code: so_sang_kien, label: Số sáng kiến, type: date}\ntargets").encode(),
        37,
        ("kiểu 'date'",),
    ),
    (
        "misspelled-top-key",
        changed("obligations:", "obligation:").encode(),
        None,
        ("obligations", "thiếu trường bắt buộc"),
    ),
    (
        "unknown-level-in-target",
        changed("    source: {obligations", "    scope_level: khong-co\n    source: {obligations").encode(),
        37,
        ("scope_level", "không có cấp 'khong-co'"),
    ),
    (
        "unknown-level-in-obligation",
        changed("levels: [cdcs]", "levels: [cdcs, xa-phuong]").encode(),
        19,
        ("không có cấp 'xa-phuong'",),
    ),
    ("catalogue-missing", (BASE + "awards:\n  catalogue: khong/co.yaml\n").encode(), 47, ("không tìm thấy danh mục",)),
    ("catalogue-is-folder", (BASE + "awards:\n  catalogue: calendars\n").encode(), 47, ("thư mục",)),
    (
        "holidays-missing",
        changed("holidays_file: calendars/vn_holidays.yaml", "holidays_file: khong-co.yaml").encode(),
        45,
        ("không tìm thấy tệp ngày nghỉ",),
    ),
    (
        "holidays-is-folder",
        changed("holidays_file: calendars/vn_holidays.yaml", "holidays_file: calendars").encode(),
        45,
        ("thư mục",),
    ),
    (
        "days-after-end-huge",
        changed("days_after_end: 10", "days_after_end: 100000000000000000000").encode(),
        28,
        ("quá lớn",),
    ),
    (
        "round-number-huge",
        changed("round: 1\n    title: Sơ kết", "round: 18446744073709551617\n    title: Sơ kết").encode(),
        25,
        ("không có đợt",),
    ),
    ("top-level-list", b"- code: a\n- code: b\n", 1, ("nhóm khóa",)),
    ("empty-file", b"", 1, ("nhóm khóa",)),
    ("binary-png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 1, ("không phải văn bản UTF-8", "0x89")),
    ("control-in-ascii-file", b"code: a\x01b\n", 1, ("U+0001", "cột 8")),
]


@pytest.mark.parametrize("case_id, content, line, words", CASES, ids=[c[0] for c in CASES])
def test_hostile_campaign_file_is_refused_by_validate_and_load(
    corpus: Corpus, case_id: str, content: bytes, line: int | None, words: tuple[str, ...]
) -> None:
    path = corpus.work / "campaigns" / f"{case_id}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    before = fingerprint(corpus.engine)
    for command in (["validate", str(path)], ["campaign", "load", str(path)]):
        code, out, result = corpus.run(*command)
        assert code == 1, (command, out)
        assert "Traceback" not in out and isinstance(result.exception, (SystemExit, type(None))), out
        located = f"{path}:{line}:" if line else f"{path}"
        assert located in out, (command, out)
        for word in words:
            assert word in out, (command, word, out)
    assert fingerprint(corpus.engine) == before


def test_a_directory_given_as_the_campaign_file(corpus: Corpus) -> None:
    before = fingerprint(corpus.engine)
    for command in (["validate", str(corpus.work)], ["campaign", "load", str(corpus.work)]):
        code, out, _ = corpus.run(*command)
        assert code == 1 and "thư mục" in out and "Traceback" not in out, out
    assert fingerprint(corpus.engine) == before


def test_a_file_of_no_known_kind_is_not_validated_as_an_award_catalogue(corpus: Corpus) -> None:
    path = corpus.work / "la.yaml"
    path.write_text("ten: chien dich\nnam: 2023\n", encoding="utf-8")
    code, out, _ = corpus.run("validate", str(path))
    assert code == 1 and f"{path}:1:" in out and "không nhận ra loại tệp" in out, out
    assert "regulation" not in out  # not read as an award catalogue
