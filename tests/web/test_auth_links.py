"""Sign-in links: issued through the outbox, single-use, expiring, tamper-proof; the session cookie."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select
from sqlmodel import Session

from thidua.models.outbox import OutboxMessage
from thidua.models.tables import AuditLog
from tests.web.conftest import World, csrf_of, make_client, sign_in
from thidua.web.auth import SESSION_COOKIE, decode_session, make_obligation_link
from thidua.web.models import LoginToken


def request_link(client, world: World, email: str):  # noqa: ANN001, ANN201
    client.get("/dang-nhap")
    return client.post("/dang-nhap", data={"email": email, "next": "/", "_csrf": csrf_of(client, world)})


def queued_link(world: World, email: str) -> str:
    with Session(world.engine) as session:
        message = (
            session.execute(
                select(OutboxMessage).where(OutboxMessage.recipient == email).order_by(OutboxMessage.id.desc())
            )
            .scalars()
            .first()
        )
    assert message is not None and message.kind == "login_link" and message.template == "login_link"
    assert message.key.startswith("login:")
    return message.context["link"]


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


def follow(client, world: World, url: str):  # noqa: ANN001, ANN201
    """Open the link (confirmation page), then press 'Tiếp tục' as a person would."""
    parts = urlsplit(url)
    shown = client.get(f"{parts.path}?{parts.query}")
    if shown.status_code != 200:
        return shown
    return client.post("/dang-nhap/lien-ket", data={"t": token_of(url), "_csrf": csrf_of(client, world)})


def test_link_requested_signs_in_once_and_is_audited(world: World, client) -> None:
    email = world.users["officer_d1_1"].email
    answer = request_link(client, world, email)
    assert answer.status_code == 200 and "Hãy kiểm tra hộp thư" in answer.text
    url = queued_link(world, email)
    assert url.startswith(world.settings.base_url + "/dang-nhap/lien-ket?t=")

    signed_in = follow(client, world, url)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    data = decode_session(world.settings, client.cookies.get(SESSION_COOKIE), now=world.now())
    assert data is not None and data.user_id == world.users["officer_d1_1"].id
    assert client.get("/don-vi").status_code == 200
    with Session(world.engine) as session:
        assert (
            session.execute(select(AuditLog).where(AuditLog.action == "auth.signed_in")).scalars().one().actor == email
        )

    # Replayed from another browser: refused, with a form for a new link.
    other = make_client(world)
    replay = follow(other, world, url)
    assert replay.status_code == 410
    assert "đã được dùng" in replay.text and 'action="/dang-nhap"' in replay.text


def test_unknown_address_gets_the_same_answer_and_no_mail(world: World, client) -> None:
    answer = request_link(client, world, "nguoi-la@example.vn")
    assert answer.status_code == 200 and "Hãy kiểm tra hộp thư" in answer.text
    with Session(world.engine) as session:
        assert session.execute(select(OutboxMessage)).first() is None


def test_malformed_address_is_shown_beside_the_field_and_kept(world: World, client) -> None:
    answer = request_link(client, world, "khong-phai-email")
    assert answer.status_code == 422
    assert 'value="khong-phai-email"' in answer.text
    assert re.search(r'class="field-error" id="email-error">Địa chỉ e-mail chưa đúng dạng', answer.text)


def test_tampered_link_is_refused(world: World, client) -> None:
    request_link(client, world, world.users["officer_d1_1"].email)
    token = token_of(queued_link(world, world.users["officer_d1_1"].email))
    forged = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    for t in (forged, "abc", ""):
        answer = client.get(f"/dang-nhap/lien-ket?t={t}")
        assert answer.status_code == 400 and "không hợp lệ" in answer.text
        posted = client.post("/dang-nhap/lien-ket", data={"t": t, "_csrf": csrf_of(client, world)})
        assert posted.status_code == 400
    assert decode_session(world.settings, client.cookies.get(SESSION_COOKIE), now=world.now()).user_id is None


def test_link_for_another_address_cannot_be_made_by_editing_the_payload(world: World, client) -> None:
    import base64
    import json

    request_link(client, world, world.users["officer_d1_1"].email)
    token = token_of(queued_link(world, world.users["officer_d1_1"].email))
    payload, signature = token.split(".", 1)
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["e"] = world.users["office"].email
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=") + "." + signature
    assert client.get(f"/dang-nhap/lien-ket?t={edited}").status_code == 400


def test_expired_link_is_refused_with_an_offer_of_a_new_one(world: World, client) -> None:
    request_link(client, world, world.users["officer_d1_1"].email)
    url = queued_link(world, world.users["officer_d1_1"].email)
    world.clock[0] = world.now() + timedelta(minutes=31)
    answer = follow(client, world, url)
    assert answer.status_code == 410 and "đã hết hạn" in answer.text and "Gửi liên kết mới" in answer.text
    with Session(world.engine) as session:
        assert session.execute(select(LoginToken.used_at)).scalar_one() is None


def test_obligation_link_from_a_reminder_opens_the_obligation_once(world: World, client) -> None:
    user = world.users["officer_d1_1"]
    assignment_id = world.assignment_id("BDH.D1.1", "so-ket-dot-1")
    url = make_obligation_link(world.settings, user, user.unit_id, assignment_id, now=world.now())
    assert url.startswith(f"{world.settings.base_url}/don-vi/nghia-vu/{assignment_id}?t=")
    parts = urlsplit(url)
    confirm = client.get(f"{parts.path}?{parts.query}")
    assert confirm.status_code == 200 and "Xác nhận đăng nhập" in confirm.text and "CĐCS Đơn vị Mẫu 1-1" in confirm.text
    done = client.post("/dang-nhap/lien-ket", data={"t": token_of(url), "_csrf": csrf_of(client, world)})
    assert done.status_code == 303 and done.headers["location"] == f"/don-vi/nghia-vu/{assignment_id}"
    assert "Báo cáo sơ kết đợt 1" in client.get(done.headers["location"]).text
    # The same reminder clicked again in the signed-in browser simply opens the page ...
    again = client.get(f"{parts.path}?{parts.query}")
    assert again.status_code == 303 and again.headers["location"] == f"/don-vi/nghia-vu/{assignment_id}"
    # ... but in any other browser it no longer signs anyone in.
    assert follow(make_client(world), world, url).status_code == 410


def test_link_requests_are_rate_limited_per_address(world: World, client) -> None:
    email = world.users["officer_d1_1"].email
    statuses = [request_link(client, world, email).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    limited = request_link(client, world, email)
    assert "thử lại sau" in limited.text and int(limited.headers["retry-after"]) > 0
    # Another address from the same client still works (the per-address limit is the one reached).
    assert request_link(client, world, world.users["officer_d1_2"].email).status_code == 200


def test_link_requests_are_rate_limited_per_client_address(world: World, client) -> None:
    statuses = [request_link(client, world, f"nguoi{i}@example.vn").status_code for i in range(21)]
    assert statuses[:20] == [200] * 20 and statuses[20] == 429


def test_forged_or_expired_session_cookie_is_ignored(world: World, client) -> None:
    sign_in(client, world, "office")
    assert client.get("/van-phong").status_code == 200
    cookie = client.cookies.get(SESSION_COOKIE)
    client.cookies.set(SESSION_COOKIE, cookie[:-2] + "xx")
    assert client.get("/van-phong").status_code == 303
    sign_in(client, world, "office")
    world.clock[0] = world.now() + timedelta(hours=13)
    answer = client.get("/van-phong")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/dang-nhap?next=")


def test_deactivated_account_loses_its_session(world: World, client) -> None:
    sign_in(client, world, "officer_d1_1")
    with Session(world.engine) as session:
        user = session.get(type(world.users["officer_d1_1"]), world.users["officer_d1_1"].id)
        user.active = False
        session.commit()
    assert client.get("/don-vi").status_code == 303


def test_secure_cookie_when_served_over_https(world: World) -> None:
    from fastapi.testclient import TestClient

    from thidua.web.app import create_app

    secure = TestClient(create_app(world.settings, world.engine, clock=world.now), base_url="https://testserver")
    assert "Secure" in secure.get("/dang-nhap").headers["set-cookie"]


def test_sign_out_ends_the_session(world: World, client) -> None:
    sign_in(client, world, "officer_d1_1")
    client.get("/don-vi")
    answer = client.post("/dang-xuat", data={"_csrf": csrf_of(client, world)})
    assert answer.status_code == 303
    assert client.get("/don-vi").status_code == 303


def test_the_link_is_mailed_at_once_through_the_dispatcher(world: World, tmp_path) -> None:
    from email import message_from_bytes, policy

    from thidua.notifications.sink import EmlDirectoryHandler, start_sink

    from thidua.models.outbox import OutboxStatus

    with start_sink(EmlDirectoryHandler(tmp_path / "thu")) as sink:
        world.settings = world.settings.model_copy(update={"smtp_port": sink.port})
        client = make_client(world, send_mail=True)
        email = world.users["officer_d1_1"].email
        assert request_link(client, world, email).status_code == 200
        stored = sink.handler.stored
    assert len(stored) == 1
    mail = message_from_bytes(stored[0].read_bytes(), policy=policy.default)
    assert mail["To"].addresses[0].addr_spec == email
    assert "Liên kết đăng nhập" in str(mail["Subject"])
    body = mail.get_body(("plain",)).get_content()
    link = re.search(r"http://testserver/dang-nhap/lien-ket\?t=\S+", body).group(0)
    assert follow(client, world, link).status_code == 303
    with Session(world.engine) as session:
        row = session.execute(select(OutboxMessage)).scalars().one()
        assert row.status == OutboxStatus.SENT.value
        claimed = session.execute(select(AuditLog).where(AuditLog.action == "outbox.claimed")).scalars().one()
        assert claimed.after["key"] == row.key


def test_one_address_for_two_units_chooses_the_unit_after_sign_in(world: World, client) -> None:
    from thidua.models.tables import User

    email = world.users["officer_d1_1"].email
    with Session(world.engine) as session:
        second = User(email=email, unit_id=world.units["BDH.D1.2"].id, role="unit_officer")
        session.add(second)
        session.commit()
        second_id = second.id
    request_link(client, world, email)
    signed_in = follow(client, world, queued_link(world, email))
    assert signed_in.headers["location"] == "/chon-don-vi?next=/"
    page = client.get("/chon-don-vi").text
    assert "CĐCS Đơn vị Mẫu 1-1" in page and "CĐCS Đơn vị Mẫu 1-2" in page
    chosen = client.post(
        "/chon-don-vi", data={"user_id": second_id, "next": "/don-vi", "_csrf": csrf_of(client, world)}
    )
    assert chosen.status_code == 303 and chosen.headers["location"] == "/don-vi"
    assert "Nghĩa vụ của CĐCS Đơn vị Mẫu 1-2" in client.get("/don-vi").text
    other = world.users["office"].id
    assert client.post("/chon-don-vi", data={"user_id": other, "_csrf": csrf_of(client, world)}).status_code == 403


def test_next_address_after_sign_in_stays_on_this_site(world: World, client) -> None:
    from thidua.web.auth import safe_next_path

    assert safe_next_path("//evil.example/x") == "/" and safe_next_path("https://evil.example") == "/"
    assert safe_next_path("/\\evil.example") == "/" and safe_next_path("/don-vi/nghia-vu/3") == "/don-vi/nghia-vu/3"
    email = world.users["officer_d1_1"].email
    client.get("/dang-nhap")
    client.post("/dang-nhap", data={"email": email, "next": "//evil.example/", "_csrf": csrf_of(client, world)})
    assert follow(client, world, queued_link(world, email)).headers["location"] == "/"
