"""The reminder mail on the wire: what a dispatch pass sends decodes exactly (Vietnamese subject and bodies),
every mail has its own Message-ID and the pass's Date, the one-click unsubscribe headers are there, and the
fast path (shared render, values filled in) builds the very bytes of the full build."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from thidua.notifications.render import Renderer, get_renderer
from thidua.notifications.sink import FaultInjectingHandler
from thidua.notifications.transport import _data_payload, _payload_of
from thidua.services.reminders import claim_batch, new_dispatcher_id, plan_due
from thidua.services.reminders.sending import _load_claimed, _sort_one, _Sorted
from tests.reminders.conftest import Campaign, load_binh_dinh, parse, smtp_for, vn

PASS_AT = vn(3, 10, hour=9)  # the −7 reminder of "Báo cáo sơ kết đợt 2" (due 10/10/2023) for every CĐCS
SUBJECT = "Còn 7 ngày: Báo cáo sơ kết đợt 2 hạn 10/10/2023"
ODD_NAMES = {
    "BDH.D1.1": 'CĐCS Công ty <Mẫu> & Cộng sự "Hoà Bình"',
    "BDH.D1.2": "CĐCS  Ủy ban xã Đắk Lắk  (hai khoảng trắng)",  # not single-spaced: rendered in full
    "BDH.D2.1": "Công đoàn cơ sở " + "Trường Tiểu học Hoàng Hoa Thám " * 6 + "số 1",
}


@pytest.fixture
def bd(engine, settings, tmp_path) -> Campaign:
    campaign = load_binh_dinh(engine, settings, tmp_path, districts=3, cdcs_per_district=5)
    for code, name in ODD_NAMES.items():
        campaign.set_unit(code, name=name)
    return campaign


class FullRender(Renderer):
    """The reference build: every mail rendered in full."""

    def render_filled(self, name: str, context: Any, per_recipient: Any):  # type: ignore[no-untyped-def]
        return self.render(name, context)


def test_the_fast_path_builds_the_bytes_of_the_full_build(bd: Campaign) -> None:
    smtp = smtp_for("127.0.0.1", 25)
    plan_due(bd.engine, now=PASS_AT)
    ids = claim_batch(bd.engine, owner=new_dispatcher_id(), now=PASS_AT, limit=1000)
    loaded = _load_claimed(bd.engine, ids, now=PASS_AT, settings=bd.settings)  # links signed once, here
    fast, full = _Sorted(), _Sorted()
    for item in loaded:
        _sort_one(item, fast, now=PASS_AT, settings=bd.settings, smtp=smtp, renderer=Renderer(strict=True))
    for item in loaded:
        _sort_one(item, full, now=PASS_AT, settings=bd.settings, smtp=smtp, renderer=FullRender(strict=True))
    reminders = [r for r in fast.ready if r.kind == "reminder"]
    assert len(reminders) >= 15
    assert [r.message.raw for r in fast.ready] == [r.message.raw for r in full.ready]
    assert not fast.failed and not full.failed
    # Every composed mail skips the transport's normalising scan, and the scan would not change a byte of it
    # (odd unit names included).
    assert all(r.message.wire_ready for r in fast.ready)
    assert all(_payload_of(r.message) == _data_payload(r.message.raw) for r in fast.ready)


def test_dispatched_reminders_decode_exactly(bd: Campaign, sinks) -> None:
    sink = sinks(FaultInjectingHandler())
    summary = bd.dispatch(PASS_AT, smtp_for(sink.host, sink.port))
    assert summary.totals.failed == summary.totals.unknown == 0
    names = {u.emails[0]: u.name for u in bd.units.values() if u.emails}
    names.update({bd.units[code].emails[0]: name for code, name in ODD_NAMES.items()})
    reminders = []
    for received in sink.handler.accepted:
        message = parse(received.content)
        assert received.content.isascii() and not message.defects
        if str(message["Subject"]) == SUBJECT:
            reminders.append((received, message))
    assert len(reminders) == 18  # 3 districts and their 5 CĐCS each

    ids = [str(message["Message-ID"]) for _, message in reminders]
    assert max(Counter(ids).values()) == 1 and all(re.fullmatch(r"<thidua\.[0-9a-f]{24}@[^>]+>", i) for i in ids)
    for received, message in reminders:
        recipient = received.rcpt_tos[0]
        unit_name = names[recipient]
        assert str(message["Date"]) == "Tue, 03 Oct 2023 09:00:00 +0700"
        # (the stdlib reader folds runs of spaces in a display name; the body keeps them)
        assert message["To"].addresses[0].display_name == " ".join(unit_name.split())
        assert message["To"].addresses[0].addr_spec == recipient
        assert str(message["Subject"]) == SUBJECT
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        assert text.startswith(f'Kính gửi {unit_name},\n\nCòn 7 ngày nữa là đến hạn nộp "Báo cáo sơ kết đợt 2"')
        link = re.search(r"Gửi báo cáo tại: (\S+)", text).group(1)  # type: ignore[union-attr]
        unsubscribe = re.search(r"Không muốn nhận loại thư này nữa: (\S+)", text).group(1)  # type: ignore[union-attr]
        assert message["List-Unsubscribe"] == f"<{unsubscribe}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert str(message["List-Id"]).endswith("<bd-2023.ldld.binhdinh.vn>")
        # The whole text and HTML are what a full render of this reminder gives.
        context = {
            "campaign_title": "",
            "unit_name": unit_name,
            "link": link,
            "unsubscribe_url": unsubscribe,
        }
        reference = _reference(bd, context)
        assert text == reference.text
        assert html == reference.html
    assert len({r.rcpt_tos[0] for r, _ in reminders}) == 18


def _reference(bd: Campaign, values: dict[str, Any]):  # type: ignore[no-untyped-def]
    from datetime import date

    from thidua.db import session_scope
    from thidua.services.lookup import campaign_infos
    from thidua.services.reminders import campaign_id_for, reminder_context

    with session_scope(bd.engine) as session:
        info = campaign_infos(session, [campaign_id_for(bd.engine, "bd-2023")]).popitem()[1]
    context = reminder_context(
        info,
        unit_name=values["unit_name"],
        obligation_title="Báo cáo sơ kết đợt 2",
        due_on=date(2023, 10, 10),
        today=date(2023, 10, 3),
        assignment_id=0,
        base_url=bd.settings.base_url,
        returned=False,
        link=values["link"],
    )
    return get_renderer(strict=True).render(
        "reminder_upcoming", {**context, "unsubscribe_url": values["unsubscribe_url"]}
    )


def test_the_reused_signer_signs_as_a_fresh_one() -> None:
    """One signer per key for a whole pass (key derived once, C HMAC): tokens a fresh itsdangerous one verifies,
    and its very tokens for a payload long enough to be compressed (tests/reminders/test_token_signing.py)."""
    from itsdangerous import URLSafeSerializer

    from thidua.links import LINK_SALT, reused_serializer

    key = "khoa-ky-lien-ket-cua-bo-kiem-thu-0123456789"
    for salt in (LINK_SALT, "huy-nhan-thu"):
        reused, fresh = reused_serializer(key, salt), URLSafeSerializer(key, salt=salt)
        for payload in (["cdcs@example.vn", 1, 42], {"j": "x" * 22, "e": "bdh-d1-1@example.vn", "u": 7, "a": 42}):
            token = reused.dumps(payload)
            assert token == reused.dumps(payload)
            assert fresh.loads(token) == reused.loads(token) == payload
        long_payload = {"j": "x" * 22, "e": "cd" * 150 + "@example.vn", "u": 7, "a": 42}
        assert reused.dumps(long_payload) == fresh.dumps(long_payload)
