"""CSRF on every form, security headers on every response, no stack trace or SQL ever shown."""

from __future__ import annotations

from tests.web.conftest import World, csrf_of, sign_in
from thidua.web.app import route_table


# RFC 8058 one-click unsubscribe: mail providers POST without cookies; the signed token is the credential
# (tests/notifications/test_mail_standards.py checks that a forged one changes nothing).
NO_CSRF = {"/huy-nhan-thu/{token}"}


def state_changing_routes() -> list[str]:
    return sorted({path for method, path in route_table() if method != "GET"} - NO_CSRF)


def concrete(path: str, world: World) -> str:
    return path.replace("{assignment_id}", str(world.assignment_id("BDH.D1.1", "so-ket-dot-1"))).replace(
        "{nomination_id}", "1"
    )


def test_every_state_changing_route_refuses_a_missing_or_foreign_csrf_token(world: World, client) -> None:
    sign_in(client, world, "office")
    client.get("/van-phong")
    good = csrf_of(client, world)
    routes = state_changing_routes()
    assert "/dang-nhap" in routes and "/duyet/hang-loat" in routes
    for path in routes:
        url = concrete(path, world)
        for token in (None, "", "0" * 40, good[:-1] + ("0" if good[-1] != "0" else "1")):
            data = {"email": "ban.cspl@example.vn"} | ({} if token is None else {"_csrf": token})
            answer = client.post(url, data=data)
            assert answer.status_code == 403, (path, token, answer.status_code)
            if not path.startswith("/api/"):
                assert "Biểu mẫu đã hết hiệu lực" in answer.text
        if path.startswith("/api/"):
            answer = client.post(url, json={}, headers={"X-CSRF-Token": "sai"})
            assert answer.status_code == 403 and answer.json()["loi"]["ma"] == "CsrfRejected"


def test_token_of_another_session_is_refused(world: World, client) -> None:
    sign_in(client, world, "reviewer_d2")
    client.get("/duyet")
    stolen = csrf_of(client, world)
    sign_in(client, world, "office")
    answer = client.post("/van-phong/nguoi-dung/nhap-tu-don-vi", data={"_csrf": stolen})
    assert answer.status_code == 403
    answer = client.post("/van-phong/nguoi-dung/nhap-tu-don-vi", data={"_csrf": csrf_of(client, world)})
    assert answer.status_code == 303


def test_security_headers_on_pages_api_errors_and_static(world: World, client) -> None:
    sign_in(client, world, "officer_d1_1")
    for path in ("/dang-nhap", "/don-vi", "/api/v1/me", "/khong-co-trang-nay", "/static/app.css", "/van-phong"):
        headers = client.get(path).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert "script-src 'self'" in headers["content-security-policy"], path
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"


def test_unexpected_error_shows_a_vietnamese_page_without_details(world: World, client) -> None:
    def explode() -> None:
        raise RuntimeError("SELECT * FROM app_user -- bí mật nội bộ")

    client.app.add_api_route("/no-tung", explode)
    client.app.add_api_route("/api/v1/no-tung", explode)
    page = client.get("/no-tung")
    assert page.status_code == 500 and "Đã có lỗi xảy ra" in page.text
    assert "SELECT" not in page.text and "Traceback" not in page.text and "RuntimeError" not in page.text
    assert page.headers["x-frame-options"] == "DENY"
    api = client.get("/api/v1/no-tung")
    assert api.status_code == 500 and "SELECT" not in api.text and api.json()["loi"]["ma"] == "InternalError"


def test_not_found_and_bad_parameters_have_vietnamese_pages(world: World, client) -> None:
    sign_in(client, world, "officer_d1_1")
    missing = client.get("/khong-co-trang-nay")
    assert missing.status_code == 404 and "Không tìm thấy" in missing.text
    bad = client.get("/don-vi/nghia-vu/abc")
    assert bad.status_code == 422 and "assignment_id" in bad.text and "Traceback" not in bad.text
    gone = client.get("/don-vi/nghia-vu/999999")
    assert gone.status_code == 404 and "Không có nghĩa vụ số 999999" in gone.text


def test_sqlite_checkpoints_leave_the_request_path_while_the_application_runs(world: World) -> None:
    from fastapi.testclient import TestClient

    from thidua.web.app import create_app

    def autocheckpoint() -> int:
        with world.engine.connect() as conn:
            return conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()

    with TestClient(create_app(world.settings, world.engine, clock=world.now)):  # runs the lifespan
        assert autocheckpoint() == 0
    assert autocheckpoint() == 1000  # SQLite's default again once the application stopped
