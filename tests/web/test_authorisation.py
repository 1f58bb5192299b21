"""Every route × every kind of person, for their own unit and for others: the server decides, by unit and
role. The cast (tests/web/conftest.PEOPLE) is placed around one CĐCS, BDH.D1.1, whose report waits for
review at its district BDH.D1 and whose nomination is held by BDH.D1 on its way to the province:

    officer_d1_1  the unit itself            reviewer_d1   its district's reviewer (direct parent)
    officer_d1_2  a sibling CĐCS             officer_d1    its district, but not a reviewer
    reviewer_d2   another district           reviewer_bdh  the province's reviewer (grandparent)
    office        the campaign office (province)          None: not signed in
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest
from sqlmodel import Session

from tests.web.conftest import PEOPLE, World, build_world, csrf_of, make_client, sign_in
from tests.web.helpers import NOMINATION_NOW, eligible_for_round_two_awards
from thidua.services import nominations as nomination_service
from thidua.services.submissions import submit_report
from thidua.web.app import route_table

EVERYONE = frozenset(key for key, *_ in PEOPLE)
REVIEWERS = frozenset({"reviewer_d1", "reviewer_d2", "reviewer_bdh", "office"})
OFFICE = frozenset({"office"})
WHO = [None, *sorted(EVERYONE)]


@dataclass
class Targets:
    assignment: int  # BDH.D1.1's round 1 report, waiting for BDH.D1
    nomination: int  # BDH.D1.1's nomination, held by BDH.D1
    open_list: int  # BDH.D1.1's list not sent yet
    office_user: int


@pytest.fixture(scope="module")
def setting(world_template, tmp_path_factory) -> tuple[World, Targets]:  # noqa: ANN001
    world = build_world(world_template, tmp_path_factory.mktemp("quyen") / "data")
    world.clock[0] = NOMINATION_NOW
    eligible_for_round_two_awards(world)
    with Session(world.engine) as session:
        submit_report(
            session,
            campaign_code="bd-2023",
            obligation_code="so-ket-dot-1",
            unit_code="BDH.D1.1",
            raw={"so_sang_kien": 1, "so_doan_vien_moi": 1},
            actor="test",
            now=world.now(),
        )
        session.commit()
    campaign = nomination_service.campaign_by_code(world.engine, "bd-2023")
    actor = nomination_service.Actor(world.units["BDH.D1.1"].id, "test")
    dossier = {
        "bao-cao-thanh-tich": nomination_service.DossierEntry(ref="05/BC"),
        "bien-ban-hoi-dong": nomination_service.DossierEntry(ref="03/BB", votes_for=9, votes_total=11),
    }
    first = nomination_service.propose(
        world.engine,
        campaign.id,
        actor,
        [
            nomination_service.ProposalInput(
                award_code="bang-khen-ldld-tinh-chuyen-de",
                subject="collective",
                nominee_unit_id=actor.unit_id,
                achievement="Sáng kiến",
                occasion="round",
                round_number=2,
                theme="Sáng kiến",
                dossier=dossier,
            )
        ],
        send=nomination_service.DocumentRef("12/TTr", NOMINATION_NOW.date()),
        now=world.now(),
    )
    second = nomination_service.propose(
        world.engine,
        campaign.id,
        actor,
        [
            nomination_service.ProposalInput(
                award_code="giay-khen-cap-tren",
                subject="collective",
                nominee_unit_id=actor.unit_id,
                achievement="Tốt",
                occasion="round",
                round_number=2,
                dossier={"bao-cao-thanh-tich": dossier["bao-cao-thanh-tich"]},
            )
        ],
        now=world.now(),
    )
    targets = Targets(
        world.assignment_id("BDH.D1.1", "so-ket-dot-1"),
        first.nomination_ids[0],
        second.batch_ids[0],
        world.users["office"].id,
    )
    return world, targets


def everyone(status: int, anon: int = 303) -> dict[str | None, int]:
    return {None: anon, **{who: status for who in EVERYONE}}


def only(
    allowed: frozenset[str] | set[str], status: int, *, denied: int = 403, anon: int = 303
) -> dict[str | None, int]:
    return {None: anon, **{who: status if who in allowed else denied for who in EVERYONE}}


def api(expected: dict[str | None, int]) -> dict[str | None, int]:
    """The same rule under /api/v1: an anonymous caller gets 401, not a redirect."""
    return {**expected, None: 401 if expected[None] == 303 else expected[None]}


Request = Callable[[Targets], dict[str, Any]]  # url and form data or json
READ_REPORT = {"officer_d1_1", "reviewer_d1", "office"}
REVIEW_REPORT = {"reviewer_d1", "office"}
READ_NOMINATION = {"officer_d1_1", "officer_d1", "reviewer_d1", "reviewer_bdh", "office"}
HOLD_NOMINATION = {"reviewer_d1", "office"}
RECEIVING_UNIT = {"reviewer_d1": 403, "officer_d1": 403}  # BDH.D1 receives BDH.D1.1's lists but cannot send them

MATRIX: dict[tuple[str, str], tuple[Request, dict[str | None, int]]] = {
    ("GET", "/"): (lambda t: {"url": "/"}, everyone(303)),
    ("GET", "/dang-nhap"): (lambda t: {"url": "/dang-nhap"}, {**everyone(303), None: 200}),
    ("POST", "/dang-nhap"): (
        lambda t: {"url": "/dang-nhap", "data": {"email": "ai-do@example.vn"}},
        everyone(200, 200),
    ),
    ("GET", "/dang-nhap/lien-ket"): (lambda t: {"url": "/dang-nhap/lien-ket?t=gia-mao"}, everyone(400, 400)),
    ("POST", "/dang-nhap/lien-ket"): (
        lambda t: {"url": "/dang-nhap/lien-ket", "data": {"t": "gia-mao"}},
        everyone(400, 400),
    ),
    ("GET", "/chon-don-vi"): (lambda t: {"url": "/chon-don-vi"}, everyone(200)),
    ("POST", "/chon-don-vi"): (
        lambda t: {"url": "/chon-don-vi", "data": {"user_id": t.office_user}},
        only(OFFICE, 303),
    ),
    ("POST", "/dang-xuat"): (lambda t: {"url": "/dang-xuat"}, everyone(303)),
    ("GET", "/don-vi"): (lambda t: {"url": "/don-vi"}, everyone(200)),
    ("GET", "/don-vi/lich"): (lambda t: {"url": "/don-vi/lich"}, everyone(200)),
    ("GET", "/don-vi/lich-su"): (lambda t: {"url": "/don-vi/lich-su"}, everyone(200)),
    ("POST", "/don-vi/lich"): (lambda t: {"url": "/don-vi/lich"}, everyone(303)),
    ("GET", "/lich/{token}.ics"): (lambda t: {"url": "/lich/khong-dung.ics"}, everyone(403, 403)),
    ("GET", "/huy-nhan-thu/{token}"): (lambda t: {"url": "/huy-nhan-thu/gia-mao"}, everyone(400, 400)),
    ("POST", "/huy-nhan-thu/{token}"): (
        lambda t: {"url": "/huy-nhan-thu/gia-mao", "data": {"List-Unsubscribe": "One-Click"}},
        everyone(400, 400),
    ),
    ("GET", "/don-vi/nghia-vu/{assignment_id}"): (
        lambda t: {"url": f"/don-vi/nghia-vu/{t.assignment}"},
        only(READ_REPORT, 200),
    ),
    ("POST", "/don-vi/nghia-vu/{assignment_id}"): (
        lambda t: {"url": f"/don-vi/nghia-vu/{t.assignment}", "data": {}},
        only({"officer_d1_1"}, 422),
    ),
    ("POST", "/don-vi/nghia-vu/{assignment_id}/khong-co-de-nghi"): (
        lambda t: {"url": f"/don-vi/nghia-vu/{t.assignment}/khong-co-de-nghi", "data": {}},
        only({"officer_d1_1"}, 422),
    ),
    ("GET", "/duyet"): (lambda t: {"url": "/duyet"}, only(REVIEWERS, 200)),
    ("GET", "/xet-duyet"): (lambda t: {"url": "/xet-duyet"}, everyone(303, 303)),
    ("GET", "/duyet/bai-nop/{assignment_id}"): (
        lambda t: {"url": f"/duyet/bai-nop/{t.assignment}"},
        only(REVIEW_REPORT, 200),
    ),
    ("POST", "/duyet/bai-nop/{assignment_id}"): (
        lambda t: {"url": f"/duyet/bai-nop/{t.assignment}", "data": {"hanh_dong": "tra_lai", "y_kien": ""}},
        only(REVIEW_REPORT, 422),
    ),
    ("POST", "/duyet/hang-loat"): (
        lambda t: {"url": "/duyet/hang-loat", "data": {"chon": f"{t.assignment}:0"}},
        only(REVIEW_REPORT, 409),
    ),
    ("GET", "/don-vi/khen-thuong"): (lambda t: {"url": "/don-vi/khen-thuong"}, everyone(200)),
    ("GET", "/don-vi/khen-thuong/moi"): (lambda t: {"url": "/don-vi/khen-thuong/moi"}, everyone(200)),
    ("POST", "/don-vi/khen-thuong/moi"): (lambda t: {"url": "/don-vi/khen-thuong/moi", "data": {}}, everyone(422)),
    ("GET", "/don-vi/khen-thuong/{nomination_id}"): (
        lambda t: {"url": f"/don-vi/khen-thuong/{t.nomination}"},
        only(READ_NOMINATION, 200),
    ),
    ("POST", "/don-vi/khen-thuong/{nomination_id}"): (
        lambda t: {"url": f"/don-vi/khen-thuong/{t.nomination}", "data": {"hanh_dong": "tra_lai", "y_kien": ""}},
        only(HOLD_NOMINATION, 422),
    ),
    ("POST", "/don-vi/khen-thuong/danh-sach/{batch_id}"): (
        lambda t: {"url": f"/don-vi/khen-thuong/danh-sach/{t.open_list}", "data": {}},
        {**only({"officer_d1_1"}, 422, denied=404), **RECEIVING_UNIT},
    ),
    # commendation: evidence, publication (public page), council, numbered decisions, certificates, fund
    ("POST", "/don-vi/khen-thuong/{nomination_id}/minh-chung"): (
        lambda t: {"url": f"/don-vi/khen-thuong/{t.nomination}/minh-chung", "data": {}},
        only(READ_NOMINATION, 422),
    ),
    ("GET", "/don-vi/khen-thuong/minh-chung/{evidence_id}"): (
        lambda t: {"url": "/don-vi/khen-thuong/minh-chung/999"},
        everyone(404),
    ),
    ("POST", "/don-vi/khen-thuong/minh-chung/{evidence_id}/go"): (
        lambda t: {"url": "/don-vi/khen-thuong/minh-chung/999/go", "data": {}},
        everyone(404),
    ),
    ("GET", "/don-vi/khen-thuong/{nomination_id}/giay-khen.pdf"): (
        lambda t: {"url": f"/don-vi/khen-thuong/{t.nomination}/giay-khen.pdf"},
        only(READ_NOMINATION, 404),
    ),
    ("GET", "/khen-thuong/quyet-dinh"): (lambda t: {"url": "/khen-thuong/quyet-dinh"}, only(REVIEWERS, 200)),
    ("POST", "/khen-thuong/cong-khai"): (lambda t: {"url": "/khen-thuong/cong-khai", "data": {}}, only(REVIEWERS, 422)),
    ("GET", "/cong-khai/{token}"): (lambda t: {"url": "/cong-khai/khong-co"}, everyone(404, 404)),
    ("POST", "/cong-khai/{token}"): (lambda t: {"url": "/cong-khai/khong-co", "data": {}}, everyone(404, 404)),
    ("POST", "/khen-thuong/hoi-dong"): (lambda t: {"url": "/khen-thuong/hoi-dong", "data": {}}, only(REVIEWERS, 422)),
    ("GET", "/khen-thuong/hoi-dong/{session_id}"): (
        lambda t: {"url": "/khen-thuong/hoi-dong/999"},
        only(REVIEWERS, 404),
    ),
    ("POST", "/khen-thuong/hoi-dong/{session_id}/{step}"): (
        lambda t: {"url": "/khen-thuong/hoi-dong/999/ket-thuc", "data": {}},
        only(REVIEWERS, 404),
    ),
    ("GET", "/khen-thuong/hoi-dong/{session_id}/bien-ban.docx"): (
        lambda t: {"url": "/khen-thuong/hoi-dong/999/bien-ban.docx"},
        only(REVIEWERS, 404),
    ),
    ("POST", "/khen-thuong/quyet-dinh"): (
        lambda t: {"url": "/khen-thuong/quyet-dinh", "data": {}},
        only(REVIEWERS, 422),
    ),
    ("GET", "/khen-thuong/quyet-dinh/{decision_id}"): (
        lambda t: {"url": "/khen-thuong/quyet-dinh/999"},
        only(REVIEWERS, 404),
    ),
    ("GET", "/khen-thuong/quyet-dinh/{decision_id}/van-ban.docx"): (
        lambda t: {"url": "/khen-thuong/quyet-dinh/999/van-ban.docx"},
        only(REVIEWERS, 404),
    ),
    ("GET", "/khen-thuong/quyet-dinh/{decision_id}/giay-khen.pdf"): (
        lambda t: {"url": "/khen-thuong/quyet-dinh/999/giay-khen.pdf"},
        only(REVIEWERS, 404),
    ),
    ("POST", "/khen-thuong/quyet-dinh/{decision_id}/huy"): (
        lambda t: {"url": "/khen-thuong/quyet-dinh/999/huy", "data": {}},
        only(REVIEWERS, 404),
    ),
    ("GET", "/khen-thuong/quy-khen-thuong.xlsx"): (
        lambda t: {"url": "/khen-thuong/quy-khen-thuong.xlsx"},
        only(REVIEWERS, 200),
    ),
    ("GET", "/van-phong"): (lambda t: {"url": "/van-phong"}, only(OFFICE, 200)),
    ("GET", "/tien-do"): (lambda t: {"url": "/tien-do"}, only(REVIEWERS | {"officer_d1"}, 200)),
    # no cụm/khối in this world: the office sees the empty page, members of none are refused; no cluster to submit for
    ("GET", "/cum-thi-dua"): (lambda t: {"url": "/cum-thi-dua"}, only(OFFICE, 200)),
    ("POST", "/cum-thi-dua/{code}/xep-hang"): (
        lambda t: {"url": "/cum-thi-dua/KHONG-CO/xep-hang", "data": {}},
        only(set(), 404, denied=404),
    ),
    ("GET", "/van-phong/nhat-ky"): (lambda t: {"url": "/van-phong/nhat-ky"}, only(OFFICE, 200)),
    ("GET", "/van-phong/nguoi-dung"): (lambda t: {"url": "/van-phong/nguoi-dung"}, only(OFFICE, 200)),
    ("POST", "/van-phong/nguoi-dung"): (lambda t: {"url": "/van-phong/nguoi-dung", "data": {}}, only(OFFICE, 422)),
    ("POST", "/van-phong/nguoi-dung/nhap-tu-don-vi"): (
        lambda t: {"url": "/van-phong/nguoi-dung/nhap-tu-don-vi"},
        only(OFFICE, 303),
    ),
    ("GET", "/van-phong/thu-loi"): (lambda t: {"url": "/van-phong/thu-loi"}, only(OFFICE, 200)),
    ("GET", "/van-phong/don-vi/{code}"): (
        lambda t: {"url": "/van-phong/don-vi/BDH.D1?ngay=01/01/2023"},
        only(OFFICE, 200),
    ),
    ("GET", "/van-phong/xuat/so-ket-dot-{round_number:int}.{ext}"): (
        lambda t: {"url": "/van-phong/xuat/so-ket-dot-1.xlsx"},
        only(OFFICE, 200),
    ),
    ("GET", "/van-phong/xuat/tong-ket.{ext}"): (lambda t: {"url": "/van-phong/xuat/tong-ket.docx"}, only(OFFICE, 200)),
    ("GET", "/van-phong/xuat/so-khen-thuong.xlsx"): (
        lambda t: {"url": "/van-phong/xuat/so-khen-thuong.xlsx"},
        only(OFFICE, 200),
    ),
    # API: the same rules
    ("GET", "/api/v1/auth/csrf"): (lambda t: {"url": "/api/v1/auth/csrf"}, everyone(200, 200)),
    ("POST", "/api/v1/auth/link"): (
        lambda t: {"url": "/api/v1/auth/link", "json": {"email": "ai-do@example.vn"}},
        everyone(202, 202),
    ),
    ("GET", "/api/v1/me"): (lambda t: {"url": "/api/v1/me"}, api(everyone(200))),
    ("GET", "/api/v1/assignments"): (lambda t: {"url": "/api/v1/assignments"}, api(everyone(200))),
    ("GET", "/api/v1/assignments/{assignment_id}"): (
        lambda t: {"url": f"/api/v1/assignments/{t.assignment}"},
        api(only(READ_REPORT, 200)),
    ),
    ("POST", "/api/v1/assignments/{assignment_id}/submissions"): (
        lambda t: {"url": f"/api/v1/assignments/{t.assignment}/submissions", "json": {"data": {}}},
        api(only({"officer_d1_1"}, 422)),
    ),
    ("GET", "/api/v1/review/queue"): (lambda t: {"url": "/api/v1/review/queue"}, api(only(REVIEWERS, 200))),
    ("POST", "/api/v1/review/{assignment_id}"): (
        lambda t: {"url": f"/api/v1/review/{t.assignment}", "json": {"action": "return"}},
        api(only(REVIEW_REPORT, 409)),
    ),
    ("POST", "/api/v1/review/bulk-accept"): (
        lambda t: {"url": "/api/v1/review/bulk-accept", "json": {"items": [f"{t.assignment}:0"]}},
        api(only(REVIEW_REPORT, 200)),
    ),
    ("GET", "/api/v1/office/dashboard"): (lambda t: {"url": "/api/v1/office/dashboard"}, api(only(OFFICE, 200))),
    ("GET", "/api/v1/office/audit"): (lambda t: {"url": "/api/v1/office/audit"}, api(only(OFFICE, 200))),
    ("GET", "/api/v1/nominations"): (lambda t: {"url": "/api/v1/nominations"}, api(everyone(200))),
    ("POST", "/api/v1/nominations"): (
        lambda t: {
            "url": "/api/v1/nominations",
            "json": {
                "award_code": "khong-co",
                "subject": "collective",
                "nominee_unit_code": "BDH.D1.1",
                "achievement": "x",
            },
        },
        api(everyone(422)),
    ),
    ("GET", "/api/v1/review/nominations"): (lambda t: {"url": "/api/v1/review/nominations"}, api(only(REVIEWERS, 200))),
    ("GET", "/api/v1/nominations/{nomination_id}"): (
        lambda t: {"url": f"/api/v1/nominations/{t.nomination}"},
        api(only(READ_NOMINATION, 200)),
    ),
    ("POST", "/api/v1/nominations/{nomination_id}/actions"): (
        lambda t: {"url": f"/api/v1/nominations/{t.nomination}/actions", "json": {"action": "return", "comment": ""}},
        api(only(HOLD_NOMINATION, 422)),
    ),
    ("POST", "/api/v1/nomination-lists/{batch_id}/send"): (
        lambda t: {
            "url": f"/api/v1/nomination-lists/{t.open_list}/send",
            "json": {"to_trinh_number": "", "to_trinh_date": "2099-01-01"},
        },
        api({**only({"officer_d1_1"}, 422, denied=404), **RECEIVING_UNIT}),
    ),
}


def test_the_matrix_covers_every_route() -> None:
    assert set(MATRIX) == set(route_table())


@pytest.mark.parametrize("who", WHO, ids=lambda w: w or "an-danh")
def test_every_route_answers_each_person_as_the_rules_say(setting, who: str | None) -> None:  # noqa: ANN001
    world, targets = setting
    client = make_client(world)
    wrong = []
    for (method, path), (build, expected) in MATRIX.items():
        sign_in(client, world, who)
        client.get("/dang-nhap")  # an anonymous visitor gets a session (and CSRF token) here
        spec = build(targets)
        if method == "GET":
            answer = client.get(spec["url"])
        elif "json" in spec:
            answer = client.post(spec["url"], json=spec["json"], headers={"X-CSRF-Token": csrf_of(client, world)})
        else:
            answer = client.post(spec["url"], data={**spec.get("data", {}), "_csrf": csrf_of(client, world)})
        if answer.status_code != expected[who]:
            wrong.append(f"{method} {path}: {answer.status_code}, expected {expected[who]}")
        if (
            answer.status_code == 303
            and expected[who] == 303
            and who is None
            and path not in ("/", "/xet-duyet", "/dang-xuat")
        ):
            assert answer.headers["location"].startswith("/dang-nhap"), (method, path)
    assert not wrong, "\n".join(wrong)
