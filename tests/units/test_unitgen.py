"""Synthetic unit generators: deterministic, plausible, and importable."""

from __future__ import annotations

from collections import Counter

from thidua.unitgen import BINH_DINH_SUPERIORS, CSV_COLUMNS, binh_dinh_cdcs, national_tree, write_units_csv
from thidua.services.units import import_units
from thidua.settings import CONFIG_DIR
from tests.units.helpers import units_by_code


def test_binh_dinh_cdcs_is_deterministic_and_plausible():
    rows = binh_dinh_cdcs()
    assert rows == binh_dinh_cdcs(seed=2023) and rows != binh_dinh_cdcs(seed=1)
    assert len(rows) == 1200 and len({r["ma_don_vi"] for r in rows}) == 1200
    assert {r["ma_cap_tren"] for r in rows} == {s.code for s in BINH_DINH_SUPERIORS}
    assert all(r["ten_don_vi"].startswith("CĐCS ") and r["ten_don_vi"].endswith("(giả lập)") for r in rows)
    assert all(all(e.endswith(".example.vn") for e in r["email"].split("; ")) for r in rows)
    assert {len(r["email"].split("; ")) for r in rows} == {1, 2}
    inactive = sum(r["hoat_dong"] == "không" for r in rows)
    assert 5 <= inactive <= 60

    def sxkd_share(parent: str) -> float:
        mine = [r for r in rows if r["ma_cap_tren"] == parent]
        return sum(r["khu_vuc"] == "sxkd" for r in mine) / len(mine)

    assert sxkd_share("BDH.GD") < 0.15 and sxkd_share("BDH.YT") < 0.2 and sxkd_share("BDH.VC") < 0.2
    assert sxkd_share("BDH.KKT") > 0.8 and sxkd_share("BDH.CT") > 0.75
    assert 0.3 < sxkd_share("BDH.QNH") < 0.85


def test_committed_csv_is_the_generator_output(tmp_path):
    write_units_csv(binh_dinh_cdcs(), tmp_path / "bd.csv")
    assert (tmp_path / "bd.csv").read_bytes() == (CONFIG_DIR / "units" / "binh_dinh_cdcs.csv").read_bytes()


def test_national_tree_shape():
    levels = Counter()
    seen: set[str] = set()
    per_province: Counter = Counter()
    for row in national_tree(2025):
        assert tuple(row) == CSV_COLUMNS
        assert row["ma_cap_tren"] == "" or row["ma_cap_tren"] in seen  # parents come first
        seen.add(row["ma_don_vi"])
        levels[row["cap"]] += 1
        if row["cap"] == "cap_tren_truc_tiep":
            per_province[row["ma_cap_tren"]] += 1
    assert levels == {
        "tong_ldld": 1,
        "ldld_tinh": 63,
        "cap_tren_truc_tiep": sum(per_province.values()),
        "cdcs": 130_000,
    }
    assert min(per_province.values()) >= 10 and max(per_province.values()) <= 20
    assert list(national_tree(3, provinces=2, cdcs_total=50)) == list(national_tree(3, provinces=2, cdcs_total=50))


def test_small_national_tree_imports(db, tmp_path):
    count = write_units_csv(national_tree(5, provinces=3, cdcs_total=300), tmp_path / "vn.csv")

    report = import_units(db, tmp_path / "vn.csv")

    assert len(report.created) == count
    assert sum(u.level_code == "cdcs" for u in units_by_code(db).values()) == 300
