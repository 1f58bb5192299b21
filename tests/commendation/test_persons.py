"""The persons register: XLSX import with located errors (nothing written when there is one), identity across
years, award history, and the catalogue's history rules when a registered person is proposed."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlmodel import Session

from tests.nominations.conftest import CATALOGUE, DEC_20, World
from thidua.models.nominations import InvalidNominationInput, Nomination, RulesRefused
from thidua.models.persons import Person, PersonAward
from thidua.services.commendation import decisions, persons

AWARDS = {a.code: a.name for a in CATALOGUE.awards}
HEAD = ["Mã đơn vị", "Họ và tên", "Chức vụ", "Năm sinh", "Số định danh", "Loại"]


def workbook(path: Path, people: list[list], awards: list[list] | None = None) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = "Đoàn viên"
    sheet.append(HEAD)
    for row in people:
        sheet.append(row)
    if awards is not None:
        history = book.create_sheet("Khen thưởng")
        history.append(["Số định danh", "Mã đơn vị", "Họ và tên", "Năm sinh", "Năm", "Hình thức", "Số quyết định"])
        for row in awards:
            history.append(row)
    book.save(path)
    return path


def count(world: World, table) -> int:  # noqa: ANN001
    with Session(world.engine) as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


def test_import_reports_every_error_with_sheet_row_and_column_and_writes_nothing(world: World, tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "doan-vien.xlsx",
        [
            ["BDH.D1.1", "Nguyễn Văn An", "Tổ trưởng", 1985, "079085000001", "Đoàn viên"],
            ["BDH.X", "Trần Thị Bình", "", "một chín tám", "", "Đoàn viên"],
            ["BDH.D1.2", "", "", 1990, "12345", "Thủ quỹ"],
            ["BDH.D1.3", "Lê Văn Cường", "", 1979, "079085000001", "Cán bộ công đoàn"],
        ],
        awards=[
            ["", "BDH.D1.1", "Người Lạ", 1970, 2021, "bang-khen-ldld-tinh", "1/QĐ"],
            ["079085000001", "", "", "", 2021, "khong-co", ""],
        ],
    )
    with pytest.raises(persons.PersonImportError) as refused:
        persons.import_persons(world.engine, path, actor="test", award_codes=AWARDS)
    problems = refused.value.problems
    assert "doan-vien.xlsx, trang 'Đoàn viên', dòng 3, cột 'Mã đơn vị': không có đơn vị mã 'BDH.X'" in problems
    assert (
        "doan-vien.xlsx, trang 'Đoàn viên', dòng 3, cột 'Năm sinh': 'một chín tám' không phải năm (số nguyên)"
        in problems
    )
    assert "doan-vien.xlsx, trang 'Đoàn viên', dòng 4, cột 'Họ và tên': bỏ trống" in problems
    assert any("dòng 4, cột 'Số định danh': '12345' phải gồm 12 chữ số" in p for p in problems)
    assert any("dòng 4, cột 'Loại': 'Thủ quỹ'" in p for p in problems)
    assert "doan-vien.xlsx, trang 'Đoàn viên', dòng 5, cột 'Số định danh': trùng với dòng 2" in problems
    assert any(p.startswith("doan-vien.xlsx, trang 'Khen thưởng', dòng 2: không có 'Người Lạ'") for p in problems)
    assert (
        "doan-vien.xlsx, trang 'Khen thưởng', dòng 3, cột 'Hình thức': không có hình thức 'khong-co' trong danh mục khen thưởng"
        in problems
    )
    assert count(world, Person) == 0 and count(world, PersonAward) == 0


def test_identity_across_years_follows_the_id_number_or_unit_name_and_birth_year(world: World, tmp_path: Path) -> None:
    first = persons.import_persons(
        world.engine,
        workbook(
            tmp_path / "2022.xlsx",
            [
                ["BDH.D1.1", "Nguyễn Văn An", "Tổ trưởng", 1985, "079085000001", "Đoàn viên"],
                ["BDH.D1.2", "Trần  Thị Bình", "Chủ tịch CĐCS", 1980, "", "Cán bộ công đoàn"],
            ],
            awards=[["079085000001", "", "", "", 2021, "bang-khen-ldld-tinh", "12/QĐ-LĐLĐ"]],
        ),
        actor="test",
        award_codes=AWARDS,
    )
    assert (first.created, first.updated, first.awards) == (2, 0, 1)
    # next year: An moved to another CĐCS (same ID number); Bình's position changed (same unit, name, birth year)
    second = persons.import_persons(
        world.engine,
        workbook(
            tmp_path / "2023.xlsx",
            [
                ["BDH.D2.1", "Nguyễn Văn An", "Tổ phó", 1985, "079085000001", "Đoàn viên"],
                ["BDH.D1.2", "trần thị bình", "Phó Chủ tịch CĐCS", 1980, "", "Cán bộ công đoàn"],
                ["BDH.D1.3", "Lê Văn Cường", "", None, "", ""],
            ],
            awards=[["079085000001", "", "", "", 2021, "bang-khen-ldld-tinh", "12/QĐ-LĐLĐ"]],
        ),
        actor="test",
        award_codes=AWARDS,
    )
    assert (second.created, second.updated, second.awards) == (1, 2, 0)  # the same award is not added twice
    assert count(world, Person) == 3
    people = {p.full_name: p for p in persons.persons_in_subtree(world.engine, world.units["BDH"])}
    an = people["Nguyễn Văn An"]
    assert (an.unit_code, an.position) == ("BDH.D2.1", "Tổ phó")
    assert [h["award_code"] for h in persons.history(world.engine, an.id)] == ["bang-khen-ldld-tinh"]
    in_district = persons.persons_in_subtree(world.engine, world.units["BDH.D1"])
    assert [(p.full_name, p.position) for p in in_district] == [
        ("trần thị bình", "Phó Chủ tịch CĐCS"),
        ("Lê Văn Cường", ""),
    ]


def _person(world: World, tmp_path: Path, awards: list[list]) -> persons.PersonView:
    persons.import_persons(
        world.engine,
        workbook(
            tmp_path / "dv.xlsx",
            [["BDH.D1.1", "Nguyễn Văn An", "Tổ trưởng", 1985, "079085000001", "Đoàn viên"]],
            awards=awards,
        ),
        actor="test",
        award_codes=AWARDS,
    )
    return persons.persons_in_subtree(world.engine, world.units["BDH.D1.1"])[0]


def _propose(world: World, person: persons.PersonView, award: str) -> int:
    (nid,) = world.propose("BDH.D1.1", world.proposal(award, "BDH.D1.1", person=person.full_name, person_id=person.id))
    return nid


@pytest.mark.parametrize(
    "years, refused", [([2020, 2021, 2022], False), ([2021, 2022], False), ([2022], True), ([2019, 2022], True)]
)
def test_bang_khen_tld_needs_provincial_bang_khen_in_two_of_the_last_three_years(
    world: World, tmp_path: Path, years, refused
) -> None:
    person = _person(
        world, tmp_path, [["079085000001", "", "", "", y, "bang-khen-ldld-tinh", f"{y}/QĐ"] for y in years]
    )
    if not refused:
        nid = _propose(world, person, "bang-khen-tld")
        with Session(world.engine) as session:
            assert session.get(Nomination, nid).person_id == person.id
        return
    with pytest.raises(RulesRefused, match=r"ít nhất 2 năm trong 3 năm 2020–2022; có ở các năm 2022") as caught:
        _propose(world, person, "bang-khen-tld")
    assert caught.value.rules() == {"lich-su:prior_awards"}


def test_not_the_same_form_as_last_year(world: World, tmp_path: Path) -> None:
    person = _person(world, tmp_path, [["079085000001", "", "", "", 2022, "bang-khen-ldld-tinh", "9/QĐ"]])
    with pytest.raises(RulesRefused, match="đã được Bằng khen của Liên đoàn Lao động tỉnh \\(toàn diện\\) năm 2022"):
        _propose(world, person, "bang-khen-ldld-tinh")
    assert _propose(world, person, "bang-khen-ldld-tinh-chuyen-de")  # another form is fine


def test_a_history_rule_needs_the_person_from_the_register(world: World) -> None:
    with pytest.raises(RulesRefused, match="hãy chọn Nguyễn Văn An trong sổ đoàn viên"):
        world.propose("BDH.D1.1", world.proposal("bang-khen-tld", "BDH.D1.1", person="Nguyễn Văn An"))


def test_the_register_person_must_match_the_proposal(world: World, tmp_path: Path) -> None:
    person = _person(world, tmp_path, [])
    with pytest.raises(InvalidNominationInput, match="khác sổ đoàn viên"):
        world.propose(
            "BDH.D1.1", world.proposal("bang-khen-ldld-tinh", "BDH.D1.1", person="Nguyễn Văn Ân", person_id=person.id)
        )


def test_a_decision_enters_the_history_and_a_revocation_takes_it_out(world: World, tmp_path: Path) -> None:
    person = _person(world, tmp_path, [])
    (nid,) = world.propose(
        "BDH.D1.1",
        world.proposal("bang-khen-ldld-tinh", "BDH.D1.1", person=person.full_name, person_id=person.id),
        send="05/TTr",
    )
    world.approve("BDH.D1", [nid], datetime(2023, 11, 15, 9))
    world.send("BDH.D1", "40/TTr", datetime(2023, 11, 16, 9))
    issued = decisions.issue_decision(
        world.engine,
        world.campaign_id,
        world.actor("BDH"),
        decisions.DecisionInput(date(2023, 12, 20), "Nguyễn Văn Bình"),
        nomination_ids=[nid],
        now=DEC_20,
    )
    (entry,) = persons.history(world.engine, person.id)
    assert (entry["year"], entry["award_code"], entry["decision_symbol"], entry["revoked"]) == (
        2023,
        "bang-khen-ldld-tinh",
        issued.symbol,
        False,
    )
    decisions.revoke_decision(world.engine, issued.id, world.actor("BDH"), reason="Khai man", now=datetime(2024, 1, 5))
    assert persons.history(world.engine, person.id)[0]["revoked"] is True
