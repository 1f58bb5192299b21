"""Reorganising the tree at an effective date: each operation, as-of queries before and after, bad files."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any, Sequence

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlmodel import Session

from thidua.models.hierarchy import subtree_upper_bound
from thidua.models.spec.problems import SpecError
from thidua.models.tables import AuditLog, Unit
from thidua.models.unit_history import Reorganisation, ReorganisationStep, UnitVersion
from thidua.services.reorganisation import reorganise
from thidua.services.unit_history import children_as_of, subtree_as_of, unit_as_of, unit_versions
from tests.factories import add_unit, small_binh_dinh

HEADER = ("ngay_hieu_luc", "thao_tac", "ma_don_vi", "ma_ke_thua", "ten_don_vi", "cap", "ma_cap_tren")
TODAY = date(2025, 7, 15)
DAY = date(2025, 7, 1)
BEFORE = date(2025, 6, 30)


def write_changes(path: Path, rows: Sequence[Sequence[Any]], header: Sequence[str] = HEADER) -> Path:
    if path.suffix == ".xlsx":
        book = Workbook()
        sheet = book.active
        sheet.append(list(header))
        for row in rows:
            sheet.append(list(row))
        book.save(path)
        return path
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def two_provinces(session: Session) -> dict[str, Unit]:
    """TLD → BDH (D1, D2 × 3 CĐCS) and GLI (G1 × 2 CĐCS)."""
    units = small_binh_dinh(session, districts=2, cdcs_per_district=3)
    units["GLI"] = add_unit(session, "GLI", "Liên đoàn Lao động tỉnh Gia Lai", "ldld_tinh", units["TLD"])
    units["GLI.G1"] = add_unit(session, "GLI.G1", "LĐLĐ thành phố Pleiku", "cap_tren_truc_tiep", units["GLI"])
    for k in (1, 2):
        units[f"GLI.G1.{k}"] = add_unit(session, f"GLI.G1.{k}", f"CĐCS Pleiku {k} (giả lập)", "cdcs", units["GLI.G1"])
    session.commit()
    return units


@pytest.fixture
def tree(any_db):
    with Session(any_db) as session:
        two_provinces(session)
    return any_db


def apply(engine, tmp_path: Path, rows, *, name: str = "thay_doi.csv", dry_run: bool = False, today: date = TODAY):
    return reorganise(engine, write_changes(tmp_path / name, rows), dry_run=dry_run, today=today)


def _parent_code(session: Session, code: str, day: date) -> str | None:
    unit = unit_as_of(session, code, day)
    assert unit is not None, code
    if unit.parent_id is None:
        return None
    return session.get(Unit, unit.parent_id).code


def _codes_under(session: Session, code: str, day: date) -> list[str]:
    unit = unit_as_of(session, code, day)
    return sorted(u.code for u in subtree_as_of(session, unit, day) if u.active and u.code != code)


def _current_tree_is_consistent(session: Session) -> None:
    """Every path is the parent's path plus the unit's own segment (the range queries rely on it)."""
    units = {u.id: u for u in session.execute(select(Unit)).scalars()}
    for unit in units.values():
        parent_path = units[unit.parent_id].path if unit.parent_id else ""
        assert unit.path == parent_path + f"{unit.id:08d}.", unit.code
        assert unit.depth == unit.path.count(".") - 1


def test_create_then_as_of(tree, tmp_path):
    apply(tree, tmp_path, [("01/07/2025", "tao_moi", "BDH.D3", "", "Công đoàn xã Mới", "cap_tren_truc_tiep", "BDH")])
    with Session(tree) as session:
        assert unit_as_of(session, "BDH.D3", BEFORE) is None
        assert unit_as_of(session, "BDH.D3", DAY).name == "Công đoàn xã Mới"
        assert "BDH.D3" in [u.code for u in children_as_of(session, session.get(Unit, 2).id, DAY)]
        assert "BDH.D3" not in [u.code for u in children_as_of(session, session.get(Unit, 2).id, BEFORE)]
        _current_tree_is_consistent(session)


def test_rename_then_as_of(tree, tmp_path):
    apply(tree, tmp_path, [("01/07/2025", "Đổi tên", "BDH.D1", "", "Công đoàn khu vực Quy Nhơn", "", "")])
    with Session(tree) as session:
        assert unit_as_of(session, "BDH.D1", BEFORE).name == "LĐLĐ huyện Thử Nghiệm 1"
        assert unit_as_of(session, "BDH.D1", DAY).name == "Công đoàn khu vực Quy Nhơn"
        history = unit_versions(session, unit_as_of(session, "BDH.D1", DAY).id)
        assert [(v.valid_from, v.valid_to) for v in history] == [(None, DAY), (DAY, None)]


def test_move_subtree_then_as_of(tree, tmp_path):
    apply(tree, tmp_path, [("01/07/2025", "chuyen", "BDH.D2", "", "", "", "GLI")])
    with Session(tree) as session:
        assert _parent_code(session, "BDH.D2", BEFORE) == "BDH"
        assert _parent_code(session, "BDH.D2", DAY) == "GLI"
        assert _codes_under(session, "GLI", BEFORE) == ["GLI.G1", "GLI.G1.1", "GLI.G1.2"]
        assert _codes_under(session, "GLI", DAY) == [
            "BDH.D2",
            "BDH.D2.1",
            "BDH.D2.2",
            "BDH.D2.3",
            "GLI.G1",
            "GLI.G1.1",
            "GLI.G1.2",
        ]
        assert _codes_under(session, "BDH", BEFORE) == [
            "BDH.D1",
            "BDH.D1.1",
            "BDH.D1.2",
            "BDH.D1.3",
            "BDH.D2",
            "BDH.D2.1",
            "BDH.D2.2",
            "BDH.D2.3",
        ]
        assert _codes_under(session, "BDH", DAY) == ["BDH.D1", "BDH.D1.1", "BDH.D1.2", "BDH.D1.3"]
        _current_tree_is_consistent(session)


def test_merge_two_provinces_into_a_new_one(tree, tmp_path):
    report = apply(
        tree,
        tmp_path,
        [
            ("01/07/2025", "sap_nhap", "BDH; GLI", "GLM", "Liên đoàn Lao động tỉnh Gia Lai (mới)", "", "TLD"),
        ],
    )
    assert report.counts["merge"] == 1
    with Session(tree) as session:
        assert unit_as_of(session, "GLM", BEFORE) is None
        assert _codes_under(session, "GLM", DAY) == sorted(
            ["BDH.D1", "BDH.D2", "GLI.G1"]
            + [f"BDH.D{d}.{k}" for d in (1, 2) for k in (1, 2, 3)]
            + ["GLI.G1.1", "GLI.G1.2"]
        )
        assert unit_as_of(session, "BDH", DAY).active is False
        assert unit_as_of(session, "BDH", BEFORE).active is True
        assert _codes_under(session, "BDH", BEFORE)[:1] == ["BDH.D1"]
        # the ended provinces sit (inactive) under their successor: its range covers their past figures
        glm = unit_as_of(session, "GLM", DAY)
        bdh_now = session.scalars(select(Unit).where(Unit.code == "BDH")).one()
        assert glm.path <= bdh_now.path < subtree_upper_bound(glm.path)
        ended = session.execute(
            select(ReorganisationStep.unit_id, ReorganisationStep.successor_unit_id).where(
                ReorganisationStep.kind == "ended"
            )
        ).all()
        assert {session.get(Unit, u).code: session.get(Unit, s).code for u, s in ended} == {"BDH": "GLM", "GLI": "GLM"}
        _current_tree_is_consistent(session)


def test_merge_into_an_existing_unit(tree, tmp_path):
    apply(tree, tmp_path, [("01/07/2025", "sáp nhập", "BDH", "GLI", "", "", "")])
    with Session(tree) as session:
        assert "BDH.D1" in _codes_under(session, "GLI", DAY)
        assert "BDH.D1" not in _codes_under(session, "GLI", BEFORE)
        assert unit_as_of(session, "BDH", DAY).active is False


def test_split_then_as_of(tree, tmp_path):
    apply(
        tree,
        tmp_path,
        [
            ("01/07/2025", "tao_moi", "BDH.N", "", "Công đoàn khu vực phía Bắc", "cap_tren_truc_tiep", "BDH"),
            ("01/07/2025", "tao_moi", "BDH.S", "", "Công đoàn khu vực phía Nam", "cap_tren_truc_tiep", "BDH"),
            ("01/07/2025", "chuyen", "BDH.D1.3", "", "", "", "BDH.S"),
            ("01/07/2025", "chia_tach", "BDH.D1", "BDH.N; BDH.S", "", "", ""),
        ],
    )
    with Session(tree) as session:
        assert _codes_under(session, "BDH.N", DAY) == ["BDH.D1.1", "BDH.D1.2"]
        assert _codes_under(session, "BDH.S", DAY) == ["BDH.D1.3"]
        assert _codes_under(session, "BDH.D1", BEFORE) == ["BDH.D1.1", "BDH.D1.2", "BDH.D1.3"]
        assert unit_as_of(session, "BDH.D1", DAY).active is False
        # BDH.D1.3 moved twice on the same date: one closed version, not two
        moved = unit_as_of(session, "BDH.D1.3", DAY)
        assert [(v.valid_from, v.valid_to) for v in unit_versions(session, moved.id)] == [(None, DAY), (DAY, None)]
        _current_tree_is_consistent(session)


def test_dissolve_districts_children_go_to_the_successor(tree, tmp_path):
    path = tmp_path / "giai_the.xlsx"
    write_changes(
        path,
        [
            ("01/07/2025", "giai_the", "BDH.D1", "BDH", "", "", ""),
            ("01/07/2025", "giai_the", "BDH.D2", "BDH", "", "", ""),
        ],
    )
    reorganise(tree, path, today=TODAY)
    with Session(tree) as session:
        assert [u.code for u in children_as_of(session, unit_as_of(session, "BDH", DAY).id, DAY) if u.active] == [
            f"BDH.D{d}.{k}" for d in (1, 2) for k in (1, 2, 3)
        ]
        assert _parent_code(session, "BDH.D1.1", BEFORE) == "BDH.D1"
        assert _parent_code(session, "BDH.D1.1", DAY) == "BDH"
        assert unit_as_of(session, "BDH.D1", DAY).active is False
        _current_tree_is_consistent(session)


def test_later_reorganisation_keeps_earlier_versions(tree, tmp_path):
    apply(tree, tmp_path, [("01/07/2025", "chuyen", "BDH.D2", "", "", "", "GLI")], name="a.csv")
    apply(tree, tmp_path, [("10/07/2025", "doi_ten", "BDH.D2", "", "Tên thứ ba", "", "")], name="b.csv")
    with Session(tree) as session:
        assert _parent_code(session, "BDH.D2", BEFORE) == "BDH"
        assert unit_as_of(session, "BDH.D2", date(2025, 7, 5)).name == "LĐLĐ huyện Thử Nghiệm 2"
        assert _parent_code(session, "BDH.D2", date(2025, 7, 5)) == "GLI"
        assert unit_as_of(session, "BDH.D2", date(2025, 7, 10)).name == "Tên thứ ba"


def test_dry_run_lists_consequences_and_changes_nothing(tree, tmp_path):
    with Session(tree) as session:
        before = session.execute(
            select(Unit.code, Unit.parent_id, Unit.path, Unit.active, Unit.name).order_by(Unit.id)
        ).all()
    report = apply(
        tree,
        tmp_path,
        [
            ("01/07/2025", "sap_nhap", "BDH; GLI", "GLM", "LĐLĐ tỉnh Gia Lai (mới)", "", "TLD"),
            ("01/07/2025", "giai_the", "BDH.D1", "GLM", "", "", ""),
        ],
        dry_run=True,
    )
    text = "\n".join(c.text for c in report.consequences)
    assert "tạo 'GLM'" in text and "'BDH' ngừng hoạt động từ 01/07/2025" in text
    assert "3 đơn vị trực thuộc 'BDH.D1' chuyển sang 'GLM'" in text
    with Session(tree) as session:
        after = session.execute(
            select(Unit.code, Unit.parent_id, Unit.path, Unit.active, Unit.name).order_by(Unit.id)
        ).all()
        assert after == before
        assert session.scalar(select(func.count()).select_from(UnitVersion)) == 0
        assert session.scalar(select(func.count()).select_from(Reorganisation)) == 0
        assert session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.entity != "level")) == 0


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_bad_rows_refused_with_locations_and_nothing_applied(tree, tmp_path, suffix):
    rows = [
        ("01/07/2025", "tao_moi", "BDH.D9", "", "Hợp lệ", "cap_tren_truc_tiep", "BDH"),  # fine on its own
        ("31/06/2025", "doi_ten", "BDH.D1", "", "X", "", ""),  # row 3: impossible date
        ("01/07/2025", "gop", "BDH.D1", "", "", "", ""),  # row 4: unknown operation
        ("01/07/2025", "chuyen", "BDH.D1", "", "", "", "BDH.D1.1"),  # row 5: into itself
        ("01/07/2025", "giai_the", "BDH.D2", "", "", "", ""),  # row 6: children but no successor
        ("01/07/2025", "sap_nhap", "BDH;KHONGCO", "GLI", "", "", ""),  # row 7: unknown unit
        ("01/07/2025", "tao_moi", "BDH.D8", "", "Cấp sai", "ldld_tinh", "BDH"),  # row 8: level not below parent
        ("01/08/2025", "doi_ten", "BDH.D1", "", "Tương lai", "", ""),  # row 9: after today
    ]
    with pytest.raises(SpecError) as caught:
        reorganise(tree, write_changes(tmp_path / f"xau{suffix}", rows), today=TODAY)
    located = {(p.line, p.field) for p in caught.value.problems}
    assert located == {
        (3, "ngay_hieu_luc"),
        (4, "thao_tac"),
        (5, "ma_cap_tren"),
        (6, "ma_ke_thua"),
        (7, "ma_don_vi"),
        (8, "cap"),
        (9, "ngay_hieu_luc"),
    }
    messages = {p.line: p.message for p in caught.value.problems}
    assert "ngày không hợp lệ" in messages[3] and "thao tác không hợp lệ" in messages[4]
    assert "KHONGCO" in messages[7] and "chưa đến" in messages[9]
    with Session(tree) as session:
        assert session.scalars(select(Unit).where(Unit.code == "BDH.D9")).first() is None
        assert session.scalar(select(func.count()).select_from(Reorganisation)) == 0


def test_dates_must_not_go_back_before_the_last_reorganisation(tree, tmp_path):
    apply(tree, tmp_path, [("01/07/2025", "doi_ten", "BDH.D1", "", "A", "", "")], name="a.csv")
    with pytest.raises(SpecError) as caught:
        apply(tree, tmp_path, [("30/06/2025", "doi_ten", "BDH.D2", "", "B", "", "")], name="b.csv")
    assert [(p.line, p.field) for p in caught.value.problems] == [(2, "ngay_hieu_luc")]


def test_missing_column_is_refused(tree, tmp_path):
    path = write_changes(tmp_path / "thieu.csv", [("BDH.D1", "doi_ten")], header=("ma_don_vi", "thao_tac"))
    with pytest.raises(SpecError) as caught:
        reorganise(tree, path, today=TODAY)
    assert [(p.line, p.field) for p in caught.value.problems] == [(1, "ngay_hieu_luc")]


DATED_LEVELS = """
levels:
  - {code: tong_ldld, name: Tổng Liên đoàn Lao động Việt Nam, short_name: Tổng LĐLĐ}
  - {code: ldld_tinh, name: Liên đoàn Lao động tỉnh, short_name: LĐLĐ tỉnh}
  - {code: cap_tren_truc_tiep, name: Công đoàn cấp trên trực tiếp cơ sở, short_name: CĐ cấp trên, valid_to: 01/07/2025}
  - {code: cd_cap_xa, name: Công đoàn cấp xã, short_name: CĐ cấp xã, valid_from: 01/07/2025}
  - {code: cdcs, name: Công đoàn cơ sở, short_name: CĐCS}
