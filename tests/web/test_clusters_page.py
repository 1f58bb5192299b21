"""The cụm/khối thi đua page: the office sees every cluster, a member its own, only the head submits the ranking."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from tests.web.conftest import World, csrf_of, make_client, sign_in
from thidua.models.tables import AuditLog
from thidua.services import clusters as svc

CLUSTERS = """\
clusters:
  - {code: CUM-A, name: Cụm thi đua A, kind: cụm, year: 2023, head: BDH.D1, members: [BDH.D1, BDH.D2]}
"""


def _with_clusters(world: World, tmp_path: Path) -> None:
    path = tmp_path / "cum.yaml"
    path.write_text(CLUSTERS, encoding="utf-8")
    svc.import_clusters(world.engine, path)


def test_office_member_and_head_views_and_the_head_submits(world: World, tmp_path: Path) -> None:
    _with_clusters(world, tmp_path)
    client = make_client(world)
    sign_in(client, world, "office")
    page = client.get("/cum-thi-dua")
    assert page.status_code == 200
    assert "Cụm thi đua A" in page.text and "Điểm tạm tính" in page.text and "Gửi bảng xếp hạng" not in page.text
    assert "Chỉ tiêu theo cụm" in page.text and "Mỗi CĐCS, cấp trên trực tiếp cơ sở có một công trình" in page.text
    assert "BDH.D1: 0 % (Chậm tiến độ)" in page.text or "BDH.D1: 0 %" in page.text

    sign_in(client, world, "reviewer_d2")  # a member, not the head
    page = client.get("/cum-thi-dua")
    assert page.status_code == 200 and "Cụm thi đua A" in page.text and "Gửi bảng xếp hạng" not in page.text
    refused = client.post("/cum-thi-dua/CUM-A/xep-hang", data={"_csrf": csrf_of(client, world), "bien_ban": "BB 1"})
    assert (
        refused.status_code == 403
        and "gửi bảng xếp hạng của Cụm thi đua A (chỉ đơn vị trưởng cụm năm 2023" in refused.text
    )

    sign_in(client, world, "reviewer_d1")  # the head
    page = client.get("/cum-thi-dua")
    assert "Gửi bảng xếp hạng" in page.text
    empty = client.post("/cum-thi-dua/CUM-A/xep-hang", data={"_csrf": csrf_of(client, world), "bien_ban": ""})
    assert empty.status_code == 422 and "Cần số và ngày của biên bản họp cụm" in empty.text
    sent = client.post(
        "/cum-thi-dua/CUM-A/xep-hang",
        data={"_csrf": csrf_of(client, world), "bien_ban": "Biên bản số 01/BB-CTĐ ngày 28/11/2023"},
        follow_redirects=True,
    )
    assert sent.status_code == 200 and "Đã gửi bảng xếp hạng của cụm." in sent.text
    assert "Lần 1" in sent.text and "Biên bản số 01/BB-CTĐ ngày 28/11/2023" in sent.text
    with Session(world.engine) as session:
        assert (
            session.execute(select(AuditLog.actor).where(AuditLog.action == "cluster.ranking_submit")).scalar_one()
            == world.users["reviewer_d1"].email
        )


def test_a_unit_outside_every_cluster_may_not_open_the_page(world: World, tmp_path: Path) -> None:
    client = make_client(world)
    sign_in(client, world, "officer_d1")
    assert client.get("/cum-thi-dua").status_code == 403
