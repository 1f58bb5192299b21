"""Unit attributes: declared in config/unit_attributes.yaml, imported from the same files as the units
(YAML key, CSV/XLSX column by code or label), typed, with located errors; an empty cell clears a value."""

from __future__ import annotations


import pytest
from sqlalchemy import select
from sqlmodel import Session

from thidua.models.spec.problems import SpecError
from thidua.models.tables import Unit
from thidua.services.units import import_units, load_levels

TREE = """units:
  - {code: TLD, name: Tổng LĐLĐ, level: tong_ldld}
  - {code: P, name: LĐLĐ tỉnh, level: ldld_tinh, parent: TLD}
  - {code: P.D, name: LĐLĐ huyện, level: cap_tren_truc_tiep, parent: P}
"""


def attributes(engine) -> dict[str, dict]:
    with Session(engine) as session:
        return dict(session.execute(select(Unit.code, Unit.attributes)).all())


@pytest.fixture
def tree(engine, tmp_path):
    load_levels(engine)
    path = tmp_path / "tree.yaml"
    path.write_text(TREE, encoding="utf-8")
    import_units(engine, path)
    return engine


def test_yaml_and_csv_attributes_are_typed_and_merged(tree, tmp_path):
    yaml_file = tmp_path / "a.yaml"
    yaml_file.write_text(
        "units:\n"
        "  - code: P.D.1\n    name: CĐCS Công ty A\n    level: cdcs\n    parent: P.D\n"
        "    attributes: {so_huu: fdi, du_dk_nu_cong: có, so_doan_vien: 120, nhan: [khu công nghiệp]}\n",
        encoding="utf-8",
    )
    import_units(tree, yaml_file)
    assert attributes(tree)["P.D.1"] == {
        "so_huu": "FDI",
        "du_dk_nu_cong": True,
        "so_doan_vien": 120,
        "nhan": ["khu công nghiệp"],
    }
    csv_file = tmp_path / "b.csv"
    csv_file.write_text(
        "ma_don_vi,ten_don_vi,cap,ma_cap_tren,Loại hình sở hữu,so_doan_vien\n"
        "P.D.1,CĐCS Công ty A,cdcs,P.D,Ngoài nhà nước,\n"  # the empty cell clears so_doan_vien
        "P.D.2,CĐCS Trường B,cdcs,P.D,nhà nước,35\n",
        encoding="utf-8",
    )
    report = import_units(tree, csv_file)
    assert report.updated == ["P.D.1"] and report.created == ["P.D.2"]
    stored = attributes(tree)
    # columns absent from the CSV (du_dk_nu_cong, nhan) keep their values
    assert stored["P.D.1"] == {"so_huu": "ngoài nhà nước", "du_dk_nu_cong": True, "nhan": ["khu công nghiệp"]}
    assert stored["P.D.2"] == {"so_huu": "nhà nước", "so_doan_vien": 35}
    assert stored["P"] == {}
    again = import_units(tree, csv_file)
    assert again.changed == 0


def test_bad_attribute_values_are_located_and_nothing_changes(tree, tmp_path):
    before = attributes(tree)
    csv_file = tmp_path / "c.csv"
    csv_file.write_text(
        "ma_don_vi,ten_don_vi,cap,ma_cap_tren,so_huu,Số đoàn viên\n"
        "P.D.3,CĐCS C,cdcs,P.D,tư nhân,12\n"
        "P.D.4,CĐCS D,cdcs,P.D,FDI,mười\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError) as caught:
        import_units(tree, csv_file)
    shown = [str(p) for p in caught.value.problems]
    assert any(s.startswith(f"{csv_file}:2: so_huu:") and "tư nhân" in s for s in shown), shown
    assert any(s.startswith(f"{csv_file}:3: Số đoàn viên:") and "số nguyên" in s for s in shown), shown
    yaml_file = tmp_path / "d.yaml"
    yaml_file.write_text(
        "units:\n  - code: P.D.5\n    name: CĐCS E\n    level: cdcs\n    parent: P.D\n"
        "    attributes:\n      so_huu: FDI\n      mau_co: do\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError) as caught:
        import_units(tree, yaml_file)
    [problem] = caught.value.problems
    assert (problem.line, problem.field) == (
        8,
        "units[0].attributes.mau_co",
    ) and "không có thuộc tính" in problem.message
    assert attributes(tree) == before
