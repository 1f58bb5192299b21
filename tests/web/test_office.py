"""The campaign office: figures, reminder failures, audit search, accounts, target figures kept fresh."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlmodel import Session

from thidua.models.clock import utcnow
from thidua.models.outbox import OutboxMessage
from thidua.models.tables import AuditLog, User
from thidua.notifications.outbox import enqueue
from tests.web.conftest import World, csrf_of, sign_in
from tests.web.helpers import report_accepted
from thidua.web.figure_cache import FigureCache


def set_outbox(session: Session, key: str, **values: object) -> None:
    session.execute(update(OutboxMessage).where(OutboxMessage.key == key).values(**values))


def test_dashboard_counts_by_level_and_district_with_the_late_list(world: World, client) -> None:
    report_accepted(world, "BDH.D1.1", "so-ket-dot-1", {"so_sang_kien": 30, "so_doan_vien_moi": 2}, "BDH.D1")
    world.clock[0] = world.now() + timedelta(days=6)  # 11/06/2023: round 1 reports are overdue
    sign_in(client, world, "office")
    d = client.get("/api/v1/office/dashboard").json()
    assert d["selected_obligation"] == "so-ket-dot-1"
    levels = {c["key"]: (c["total"], c["submitted"], c["accepted"], c["overdue"]) for c in d["by_level"]}
    assert levels == {"cap_tren_truc_tiep": (2, 0, 0, 2), "cdcs": (6, 1, 1, 5)}
    branches = {c["key"]: (c["total"], c["submitted"], c["done_percent"]) for c in d["by_branch"]}
    assert branches == {"BDH.D1": (4, 1, 25.0), "BDH.D2": (4, 0, 0.0)}
    assert d["overdue_total"] == 7
    # 8.000 initiatives by 31/8 reads the districts' báo cáo nhanh (due 08/09), not round 1's 30: nothing yet.
    sang_kien = next(t for t in d["targets"] if t["code"] == "sang-kien-8000")
    assert sang_kien["value"] == 0 and sang_kien["verdict"] == "Chưa đến hạn báo cáo"
    page = client.get("/van-phong").text
    late = re.search(r'<ul id="danh-sach-tre">(.*?)</ul>', page, re.S).group(1)
    assert "CĐCS Đơn vị Mẫu 1-2" in late and "CĐCS Đơn vị Mẫu 1-1" not in late


def test_reminders_that_failed_are_listed_for_action(world: World, client) -> None:
    with Session(world.engine) as session:
        enqueue(
            session,
            key="nhac:1",
            kind="reminder",
            recipient="sai@@example",
            template="reminder_upcoming",
            context={},
            campaign_id=1,
            unit_id=world.units["BDH.D1.2"].id,
        )
        enqueue(
            session,
            key="nhac:2",
            kind="reminder",
            recipient="ok@example.vn",
            template="reminder_upcoming",
            context={},
            campaign_id=1,
            unit_id=world.units["BDH.D1.3"].id,
        )
        set_outbox(session, "nhac:1", status="failed", last_error="địa chỉ e-mail không hợp lệ", attempts=1)
        set_outbox(session, "nhac:2", status="sent", sent_at=utcnow())
        session.commit()
    sign_in(client, world, "office")
    d = client.get("/api/v1/office/dashboard").json()
    assert d["delivery"] == {"failed": 1, "sent": 1}
    table = re.search(r'<table class="wide" id="thu-loi">(.*?)</table>', client.get("/van-phong").text, re.S).group(1)
    assert "CĐCS Đơn vị Mẫu 1-2" in table and "sai@@example" in table and "không hợp lệ" in table
    assert "ok@example.vn" not in table


def test_audit_log_is_searchable_by_unit_and_date(world: World, client) -> None:
    report_accepted(world, "BDH.D1.1", "so-ket-dot-1", {"so_sang_kien": 1, "so_doan_vien_moi": 1}, "BDH.D1")
    sign_in(client, world, "office")
    page = client.get(
        "/van-phong/nhat-ky", params={"don_vi": "BDH.D1.1", "tu_ngay": "05/06/2023", "den_ngay": "05/06/2023"}
    )
    rows = re.findall(r"<code>([a-z_.]+)</code>", page.text)
    assert rows == ["submission.accepted", "submission.submitted"]
    empty = client.get("/van-phong/nhat-ky", params={"don_vi": "BDH.D1.1", "tu_ngay": "06/06/2023"})
    assert re.findall(r"<code>([a-z_.]+)</code>", empty.text) == []
    bad = client.get("/van-phong/nhat-ky", params={"don_vi": "KHONG-CO", "tu_ngay": "32/01/2023"})
    assert bad.status_code == 422
    assert "Không có đơn vị mã &#39;KHONG-CO&#39;" in bad.text and "Ngày không hợp lệ: &#39;32/01/2023&#39;" in bad.text
    assert 'value="KHONG-CO"' in bad.text and 'value="32/01/2023"' in bad.text
    api = client.get("/api/v1/office/audit", params={"unit": "BDH.D1.1", "since": "2023-06-05"}).json()
    assert [e["action"] for e in api] == ["submission.accepted", "submission.submitted"]


def test_accounts_added_with_errors_beside_fields_or_imported_from_units(world: World, client) -> None:
    sign_in(client, world, "office")
    client.get("/van-phong/nguoi-dung")
    bad = client.post(
        "/van-phong/nguoi-dung",
        data={
            "email": "khong-dung",
            "unit": "BDH.D9",
            "role": "sep",
            "full_name": "Trần Thị B",
            "_csrf": csrf_of(client, world),
        },
    )
    assert bad.status_code == 422
    assert "địa chỉ e-mail &#39;khong-dung&#39; chưa đúng dạng" in bad.text
    assert "không có đơn vị mã &#39;BDH.D9&#39;" in bad.text and "vai trò &#39;sep&#39; không có" in bad.text
    assert 'value="Trần Thị B"' in bad.text
    ok = client.post(
        "/van-phong/nguoi-dung",
        data={
            "email": "Moi@Example.vn",
            "unit": "BDH.D2.1",
            "role": "unit_officer",
            "full_name": "Trần Thị B",
            "_csrf": csrf_of(client, world),
        },
    )
    assert ok.status_code == 303
    twice = client.post(
        "/van-phong/nguoi-dung",
        data={"email": "moi@example.vn", "unit": "BDH.D2.1", "role": "reviewer", "_csrf": csrf_of(client, world)},
    )
    assert twice.status_code == 422 and "đã có tài khoản ở đơn vị BDH.D2.1" in twice.text
    assert (
        client.post("/van-phong/nguoi-dung/nhap-tu-don-vi", data={"_csrf": csrf_of(client, world)}).status_code == 303
    )
    with Session(world.engine) as session:
        imported = dict(session.execute(select(User.email, User.role).where(User.email.like("bdh%"))).all())
        audited = session.execute(
            select(func.count()).select_from(AuditLog).where(AuditLog.action.in_(["user.created", "user.imported"]))
        ).scalar_one()
    assert imported["bdh-d1@example.vn"] == "reviewer" and imported["bdh-d1-1@example.vn"] == "unit_officer"
    assert imported["bdh@example.vn"] == "reviewer"
    assert len(imported) == 9 and audited == 10  # the province, 2 districts, 6 CĐCS; and the one added by hand


def test_cheap_figures_are_recomputed_when_out_of_date(world: World) -> None:
    cache = FigureCache(world.engine, clock=world.now, fresh_for=timedelta(minutes=5), cheap_below_seconds=10)
    runs = []
    compute = lambda session: runs.append(1) or len(runs)  # noqa: E731
    assert cache.get("k", compute).value == 1
    assert cache.get("k", compute).value == 1  # current: kept
    cache.changed()  # a write through the application
    assert cache.get("k", compute).value == 2
    world.clock[0] = world.now() + timedelta(minutes=6)
    assert cache.get("k", compute).value == 3


def test_expensive_figures_are_served_stale_while_recomputed(world: World) -> None:
    cache = FigureCache(world.engine, clock=world.now, cheap_below_seconds=0)  # everything counts as expensive
    release = threading.Event()
    runs = []

    def compute(session: Session) -> int:
        if runs:
            release.wait(10)
        runs.append(1)
        return len(runs)

    first = cache.get("k", compute)
    cache.changed()
    assert cache.get("k", compute) is first  # served at once while a refresh runs ...
    assert cache.get("k", compute) is first  # ... only one
    release.set()
    deadline = time.monotonic() + 10
    while cache.get("k", compute) is first:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert cache.get("k", compute).value == 2 and len(runs) == 2


def test_dashboard_figures_follow_writes_through_the_pages(world: World, client) -> None:
    sign_in(client, world, "office")
    before = client.get("/api/v1/office/dashboard").json()
    sign_in(client, world, "officer_d1_1")
    a = world.assignment_id("BDH.D1.1", "so-ket-dot-1")
    client.get(f"/don-vi/nghia-vu/{a}")
    sent = client.post(
        f"/don-vi/nghia-vu/{a}", data={"so_sang_kien": "5", "so_doan_vien_moi": "1", "_csrf": csrf_of(client, world)}
    )
    assert sent.status_code == 303
    sign_in(client, world, "office")
    submitted = lambda d: next(c["submitted"] for c in d["obligations"] if c["key"] == "so-ket-dot-1")  # noqa: E731
    # Figures that took long to compute (a loaded machine) are served as they were while they are recomputed
    # in the background, so the new figure may take a moment to appear — but it must appear.
    deadline = time.monotonic() + 15
    after = client.get("/api/v1/office/dashboard").json()
    while submitted(after) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
        after = client.get("/api/v1/office/dashboard").json()
    assert (submitted(before), submitted(after)) == (0, 1)


def table_rows(page: str, table_id: str) -> dict[str, list[str]]:
    body = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = [
            re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        rows[cells[0]] = cells[1:]
    return rows


def test_a_district_sees_its_own_units_with_the_office_figures(world: World, client) -> None:
    """Issue 11 point 10: /tien-do for a district federation, scoped to its subtree, same figures as the office's."""
    report_accepted(world, "BDH.D1.1", "so-ket-dot-1", {"so_sang_kien": 30, "so_doan_vien_moi": 2}, "BDH.D1")
    world.clock[0] = world.now() + timedelta(days=6)
    sign_in(client, world, "office")
    office = client.get("/van-phong").text
    office_d1 = table_rows(office, "theo-huyen")["LĐLĐ huyện Thử Nghiệm 1"]
    sign_in(client, world, "reviewer_d1")
    page = client.get("/tien-do")
    assert page.status_code == 200, page.text[-500:]
    mine = table_rows(page.text, "theo-nghia-vu")["Báo cáo sơ kết đợt 1"]
    assert mine == office_d1  # owed, sent, %, accepted, returned, overdue, late: the same numbers
    units = table_rows(page.text, "theo-huyen")
    assert sorted(units) == [
        "CĐCS Đơn vị Mẫu 1-1 (giả lập)",
        "CĐCS Đơn vị Mẫu 1-2 (giả lập)",
        "CĐCS Đơn vị Mẫu 1-3 (giả lập)",
    ]
    late = re.search(r'<ul id="danh-sach-tre">(.*?)</ul>', page.text, re.S).group(1)
    assert "CĐCS Đơn vị Mẫu 1-2" in late and "Mẫu 2-" not in late and "LĐLĐ huyện Thử Nghiệm 1" in late
    assert "Sổ khen thưởng" not in page.text and 'href="/tien-do?nghia_vu=so-ket-dot-2"' in page.text
    sign_in(client, world, "officer_d1_1")  # a CĐCS has no units under it
    assert client.get("/tien-do").status_code == 403


