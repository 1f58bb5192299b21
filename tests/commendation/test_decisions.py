"""Numbered decisions: the number comes from the register, a refused decision uses no number, the quyết định and
tờ trình come out of the office's DOCX templates with their lists, revocation needs a reason and is audited."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session

from tests.commendation.conftest import PERSON_AWARD, person_at_province
from tests.nominations.conftest import DEC_20, World
from thidua.models.commendation import AwardDecision
from thidua.models.nominations import InvalidNominationInput, NotPermitted
from thidua.models.tables import AuditLog
from thidua.services import nominations as nom
from thidua.services.commendation import decisions
from thidua.services.commendation.docx_fill import TemplateError, docx_text, render_docx
from thidua.services.commendation.numbers import register

DAY = date(2023, 12, 20)


def _issue(world: World, ids: list[int], **kwargs) -> decisions.IssuedDecision:  # noqa: ANN003
    return decisions.issue_decision(
        world.engine,
        world.campaign_id,
        world.actor("BDH"),
        decisions.DecisionInput(DAY, "Nguyễn Văn Bình", **kwargs),
        nomination_ids=ids,
        now=DEC_20,
    )


def test_decisions_take_consecutive_numbers_of_the_deciding_unit(world: World) -> None:
    first = person_at_province(world, "Nguyễn Văn An")
    second = person_at_province(world, "Trần Thị Bình", cdcs="BDH.D2.1")
    one = _issue(world, [first])
    two = _issue(world, [second])
    assert (one.symbol, two.symbol) == ("1/QĐ-LĐLĐ", "2/QĐ-LĐLĐ")
    view = world.view(first)
    assert (view.status, view.decision_number, view.decision_date) == ("decided", "1/QĐ-LĐLĐ", DAY)
    decision = decisions.get_decision(world.engine, one.id)
    assert [i["nominee_name"] for i in decision["items"]] == ["Nguyễn Văn An"]
    assert [r["symbol"] for r in register(world.engine, world.units["BDH"], 2023, "QĐ")] == ["1/QĐ-LĐLĐ", "2/QĐ-LĐLĐ"]


def test_a_refused_decision_uses_no_number(world: World) -> None:
    nomination_id = person_at_province(world)
    with pytest.raises(NotPermitted):  # the district does not decide a provincial award
        decisions.issue_decision(
            world.engine,
            world.campaign_id,
            world.actor("BDH.D1"),
            decisions.DecisionInput(DAY, "X"),
            nomination_ids=[nomination_id],
            now=DEC_20,
        )
    with pytest.raises(InvalidNominationInput, match="sau hôm nay"):
        decisions.issue_decision(
            world.engine,
            world.campaign_id,
            world.actor("BDH"),
            decisions.DecisionInput(date(2023, 12, 21), "X"),
            nomination_ids=[nomination_id],
            now=DEC_20,
        )
    assert register(world.engine, world.units["BDH"], 2023) == []
    assert _issue(world, [nomination_id]).symbol == "1/QĐ-LĐLĐ"


def test_decision_and_to_trinh_docx_carry_the_number_and_the_list(world: World, tmp_path: Path) -> None:
    (an,) = world.propose("BDH.D1.1", world.proposal(PERSON_AWARD, "BDH.D1.1", person="Nguyễn Văn An"))
    (binh,) = world.propose("BDH.D1.1", world.proposal(PERSON_AWARD, "BDH.D1.1", person="Lê Thị Bình"))
    batch_id, symbol = decisions.issue_to_trinh(
        world.engine, world.campaign_id, world.actor("BDH.D1.1"), on=date(2023, 11, 10), now=datetime(2023, 11, 10, 10)
    )
    assert symbol == "1/TTr-CĐCS"
    text = docx_text(decisions.write_to_trinh_docx(world.engine, batch_id, tmp_path / "tt.docx", signer="Phạm Văn C"))
    assert "Số: 1/TTr-CĐCS" in text and "Nguyễn Văn An" in text and "Lê Thị Bình" in text
    assert "Kính gửi: LĐLĐ huyện Thử Nghiệm 1" in text and "{{" not in text
    sent = nom.send_batch(
        world.engine,
        world.campaign_id,
        world.actor("BDH.D1.1"),
        batch_id=batch_id,
        rating=world.rating,
        now=datetime(2023, 11, 10, 11),
    )
    assert sent.nomination_ids == [an, binh]
    world.approve("BDH.D1", [an, binh], datetime(2023, 11, 15, 9))
    world.send("BDH.D1", "40/TTr-LĐLĐ", datetime(2023, 11, 16, 9))
    issued = _issue(world, [an, binh])
    text = docx_text(decisions.write_decision_docx(world.engine, issued.id, tmp_path / "qd.docx"))
    assert "Số: 1/QĐ-LĐLĐ" in text and "ngày 20 tháng 12 năm 2023" in text
    assert "Nguyễn Văn Bình" in text and "cho 2 tập thể, cá nhân" in text
    rows = [line for line in text.splitlines() if line in ("Nguyễn Văn An", "Lê Thị Bình")]
    assert rows == ["Nguyễn Văn An", "Lê Thị Bình"]  # one table row per person, in list order
    assert "40/TTr-LĐLĐ" in text and "{{" not in text


def test_an_office_template_with_an_unknown_field_is_refused_with_its_name(tmp_path: Path) -> None:
    from docx import Document

    template = tmp_path / "mau.docx"
    document = Document()
    document.add_paragraph("Số: {{so_ky_hieu}} — {{truong_la}}")
    document.save(str(template))
    with pytest.raises(TemplateError, match=r"\{\{truong_la\}\}"):
        render_docx(template, tmp_path / "out.docx", {"so_ky_hieu": "1/QĐ"})
    assert not (tmp_path / "out.docx").exists()
    with pytest.raises(TemplateError, match="không có dòng bảng"):
        render_docx(template, tmp_path / "out.docx", {"so_ky_hieu": "1", "truong_la": "x"}, [{"stt": 1}])


def test_revocation_needs_a_reason_numbers_the_revoking_decision_and_is_audited(world: World) -> None:
    nomination_id = person_at_province(world)
    issued = _issue(world, [nomination_id])
    with pytest.raises(InvalidNominationInput, match="lý do"):
        decisions.revoke_decision(world.engine, issued.id, world.actor("BDH"), reason="  ", now=DEC_20)
    with pytest.raises(NotPermitted):
        decisions.revoke_decision(world.engine, issued.id, world.actor("BDH.D1"), reason="sai", now=DEC_20)
    symbol = decisions.revoke_decision(
        world.engine,
        issued.id,
        world.actor("BDH"),
        reason="Khai man thành tích (Điều 92 Luật Thi đua, khen thưởng)",
        now=datetime(2024, 1, 5, 9),
    )
    assert symbol == "1/QĐ-LĐLĐ"  # first QĐ of 2024, the year of the revoking decision
    assert [r["purpose"] for r in register(world.engine, world.units["BDH"], 2024)] == ["revocation"]
    assert world.view(nomination_id).status == "revoked"
    with Session(world.engine) as session:
        decision = session.get(AwardDecision, issued.id)
        audit = session.execute(select(AuditLog).where(AuditLog.action == "award_decision.revoked")).scalars().one()
    assert (decision.status, decision.revocation_symbol) == ("revoked", symbol)
    assert "Khai man" in decision.revoked_reason and "Khai man" in audit.note
    with pytest.raises(InvalidNominationInput, match="đã bị hủy"):
        decisions.revoke_decision(
            world.engine, issued.id, world.actor("BDH"), reason="lần nữa", now=datetime(2024, 1, 6)
        )
    assert nom.get_nomination(world.engine, nomination_id).steps[-1].action == "revoke"
