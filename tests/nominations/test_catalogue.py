"""The award catalogue files: the shipped ones are valid and complete; broken ones fail with located errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from thidua.models.spec.awards import validate_catalogue_file, validate_catalogue_text
from thidua.models.spec.problems import SpecError
from thidua.models.tables import Campaign
from tests.conftest import BINH_DINH_CAMPAIGN, CONFIG
from tests.factories import small_binh_dinh
from thidua.services.campaigns import load_campaign

LEVELS = ["tong_ldld", "ldld_tinh", "cap_tren_truc_tiep", "cdcs"]

MINIMAL = """\
code: thu
title: Danh mục thử
regulation: Văn bản thử
ratings: [Tốt, Khá]
dossier_items:
  - {code: bao-cao, name: Báo cáo thành tích}
awards:
  - code: giay-khen
    name: Giấy khen
    kind: certificate
    decided_by: cap_tren_truc_tiep
    proposed_by: [cdcs]
    subjects: [individual]
    occasions: [year_end]
    dossier: [bao-cao]
"""


def problems_of(text: str) -> list:
    with pytest.raises(SpecError) as caught:
        validate_catalogue_text(text, "thu.yaml", LEVELS)
    return caught.value.problems


@pytest.mark.parametrize("name", ["qd1689_2019.yaml", "qd999_2024.yaml"])
def test_shipped_catalogues_hold_every_form_the_regulations_name(name: str) -> None:
    catalogue = validate_catalogue_file(CONFIG / "awards" / name)
    by_name = {a.name: a for a in catalogue.awards}
    expected = {  # form: (kind, deciding level)
        "Giấy khen của Ban Chấp hành công đoàn cơ sở": ("certificate", "cdcs"),
        "Giấy khen của công đoàn cấp trên trực tiếp cơ sở": ("certificate", "cap_tren_truc_tiep"),
        "Bằng khen của Liên đoàn Lao động tỉnh (toàn diện)": ("certificate", "ldld_tinh"),
        "Cờ thi đua của Liên đoàn Lao động tỉnh": ("banner", "ldld_tinh"),
        "Bằng khen của Tổng Liên đoàn Lao động Việt Nam (toàn diện)": ("certificate", "tong_ldld"),
        "Bằng khen chuyên đề của Tổng Liên đoàn Lao động Việt Nam": ("certificate", "tong_ldld"),
        "Cờ thi đua của Tổng Liên đoàn Lao động Việt Nam": ("banner", "tong_ldld"),
        "Bằng Lao động sáng tạo của Tổng Liên đoàn Lao động Việt Nam": ("certificate", "tong_ldld"),
        "Công đoàn cơ sở vững mạnh": ("title", "cap_tren_truc_tiep"),
        "Đoàn viên công đoàn xuất sắc": ("title", "cdcs"),
    }
    for award_name, (kind, level) in expected.items():
        assert (by_name[award_name].kind, by_name[award_name].decided_by) == (kind, level), award_name
    thematic_cap = next(q for q in catalogue.quotas if q.awards == ["bang-khen-tld-chuyen-de"])
    assert (thematic_cap.max, thematic_cap.per, thematic_cap.level) == (4, "subtree", "ldld_tinh")
    assert {r.kind for r in catalogue.exclusivity} == {"one_award_per_achievement", "comprehensive_or_thematic"}


def test_minimal_catalogue_is_valid() -> None:
    catalogue = validate_catalogue_text(MINIMAL, "thu.yaml", LEVELS)
    assert catalogue.award("giay-khen") is not None and catalogue.award("khong-co") is None


def test_quota_naming_an_unknown_award_is_located() -> None:
    text = (
        MINIMAL
        + "quotas:\n  - {code: q1, title: đề nghị thử, awards: [giay-khen, bang-khen-ma], max: 2, per: proposer}\n"
    )
    (problem,) = problems_of(text)
    assert problem.field == "quotas[0].awards[1]"
    assert problem.line == text.splitlines().index("quotas:") + 2
    assert "không có hình thức khen thưởng 'bang-khen-ma'" in problem.message


def test_unknown_levels_and_inverted_levels_are_located_all_at_once() -> None:
    text = (
        MINIMAL.replace("decided_by: cap_tren_truc_tiep", "decided_by: cap_huyen")
        + "  - code: co\n    name: Cờ\n    kind: banner\n    decided_by: cap_tren_truc_tiep\n"
        "    proposed_by: [ldld_tinh]\n    subjects: [collective]\n    nominee_levels: [cdcs, xa]\n"
        "    occasions: [year_end]\n"
    )
    problems = {p.field: p for p in problems_of(text)}
    assert "không có cấp 'cap_huyen'" in problems["awards[0].decided_by"].message
    assert "cao hơn cấp quyết định" in problems["awards[1].proposed_by[0]"].message
    assert "không có cấp 'xa'" in problems["awards[1].nominee_levels[1]"].message
    assert problems["awards[1].proposed_by[0]"].line == text.splitlines().index("    proposed_by: [ldld_tinh]") + 1


def test_unknown_key_missing_parameter_and_unknown_rating_are_reported() -> None:
    text = MINIMAL.replace(
        "    dossier: [bao-cao]\n",
        "    dossier: [bao-cao, to-trinh]\n    tieu_chuan: []\n"
        "    criteria:\n      - {kind: year_end_rating}\n      - {kind: year_end_rating, at_least: Xuất sắc}\n",
    )
    messages = {p.field: p.message for p in problems_of(text)}
    assert messages["awards[0].tieu_chuan"].startswith("khóa không được phép")
    assert "cần 'at_least'" in messages["awards[0].criteria[0]"]
    # Cross-field checks run only once the shapes are valid, so fix the first two and look again.
    fixed = text.replace("    tieu_chuan: []\n", "").replace("      - {kind: year_end_rating}\n", "")
    messages = {p.field: p.message for p in problems_of(fixed)}
    assert "mức xếp loại 'Xuất sắc' không có trong 'ratings'" in messages["awards[0].criteria[0].at_least"]
    assert "không có hồ sơ 'to-trinh'" in messages["awards[0].dossier[1]"]


def test_campaign_loader_reports_catalogue_problems_and_changes_nothing(engine, tmp_path: Path) -> None:
    with Session(engine) as session:
        small_binh_dinh(session)
        session.commit()
    config = tmp_path / "config"
    (config / "campaigns").mkdir(parents=True)
    (config / "awards").mkdir()
    shutil.copy(BINH_DINH_CAMPAIGN, config / "campaigns" / "bd.yaml")
    broken = (
        (CONFIG / "awards" / "qd1689_2019.yaml")
        .read_text(encoding="utf-8")
        .replace("awards: [bang-khen-tld-chuyen-de]", "awards: [bang-khen-tld-chuyen-de-x]")
    )
    (config / "awards" / "qd1689_2019.yaml").write_text(broken, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_campaign(engine, config / "campaigns" / "bd.yaml")
    (problem,) = caught.value.problems
    assert problem.file.endswith("qd1689_2019.yaml") and problem.field == "quotas[0].awards[0]"
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(Campaign)).scalar_one() == 0