def test_monday_dashboard_opens_on_the_nearest_deadline_and_shows_no_internal_text(world: World, client) -> None:
    """Issue 11 point 12: on Mon 09/10/2023 the report due tomorrow (10/10) is shown, not June's; no "seed" notes."""
    from datetime import datetime, timezone

    world.clock[0] = datetime(2023, 10, 9, 1, 0, tzinfo=timezone.utc)
    sign_in(client, world, "office")
    page = client.get("/van-phong").text
    assert re.search(r'id="nghia-vu-chon">Báo cáo sơ kết đợt 2 – hạn 10/10/2023', page)
    assert "seed" not in page.lower()
    from datetime import date

    from thidua.models.tables import ObligationDef
    from thidua.web.office_views import default_obligation

    with Session(world.engine) as session:
        rows = [(ob, None) for ob in session.execute(select(ObligationDef).order_by(ObligationDef.due_on)).scalars()]
    assert default_obligation(rows, date(2023, 6, 12)).code == "so-ket-dot-1"  # two days after its deadline
    # the báo cáo nhanh (due 08/09) is nearer than June's round 1 and October's round 2
    assert default_obligation(rows, date(2023, 8, 20)).code == "bao-cao-nhanh-sang-kien"
    assert default_obligation(rows, date(2023, 9, 25)).code == "so-ket-dot-2"  # 15 days ahead; 08/09 is 17 behind


