"""The declared round boundary rule decides which round a dated event belongs to (issue 11 point 8): the seed's
shared days 31/05 and 30/09 go to the earlier round under `earlier_round` and to the later one under
`later_round`, in the pure rule, in the service every caller uses, in `status` and in `campaign show`."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from tests.conftest import BINH_DINH_CAMPAIGN
from tests.factories import small_binh_dinh
from thidua.models.clock import local_to_utc
from thidua.models.spec.campaign import round_of_day
from thidua.services.campaigns import load_campaign, read_campaign_file
from thidua.services.lookup import get_campaign, round_of
from thidua.services.status import status_report

# day → (round under earlier_round, round under later_round)
DAYS = {
    date(2023, 2, 15): (1, 1),
    date(2023, 5, 30): (1, 1),
    date(2023, 5, 31): (1, 2),  # shared by Đợt 1 (to 31/5) and Đợt 2 (from 31/5)
    date(2023, 6, 1): (2, 2),
    date(2023, 9, 30): (2, 3),  # shared by Đợt 2 (to 30/9) and Đợt 3 (from 30/9)
    date(2023, 10, 1): (3, 3),
    date(2023, 12, 31): (3, 3),
    date(2024, 1, 1): (None, None),
}


def _campaign_file(tmp_path: Path, rule: str) -> Path:
    text = BINH_DINH_CAMPAIGN.read_text(encoding="utf-8")
    assert "\nround_boundary: earlier_round" in text
    config = tmp_path / "config"  # a config folder whose files are the real ones (paths are relative to it)
    (config / "campaigns").mkdir(parents=True, exist_ok=True)
    for entry in BINH_DINH_CAMPAIGN.parent.parent.iterdir():
        if entry.name != "campaigns" and not (config / entry.name).exists():
            (config / entry.name).symlink_to(entry)
    path = config / "campaigns" / f"binh_dinh_2023_{rule}.yaml"
    path.write_text(text.replace("\nround_boundary: earlier_round", f"\nround_boundary: {rule}", 1), encoding="utf-8")
    return path


@pytest.fixture(params=["earlier_round", "later_round"])
def rule_engine(request, engine, tmp_path: Path):  # noqa: ANN001, ANN201
    path = _campaign_file(tmp_path, request.param)
    with Session(engine) as session:
        small_binh_dinh(session)
        session.commit()
    load_campaign(engine, path)
    return request.param, engine


@pytest.mark.parametrize("rule", ["earlier_round", "later_round"])
@pytest.mark.parametrize("day", list(DAYS))
def test_the_pure_rule_on_the_boundary_days(day: date, rule: str) -> None:
    spec, _ = read_campaign_file(BINH_DINH_CAMPAIGN)
    expected = DAYS[day][0 if rule == "earlier_round" else 1]
    assert round_of_day(day, spec.rounds, rule) == expected


def test_the_rule_is_part_of_the_campaign_language(tmp_path: Path) -> None:
    spec, _ = read_campaign_file(_campaign_file(tmp_path, "later_round"))
    assert spec.round_boundary == "later_round"


def test_the_service_and_status_attribute_a_day_by_the_declared_rule(rule_engine) -> None:  # noqa: ANN001
    rule, engine = rule_engine
    column = 0 if rule == "earlier_round" else 1
    with Session(engine) as session:
        campaign = get_campaign(session, "bd-2023")
        for day, expected in DAYS.items():
            found = round_of(session, campaign, day)
            assert (found.number if found else None) == expected[column], (rule, day)
        for day in (date(2023, 5, 31), date(2023, 9, 30)):
            report = status_report(
                session,
                "bd-2023",
                now=local_to_utc(datetime.combine(day, datetime.min.time()).replace(hour=10), campaign.timezone),
            )
            assert report.round is not None and report.round.number == DAYS[day][column]


def test_status_and_campaign_show_say_which_round(rule_engine, capsys) -> None:  # noqa: ANN001
    from thidua.cli.campaign import print_status, round_boundary_text

    rule, engine = rule_engine
    with Session(engine) as session:
        campaign = get_campaign(session, "bd-2023")
        report = status_report(session, "bd-2023", now=local_to_utc(datetime(2023, 5, 31, 10), campaign.timezone))
        print_status(report, campaign.timezone)
        text = round_boundary_text(campaign)
    out = " ".join(capsys.readouterr().out.split())
    if rule == "earlier_round":
        assert "thuộc Đợt 1 (15/02/2023 – 31/05/2023)" in out, out
        assert "31/05/2023 thuộc Đợt 1; 30/09/2023 thuộc Đợt 2" in text and "thuộc đợt trước" in text
    else:
        assert "thuộc Đợt 2 (31/05/2023 – 30/09/2023)" in out, out
        assert "31/05/2023 thuộc Đợt 2; 30/09/2023 thuộc Đợt 3" in text and "thuộc đợt sau" in text
