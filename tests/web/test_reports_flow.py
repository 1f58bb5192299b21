"""A round report through the pages: errors kept beside fields, review, return, resubmission, conflicts."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlmodel import Session

from thidua.models.outbox import OutboxMessage
from thidua.models.submissions import Submission
from thidua.models.tables import Assignment, AuditLog
from tests.web.conftest import World, csrf_of, sign_in

GOOD = {
    "so_sang_kien": "12",
    "so_doan_vien_moi": "1.250",
    "gia_tri_lam_loi": "15,5",
    "guong_dien_hinh": "Tổ sản xuất số 3",
}


def form_version(html: str) -> str:
    return re.search(r'name="_phien_ban" value="(\d+)"', html).group(1)


def submit(client, world: World, assignment_id: int, values: dict[str, str], version: str | None = None):  # noqa: ANN001, ANN201
    page = client.get(f"/don-vi/nghia-vu/{assignment_id}")
    data = dict(values, _csrf=csrf_of(client, world), _phien_ban=version or form_version(page.text))
    return client.post(f"/don-vi/nghia-vu/{assignment_id}", data=data)


def review(client, world: World, assignment_id: int, action: str, comment: str = "", version: str | None = None):  # noqa: ANN001, ANN201
    page = client.get(f"/duyet/bai-nop/{assignment_id}")
    assert page.status_code == 200, page.text
    data = {
        "hanh_dong": action,
        "y_kien": comment,
        "_csrf": csrf_of(client, world),
        "_phien_ban": version or form_version(page.text),
    }
    return client.post(f"/duyet/bai-nop/{assignment_id}", data=data)


def status_of(world: World, assignment_id: int) -> str:
    with Session(world.engine) as session:
        return session.get(Assignment, assignment_id).status


def test_obligations_page_lists_due_dates_status_and_days_left(world: World, client) -> None:
    sign_in(client, world, "officer_d1_1")
    page = client.get("/don-vi")
    assert page.status_code == 200
    rows = re.findall(r"<tr>(.*?)</tr>", page.text, re.S)
    text = " ".join(re.sub(r"<[^>]+>", " ", r) for r in rows)
    assert "Báo cáo sơ kết đợt 1" in text and "10/06/2023" in text and "còn 5 ngày" in text
    assert "Đăng ký giao ước thi đua năm 2023" in text and "quá hạn 82 ngày" in text  # due 15/03/2023
    assert text.count("Chưa gửi") == 6


def test_round_report_error_fixed_returned_resubmitted_accepted(world: World, client) -> None:
    a = world.assignment_id("BDH.D1.1", "so-ket-dot-1")
    sign_in(client, world, "officer_d1_1")
    bad = submit(client, world, a, dict(GOOD, so_sang_kien="mười hai", so_doan_vien_moi=""))
    assert bad.status_code == 422
    assert 'value="mười hai"' in bad.text and 'value="15,5"' in bad.text and "Tổ sản xuất số 3" in bad.text
    assert re.search(r'id="e-so_sang_kien">Phải là số nguyên, nhận &#39;mười hai&#39;', bad.text)
    assert re.search(r'id="e-so_doan_vien_moi">Bắt buộc nhập', bad.text)
    assert "Biểu mẫu còn 2 lỗi" in bad.text
    assert status_of(world, a) == "chua_gui"

    sent = submit(client, world, a, GOOD)
    assert sent.status_code == 303 and sent.headers["location"].endswith("tb=da-gui")
    assert status_of(world, a) == "da_gui"

    sign_in(client, world, "reviewer_d1")
    queue = client.get("/duyet").text
    assert "CĐCS Đơn vị Mẫu 1-1" in queue and "Báo cáo sơ kết đợt 1" in queue
    detail = client.get(f"/duyet/bai-nop/{a}").text
    assert "1.250" in detail and "15,5" in detail  # shown the Vietnamese way
    no_comment = review(client, world, a, "tra_lai", "")
    assert no_comment.status_code == 422 and "Trả lại phải kèm ý kiến" in no_comment.text
    returned = review(client, world, a, "tra_lai", "Số đoàn viên mới chưa khớp sổ sách, đề nghị kiểm tra.")
    assert returned.status_code == 303 and status_of(world, a) == "tra_lai"

    sign_in(client, world, "officer_d1_1")
    page = client.get(f"/don-vi/nghia-vu/{a}").text
    assert "Số đoàn viên mới chưa khớp sổ sách" in page and 'value="1.250"' in page  # prefilled for correction
    assert submit(client, world, a, dict(GOOD, so_doan_vien_moi="125")).status_code == 303

    sign_in(client, world, "reviewer_d1")
    assert review(client, world, a, "duyet").status_code == 303
    assert status_of(world, a) == "da_duyet"
    with Session(world.engine) as session:
        versions = (
            session.execute(select(Submission).where(Submission.assignment_id == a).order_by(Submission.version))
            .scalars()
            .all()
        )
        actions = [
            r.action
            for r in session.execute(
                select(AuditLog)
                .where(AuditLog.entity == "assignment", AuditLog.entity_id == str(a))
                .order_by(AuditLog.id)
            ).scalars()
        ]
    assert [(v.version, v.review_status, v.data["so_doan_vien_moi"]) for v in versions] == [
        (1, "tra_lai", 1250),
        (2, "da_duyet", 125),
    ]
    assert versions[1].submitted_by == world.users["officer_d1_1"].email
    assert versions[1].reviewed_by == world.users["reviewer_d1"].email
    assert actions == ["submission.submitted", "submission.returned", "submission.submitted", "submission.accepted"]
    sign_in(client, world, "officer_d1_1")
    history = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", client.get("/don-vi/lich-su").text))
    assert re.search(
        r"Báo cáo sơ kết đợt 1 \(bản 2\).*Đã duyệt.*Báo cáo sơ kết đợt 1 \(bản 1\).*Trả lại.*"
        r"Số đoàn viên mới chưa khớp sổ sách",
        history,
    )


def test_stale_page_shows_a_conflict_with_the_current_state(world: World, client) -> None:
    a = world.assignment_id("BDH.D1.1", "so-ket-dot-1")
    sign_in(client, world, "officer_d1_1")
    assert submit(client, world, a, GOOD).status_code == 303
    sign_in(client, world, "reviewer_d1")
    old_version = form_version(client.get(f"/duyet/bai-nop/{a}").text)
    assert review(client, world, a, "duyet").status_code == 303
    # A second reviewer's tab, opened before the decision, now tries to return the report.
    stale = review(client, world, a, "tra_lai", "Thiếu số liệu", version=old_version)
    assert stale.status_code == 409
    assert "Dữ liệu đã thay đổi" in stale.text and "Tình trạng hiện tại" in stale.text
    assert "Đã duyệt" in stale.text and world.users["reviewer_d1"].email in stale.text
    assert status_of(world, a) == "da_duyet"


def test_sector_fields_follow_the_unit(world: World, client) -> None:
    hcsn = world.assignment_id("BDH.D1.2", "so-ket-dot-1")
    sign_in(client, world, "officer_d1_2")
    page = client.get(f"/don-vi/nghia-vu/{hcsn}").text
    assert 'name="so_mo_hinh_cai_cach"' in page and 'name="gia_tri_lam_loi"' not in page


def test_bulk_accept_accepts_routine_reports_and_reports_the_stale_one(world: World, client) -> None:
    ids = [world.assignment_id(code, "so-ket-dot-1") for code in ("BDH.D1.1", "BDH.D1.2", "BDH.D1.3")]
    for code, a in zip(("officer_d1_1", "officer_d1_2"), ids[:2]):
        sign_in(client, world, code)
        assert submit(client, world, a, {"so_sang_kien": "3", "so_doan_vien_moi": "4"}).status_code == 303
    sign_in(client, world, "reviewer_d1")
    queue = client.get("/duyet").text
    picked = re.findall(r'name="chon" value="([^"]+)"', queue)
    assert len(picked) == 2
    done = client.post("/duyet/hang-loat", data={"chon": picked, "_csrf": csrf_of(client, world)})
    assert done.status_code == 303
    assert [status_of(world, a) for a in ids] == ["da_duyet", "da_duyet", "chua_gui"]
    again = client.post("/duyet/hang-loat", data={"chon": picked[:1], "_csrf": csrf_of(client, world)})
    assert again.status_code == 409 and "chưa duyệt được" in again.text


def test_submission_through_the_api_with_a_bearer_token(world: World, client) -> None:
    from datetime import datetime, timezone

    from thidua.web.users import create_api_token

    with Session(world.engine) as session:
        token = create_api_token(
            session, world.users["officer_d1_1"], label="thử", actor="test", now=datetime.now(timezone.utc)
        )
        session.commit()
    client.cookies.clear()
    a = world.assignment_id("BDH.D1.1", "so-ket-dot-1")
    auth = {"Authorization": f"Bearer {token}"}
    bad = client.post(f"/api/v1/assignments/{a}/submissions", json={"data": {"so_sang_kien": -1}}, headers=auth)
    assert bad.status_code == 422
    errors = bad.json()["loi"]["chi_tiet"]["errors"]
    assert set(errors) == {"so_sang_kien", "so_doan_vien_moi"} and "nhỏ hơn mức tối thiểu 0" in errors["so_sang_kien"]
    ok = client.post(
        f"/api/v1/assignments/{a}/submissions", json={"data": {"so_sang_kien": 7, "so_doan_vien_moi": 2}}, headers=auth
    )
    assert (
        ok.status_code == 201
        and ok.json()["status"] == "da_gui"
        and ok.json()["history"][0]["data"]["so_sang_kien"] == 7
    )
    foreign = world.assignment_id("BDH.D1.2", "so-ket-dot-1")
    denied = client.post(f"/api/v1/assignments/{foreign}/submissions", json={"data": {}}, headers=auth)
    assert denied.status_code == 403
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer sai"}).status_code == 401


def test_returned_report_page_shows_the_comment_first_and_the_latest_version(world: World, client) -> None:
    """Issue 11 point 2: comment at the top, "Gửi lần cuối" is the latest version, history numbered by version."""
    from datetime import timedelta

    a = world.assignment_id("BDH.D1.1", "so-ket-dot-1")
    sign_in(client, world, "officer_d1_1")
    assert submit(client, world, a, GOOD).status_code == 303
    world.clock[0] += timedelta(hours=2)
    assert submit(client, world, a, dict(GOOD, so_sang_kien="13")).status_code == 303  # 12:00 on 05/06
    sign_in(client, world, "reviewer_d1")
    world.clock[0] += timedelta(hours=1)
    assert review(client, world, a, "tra_lai", "Thiếu xác nhận của chủ tịch công đoàn.").status_code == 303
    with Session(world.engine) as session:
        queued = session.execute(select(OutboxMessage).where(OutboxMessage.kind == "report_returned")).scalars().all()
    assert {m.recipient for m in queued} == {"bdh-d1-1@example.vn", world.users["officer_d1_1"].email}
    sign_in(client, world, "officer_d1_1")
    page = client.get(f"/don-vi/nghia-vu/{a}").text
    top = page.index('id="y-kien-tra-lai"')
    assert top < page.index('id="bieu-mau"') and "Thiếu xác nhận của chủ tịch công đoàn." in page[top : top + 400]
    assert re.search(r'id="gui-lan-cuoi">12:00 05/06/2023 \(bản 2\)', page)
    assert re.findall(r'<li value="(\d+)">\s*<strong>Bản (\d+)', page) == [("2", "2"), ("1", "1")]