"""


def test_dated_level_catalogue_governs_new_units(tree, tmp_path):
    from thidua.services.units import load_levels

    levels_file = tmp_path / "levels.yaml"
    levels_file.write_text(DATED_LEVELS, encoding="utf-8")
    load_levels(tree, levels_file)
    with pytest.raises(SpecError) as caught:
        apply(
            tree,
            tmp_path,
            [
                ("30/06/2025", "tao_moi", "BDH.X0", "", "Xã sớm", "cd_cap_xa", "BDH"),  # the level starts on 01/07
                (
                    "01/07/2025",
                    "tao_moi",
                    "BDH.H9",
                    "",
                    "Huyện mới",
                    "cap_tren_truc_tiep",
                    "BDH",
                ),  # the level has ended
            ],
        )
    assert [(p.line, p.field) for p in caught.value.problems] == [(2, "cap"), (3, "cap")]
    assert "không còn (hoặc chưa) áp dụng vào ngày 30/06/2025" in caught.value.problems[0].message
    report = apply(
        tree,
        tmp_path,
        [
            ("01/07/2025", "tao_moi", "BDH.X1", "", "Công đoàn phường Quy Nhơn", "CĐ cấp xã", "BDH"),
            ("01/07/2025", "giai_the", "BDH.D1", "BDH.X1", "", "", ""),
        ],
    )
    assert report.warnings == [
        "cấp 'CĐ cấp trên' hết hiệu lực từ 01/07/2025 nhưng còn 2 đơn vị đang hoạt động ở cấp này"
    ]
    with Session(tree) as session:
        assert _codes_under(session, "BDH.X1", DAY) == ["BDH.D1.1", "BDH.D1.2", "BDH.D1.3"]


def test_the_2026_level_catalogue_loads_over_the_stored_tree(tree):
    from thidua.services.units import load_level_index, load_levels
    from thidua.settings import CONFIG_DIR

    report = load_levels(tree, CONFIG_DIR / "levels_2026.yaml")
    assert report.created == ["cd_cap_xa"] and "cdcs" in report.updated
    with Session(tree) as session:
        level = load_level_index(session).by_code["cd_cap_xa"]
        assert (level.rank, level.valid_from, level.valid_to) == (3, date(2025, 7, 1), None)
