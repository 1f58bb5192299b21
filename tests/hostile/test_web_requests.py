"""Hostile web requests: each one gets a 4xx with a Vietnamese message (never a 500), and changes nothing.
Runs on SQLite and PostgreSQL: ids above 2^63 overflow differently on each."""

from __future__ import annotations

from datetime import timedelta

import pytest
from itsdangerous import URLSafeSerializer

from tests.hostile.conftest import fingerprint
from tests.web.conftest import World, csrf_of, make_client, sign_in
from thidua.web.auth import LINK_SALT, SESSION_COOKIE, SESSION_SALT

HUGE = 2**63  # one past the largest id a database can hold
HUGER = 10**40
WHO = "office"

# (id, person, method, path, JSON body or form (dict) or None, expected status)
API_CASES: list[tuple[str, str, str, str, object, int]] = [
    ("assignment-id-2^63", "officer_d1_1", "GET", f"/api/v1/assignments/{HUGE}", None, 404),
    ("assignment-id-10^40", "officer_d1_1", "GET", f"/api/v1/assignments/{HUGER}", None, 404),
    ("assignment-id-negative-huge", "officer_d1_1", "GET", f"/api/v1/assignments/-{HUGE + 1}", None, 404),
    ("submit-to-huge-id", "officer_d1_1", "POST", f"/api/v1/assignments/{HUGE}/submissions", {"data": {}}, 404),
    (
        "submit-huge-version",
        "officer_d1_1",
        "POST",
        "/api/v1/assignments/{a}/submissions",
        {"data": {"so_sang_kien": 1, "so_doan_vien_moi": 1}, "expected_version": HUGER},
        409,
    ),
    (
        "submit-huge-number",
        "officer_d1_1",
        "POST",
        "/api/v1/assignments/{a}/submissions",
        {"data": {"so_sang_kien": HUGER, "so_doan_vien_moi": 1}},
        422,
    ),
    (
        "submit-infinite-json",
        "officer_d1_1",
        "POST",
        "/api/v1/assignments/{a}/submissions",
        b'{"data": {"so_sang_kien": 1e400, "so_doan_vien_moi": 1}}',
        422,
    ),
    (
        "submit-nan-json",
        "officer_d1_1",
        "POST",
        "/api/v1/assignments/{a}/submissions",
        b'{"data": {"so_sang_kien": NaN, "so_doan_vien_moi": Infinity}}',
        422,
    ),
    (
        "submit-deep-json",
        "officer_d1_1",
        "POST",
        "/api/v1/assignments/{a}/submissions",
        b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        400,
    ),
    ("submit-not-json", "officer_d1_1", "POST", "/api/v1/assignments/{a}/submissions", b"\xff\xfe{", 400),
    (
        "submit-200k-text",
        "officer_d1_1",
        "POST",
        "/api/v1/assignments/{a}/submissions",
        {"data": {"so_sang_kien": 1, "so_doan_vien_moi": 1, "guong_dien_hinh": "x" * 200_000}},
        422,
    ),
    ("submit-data-not-object", "officer_d1_1", "POST", "/api/v1/assignments/{a}/submissions", {"data": [1, 2]}, 422),
    (
        "review-huge-id",
        "reviewer_d1",
        "POST",
        f"/api/v1/review/{HUGE}",
        {"action": "accept", "expected_version": 1},
        404,
    ),
    (
        "review-huge-version",
        "reviewer_d1",
        "POST",
        "/api/v1/review/{a}",
        {"action": "accept", "expected_version": HUGER},
        409,
    ),
    (
        "bulk-accept-huge-items",
        "reviewer_d1",
        "POST",
        "/api/v1/review/bulk-accept",
        {"items": [f"{HUGE}:1", f"1:{HUGER}", f"{HUGER}:{HUGER}"]},
        422,
    ),
    ("bulk-accept-garbage", "reviewer_d1", "POST", "/api/v1/review/bulk-accept", {"items": ["abc", ":", "1:2:3"]}, 200),
    ("nomination-huge-id", "officer_d1_1", "GET", f"/api/v1/nominations/{HUGE}", None, 404),
    (
        "nomination-action-huge-id",
        "reviewer_d1",
        "POST",
        f"/api/v1/nominations/{HUGE}/actions",
        {"action": "approve", "expected_version": 1},
        404,
    ),
    (
        "nomination-list-huge-id",
        "officer_d1_1",
        "POST",
        f"/api/v1/nomination-lists/{HUGE}/send",
        {"to_trinh_number": "1/TTr", "to_trinh_date": "05/10/2023"},
        404,
    ),
    ("queue-page-huge", "reviewer_d1", "GET", f"/api/v1/review/queue?trang={HUGER}", None, 422),
    ("audit-limit-huge", "office", "GET", f"/api/v1/office/audit?limit={HUGER}", None, 422),
    ("audit-limit-large", "office", "GET", "/api/v1/office/audit?limit=99999999", None, 200),
    ("dashboard-unknown-campaign", "office", "GET", "/api/v1/office/dashboard?campaign=" + "x" * 5000, None, 404),
]