def test_office_sees_a_unit_as_of_a_date_before_and_after_a_reorganisation(world: World, client, tmp_path) -> None:
    from datetime import date

    from tests.units.test_reorganisation import write_changes
    from thidua.services.reorganisation import reorganise

    reorganise(
        world.engine,
        write_changes(
            tmp_path / "thay_doi.csv",
            [
                ("01/07/2023", "giai_the", "BDH.D1", "BDH.D2", "", "", ""),
            ],
        ),
        today=date(2023, 7, 3),
    )
    sign_in(client, world, "office")
    before = client.get("/van-phong/don-vi/BDH.D2", params={"ngay": "30/06/2023"})
    after = client.get("/van-phong/don-vi/BDH.D2", params={"ngay": "01/07/2023"})
    assert before.status_code == after.status_code == 200

    def children(page: str) -> list[str]:
        return re.findall(
            r'<span class="muted">(BDH[.\w]*)</span>', re.search(r'<ul id="truc-thuoc">(.*?)</ul>', page, re.S).group(1)
        )

    assert children(before.text) == ["BDH.D2.1", "BDH.D2.2", "BDH.D2.3"]
    assert children(after.text) == ["BDH.D1.1", "BDH.D1.2", "BDH.D1.3", "BDH.D2.1", "BDH.D2.2", "BDH.D2.3"]
    ended = client.get("/van-phong/don-vi/BDH.D1", params={"ngay": "01/07/2023"}).text
    assert "không (ngừng hoạt động)" in ended and "01/07/2023" in ended
    assert client.get("/van-phong/don-vi/BDH.D1", params={"ngay": "31/02/2023"}).status_code == 422
    sign_in(client, world, "officer_d1_1")
    assert client.get("/van-phong/don-vi/BDH.D2").status_code == 403
