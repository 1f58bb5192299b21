"""Ladder and calendar entries of the campaign file: invalid ones are rejected with file, line and field."""

from __future__ import annotations

import pytest

from thidua.models.spec.problems import SpecError
from thidua.models.spec.validate import validate_campaign_text
from thidua.settings import CONFIG_DIR

TEXT = (CONFIG_DIR / "campaigns" / "binh_dinh_2023.yaml").read_text(encoding="utf-8")
FILE = "campaigns/bd.yaml"


def problems(old: str, new: str) -> list:
    assert old in TEXT, old
    text = TEXT.replace(old, new, 1)
    with pytest.raises(SpecError) as caught:
        validate_campaign_text(text, FILE)
    return caught.value.problems


def line_of(fragment: str, text: str = TEXT) -> int:
    return text[: text.index(fragment)].count("\n") + 1


def test_the_real_campaign_file_is_valid() -> None:
    spec, _ = validate_campaign_text(TEXT, FILE)
    assert [l.code for l in spec.reminder_ladders] == ["mac-dinh"]


def test_escalating_before_the_deadline_is_rejected() -> None:
    [problem] = problems(
        "{code: truoc-1-ngay, offset_days: -1}", "{code: truoc-1-ngay, offset_days: -1, escalate: true}"
    )
    assert problem.file == FILE
    assert problem.field == "reminder_ladders[0].rungs[2].escalate"
    assert problem.line == line_of("{code: truoc-1-ngay")
    assert "chỉ bậc sau hạn" in problem.message


def test_send_time_outside_working_hours_is_rejected() -> None:
    [problem] = problems('send_time: "08:00"', 'send_time: "18:30"')
    assert problem.field == "reminder_ladders[0].send_time"
    assert problem.line == line_of('send_time: "08:00"')
    assert "18:30" in problem.message and "07:30–17:00" in problem.message


def test_two_rungs_on_the_same_day_are_rejected() -> None:
    # The repeating rung reaches +7, +10, ...; a separate +10 rung would meet it.
    [problem] = problems(
        "{code: qua-han-1-ngay, offset_days: 1, escalate: true}",
        "{code: qua-han-1-ngay, offset_days: 10, escalate: true}",
    )
    assert problem.field == "reminder_ladders[0].rungs[4]"
    assert "cùng rơi vào ngày +10" in problem.message


def test_badly_written_time_is_located() -> None:
    [problem] = problems('send_time: "08:00"', 'send_time: "8h"')
    assert problem.field == "reminder_ladders[0].send_time"
    assert problem.line == line_of('send_time: "08:00"')


def test_repeat_without_end_is_rejected() -> None:
    [problem] = problems("repeat_every_days: 3, until_offset_days: 31", "repeat_every_days: 3")
    assert problem.field == "reminder_ladders[0].rungs[4]"
    assert "until_offset_days" in problem.message


def test_working_hours_in_the_wrong_order_are_rejected() -> None:
    [problem] = problems('working_hours_end: "17:00"', 'working_hours_end: "07:00"')
    assert problem.field == "calendar"
    assert problem.line == line_of("calendar:")
    assert "giờ bắt đầu phải trước giờ kết thúc" in problem.message


def test_unknown_time_zone_is_rejected() -> None:
    [problem] = problems("timezone: Asia/Ho_Chi_Minh", "timezone: Asia/Sai_Gon")
    assert problem.field == "timezone"
    assert problem.line == line_of("timezone: Asia/Ho_Chi_Minh")


def test_every_problem_is_reported_at_once() -> None:
    text = TEXT.replace('send_time: "08:00"', 'send_time: "05:00"').replace(
        "timezone: Asia/Ho_Chi_Minh", "timezone: Mars/Olympus"
    )
    with pytest.raises(SpecError) as caught:
        validate_campaign_text(text, FILE)
    assert sorted(p.field for p in caught.value.problems) == ["reminder_ladders[0].send_time", "timezone"]


def test_loading_a_bad_ladder_changes_nothing(campaign) -> None:
    from tests.reminders.conftest import vn
    from thidua.services import reminders as service

    campaign.edit('send_time: "08:00"', 'send_time: "19:00"')
    with pytest.raises(SpecError) as caught:
        campaign.reload()
    [problem] = caught.value.problems
    assert (problem.file, problem.field) == (str(campaign.path), "reminder_ladders[0].send_time")
    assert problem.line == line_of(
        'send_time: "08:00"', campaign.path.read_text(encoding="utf-8").replace('"19:00"', '"08:00"')
    )
    # The plan in the database still has the old ladder: the −7 reminder goes at 08:00.
    service.plan_due(campaign.engine, now=vn(3, 10))
    assert {r.scheduled_at for r in campaign.outbox(kind="reminder")} == {vn(3, 10, hour=8)}