PAGE_CASES: list[tuple[str, str, str, str, object, int]] = [
    ("page-obligation-huge-id", "officer_d1_1", "GET", f"/don-vi/nghia-vu/{HUGE}", None, 404),
    ("page-review-huge-id", "reviewer_d1", "GET", f"/duyet/bai-nop/{HUGE}", None, 404),
    (
        "page-review-post-huge-id",
        "reviewer_d1",
        "POST",
        f"/duyet/bai-nop/{HUGE}",
        {"hanh_dong": "duyet", "_phien_ban": "1"},
        404,
    ),
    ("page-bulk-huge-items", "reviewer_d1", "POST", "/duyet/hang-loat", {"chon": [f"{HUGE}:1"]}, 422),
    ("page-nomination-huge-id", "officer_d1_1", "GET", f"/khen-thuong/de-nghi/{HUGE}", None, 404),
    ("page-queue-page-huge", "reviewer_d1", "GET", f"/duyet?trang={HUGER}", None, 422),
    ("page-choose-unit-huge", "officer_d1_1", "POST", "/chon-don-vi", {"user_id": str(HUGER), "next": "/"}, 403),
]


def _send(client, w: World, method: str, path: str, body: object):  # noqa: ANN001, ANN202
    path = path.replace("{a}", str(w.assignment_id("BDH.D1.1", "so-ket-dot-1")))
    if method == "GET":
        return client.get(path)
    if isinstance(body, bytes):
        return client.post(
            path, content=body, headers={"X-CSRF-Token": csrf_of(client, w), "Content-Type": "application/json"}
        )
    if path.startswith("/api/"):
        return client.post(path, json=body, headers={"X-CSRF-Token": csrf_of(client, w)})
    return client.post(path, data={**(body or {}), "_csrf": csrf_of(client, w)})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "case_id, who, method, path, body, status", API_CASES + PAGE_CASES, ids=[c[0] for c in API_CASES + PAGE_CASES]
)
def test_hostile_request_is_answered_4xx_in_vietnamese_and_changes_nothing(
    any_world: World, case_id: str, who: str, method: str, path: str, body: object, status: int
) -> None:
    client = make_client(any_world)
    sign_in(client, any_world, who)
    before = fingerprint(any_world.engine)
    answer = _send(client, any_world, method, path, body)
    assert answer.status_code == status, (answer.status_code, answer.text[:500])
    if status >= 400:
        text = answer.json()["loi"]["thong_diep"] if path.startswith("/api/") else answer.text
        assert any(ch in text for ch in "ăâđêôơưáàảãạ"), text[:300]  # Vietnamese, not a stack trace
        assert "Traceback" not in text
        assert fingerprint(any_world.engine) == before


def _forged(salt: str, payload: dict) -> str:
    return URLSafeSerializer("khoa-bi-mat-cua-bo-kiem-thu", salt=salt).dumps(payload)


@pytest.mark.parametrize("expiry", [10**20, -(10**20), 2**63, 253402300800, -62135596801, "x", None, 1.5e308])
def test_a_signed_link_with_an_absurd_expiry_is_refused_not_crashed(world: World, expiry: object) -> None:
    client = make_client(world)
    token = _forged(LINK_SALT, {"j": "abc", "p": "login", "e": "ban.cspl@example.vn", "x": expiry})
    before = fingerprint(world.engine)
    for answer in (client.get(f"/dang-nhap/lien-ket?t={token}"),):
        assert answer.status_code in (400, 403, 410), answer.status_code
        assert "Liên kết" in answer.text
    assert fingerprint(world.engine) == before


@pytest.mark.parametrize("issued", [10**20, -(10**20), 2**63, "x", 1e308])
def test_a_session_cookie_with_an_absurd_time_is_ignored(world: World, issued: object) -> None:
    client = make_client(world)
    office = world.users["office"]
    client.cookies.set(
        SESSION_COOKIE, _forged(SESSION_SALT, {"s": "abc", "t": issued, "u": office.id, "e": office.email})
    )
    assert client.get("/van-phong").status_code == 303  # not signed in: to the sign-in page
    assert client.get("/api/v1/me").status_code == 401


def test_a_session_cookie_for_a_huge_user_id_is_ignored(world: World) -> None:
    client = make_client(world)
    client.cookies.set(
        SESSION_COOKIE,
        _forged(
            SESSION_SALT,
            {"s": "abc", "t": int((world.now() - timedelta(minutes=1)).timestamp()), "u": HUGER, "e": "x@example.vn"},
        ),
    )
    assert client.get("/api/v1/me").status_code == 401
