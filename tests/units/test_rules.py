"""Pure rules of models.hierarchy that the import tests do not pin down on their own."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email

from thidua.models.hierarchy import normalize_email, parse_active, parse_emails, parse_sector, path_ids, path_prefix_len

pytestmark = pytest.mark.domain  # pure rules: `make test-fast`

ADDRESSES = [
    "a@x.vn",
    "Van.Phong@LDLD.BinhDinh.VN",
    "a+b@x.vn",
    "a_b%c@x.vn",
    "a-b@sub.x-y.vn",
    "a..b@x.vn",
    ".a@x.vn",
    "a.@x.vn",
    "a@-x.vn",
    "a@x-.vn",
    "a@x",
    "a@x.test",
    "a@x.local",
    "a@localhost",
    "a@x.123",
    "a@x.vn.",
    "@x.vn",
    "a@",
    "a b@x.vn",
    "thư@ví.dụ.vn",
    "a@xn--d1acufc.xn--p1ai",
    "l" * 64 + "@x.vn",
    "l" * 65 + "@x.vn",
    "a@" + "d" * 63 + ".vn",
    "a@" + "d" * 64 + ".vn",
    "a@" + ".".join(["d" * 60] * 4) + ".vn",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_email_fast_path_agrees_with_email_validator(address):
    try:
        expected = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    try:
        found = normalize_email(address)
    except ValueError:
        found = None
    assert found == expected


def test_email_cells_split_dedupe_and_report():
    assert parse_emails("a@x.vn; B@X.VN , a@x.vn") == (["a@x.vn", "B@x.vn"], [])
    assert parse_emails(["a@x.vn", "sai"]) == (["a@x.vn"], ["địa chỉ e-mail không hợp lệ: 'sai'"])
    assert parse_emails(None) == ([], [])


def test_active_and_sector_words():
    assert [parse_active(v) for v in ("có", "CÓ", "x", "1", "true", True, 1, None, "")] == [True] * 9
    assert [parse_active(v) for v in ("không", "Khong", "0", "false", False, 0)] == [False] * 6
    with pytest.raises(ValueError):
        parse_active("có lẽ")
    assert [parse_sector(v) for v in ("SXKD", " Hành chính  sự nghiệp ", None)] == ["sxkd", "hcsn", None]


def test_path_helpers():
    assert path_ids("00000001.00000017.") == [1, 17]
    assert path_prefix_len(0) == 9 and path_prefix_len(2) == 27
