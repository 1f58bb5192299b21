"""The deciding level's pages: publication (public page, comments), council session (attendance, votes, minutes),
numbered decision, certificate download — and the gates between them."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select
from sqlmodel import Session

from thidua.models.nominations import Nomination
from tests.web.conftest import World, csrf_of, make_client
from tests.web.helpers import NOMINATION_NOW, eligible_for_round_two_awards, proposal
from tests.web.test_evidence_pages import PDF, upload
from tests.web.test_nominations_flow import act, as_, send_list, text_of

MEMBERS = "Nguyễn Văn Bình | Chủ tịch Hội đồng\nTrần Thị Cúc | Phó Chủ tịch\nLê Văn Dũng\nVõ Văn Phong | Thư ký"


def at_province(world: World, client) -> int:  # noqa: ANN001
    world.clock[0] = NOMINATION_NOW
    eligible_for_round_two_awards(world)
    as_(client, world, "officer_d1_1")
    made = client.post(
        "/don-vi/khen-thuong/moi",
        data=proposal(
            world, doi_tuong="individual", ho_ten="Nguyễn Văn An", chuc_vu="Tổ trưởng", _csrf=csrf_of(client, world)
        ),
    )
    assert made.status_code == 303, text_of(made.text)[-600:]
    with Session(world.engine) as session:
        nid = session.execute(select(Nomination.id)).scalar_one()
    assert upload(client, world, nid, "bao-cao.pdf", PDF).status_code == 303
    send_list(client, world, "12/TTr-CĐCS")
    as_(client, world, "reviewer_d1")
    assert act(client, world, nid, hanh_dong="duyet").status_code == 303
    send_list(client, world, "20/TTr-LĐLĐ")
    return nid


def test_publication_council_decision_and_certificate_through_the_pages(world: World, client) -> None:
    nid = at_province(world, client)
    as_(client, world, "reviewer_bdh")
    desk = client.get("/khen-thuong/quyet-dinh").text
    assert f'value="{nid}"' in desk and "Nguyễn Văn An" in desk
    published = client.post(
        "/khen-thuong/cong-khai", data={"de_nghi": str(nid), "so_ngay": "3", "_csrf": csrf_of(client, world)}
    )
    assert published.status_code == 303
    public_url = published.headers["location"]

    anonymous = make_client(world)
    page = anonymous.get(public_url)
    assert page.status_code == 200 and "Nguyễn Văn An" in page.text and "Đang nhận ý kiến" in page.text
    token = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
    bad = anonymous.post(public_url, data={"ho_ten": "Trần B", "lien_he": "không có", "noi_dung": "x", "_csrf": token})
    assert bad.status_code == 422 and "không phải e-mail hay số điện thoại" in text_of(bad.text)
    good = anonymous.post(
        public_url,
        data={
            "ho_ten": "Trần B",
            "lien_he": "tranb@example.vn",
            "de_nghi": str(nid),
            "noi_dung": "Thành tích đúng như báo cáo.",
            "_csrf": token,
        },
    )
    assert good.status_code == 303
    assert (
        "Thành tích đúng như báo cáo." in anonymous.get(public_url).text
        and "tranb@example.vn" not in anonymous.get(public_url).text
    )

    convened = client.post(
        "/khen-thuong/hoi-dong",
        data={
            "de_nghi": str(nid),
            "tieu_de": "Họp xét khen thưởng đợt 2",
            "ngay_hop": "05/10/2023",
            "hinh_thuc": "open",
            "thanh_vien": MEMBERS,
            "_csrf": csrf_of(client, world),
        },
    )
    assert convened.status_code == 303
    council_url = convened.headers["location"]
    votes = {f"phieu_{nid}_{seq}": v for seq, v in ((1, "for"), (2, "for"), (3, "for"), (4, "against"))}
    assert client.post(council_url + "/phieu", data={**votes, "_csrf": csrf_of(client, world)}).status_code == 303
    # still in the publication window: the decision is refused, no number is taken
    early = client.post(
        "/khen-thuong/quyet-dinh",
        data={
            "de_nghi": str(nid),
            "ngay_ky": "05/10/2023",
            "nguoi_ky": "Nguyễn Văn Bình",
            "_csrf": csrf_of(client, world),
        },
    )
    assert early.status_code == 422 and "Đang chờ Hội đồng" in text_of(early.text)
    assert client.post(council_url + "/ket-thuc", data={"_csrf": csrf_of(client, world)}).status_code == 303
    closed = text_of(client.get(council_url).text)
    assert "Đã kết thúc" in closed and "Biên bản số 1/BB-LĐLĐ" in closed and "Đạt (3 đồng ý)" in closed
    minutes = client.get(council_url + "/bien-ban.docx")
    assert minutes.status_code == 200 and minutes.content[:2] == b"PK"
    refused = client.post(
        "/khen-thuong/quyet-dinh",
        data={
            "hoi_dong": council_url.rsplit("/", 1)[1],
            "ngay_ky": "05/10/2023",
            "nguoi_ky": "Nguyễn Văn Bình",
            "_csrf": csrf_of(client, world),
        },
    )
    assert refused.status_code == 422 and "Đang công khai đến hết ngày 07/10/2023" in text_of(refused.text)

    world.clock[0] = NOMINATION_NOW + timedelta(days=3)  # 08/10/2023: the window has closed
    as_(client, world, "reviewer_bdh")  # a new sign-in (sessions do not last three days)
    decided = client.post(
        "/khen-thuong/quyet-dinh",
        data={
            "hoi_dong": council_url.rsplit("/", 1)[1],
            "ngay_ky": "08/10/2023",
            "nguoi_ky": "Nguyễn Văn Bình",
            "_csrf": csrf_of(client, world),
        },
    )
    assert decided.status_code == 303, text_of(decided.text)[-600:]
    decision = text_of(client.get(decided.headers["location"]).text)
    assert (
        "Quyết định số 1/QĐ-LĐLĐ" in decision and "tiền thưởng 1.800.000 đồng" in decision
    )  # ×1,0 of 1.800.000 đ (from 01/07/2023)
    assert "Đã hết thời hạn lấy ý kiến" in anonymous.get(public_url).text  # the page is kept

    as_(client, world, "officer_d1_1")  # the proposing CĐCS downloads its member's certificate
    nomination_page = client.get(f"/don-vi/khen-thuong/{nid}").text
    assert 'id="tai-giay-khen"' in nomination_page
    pdf = client.get(f"/don-vi/khen-thuong/{nid}/giay-khen.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    as_(client, world, "officer_d1_2")
    assert client.get(f"/don-vi/khen-thuong/{nid}/giay-khen.pdf").status_code == 403
    assert client.get("/khen-thuong/quyet-dinh").status_code == 403  # unit officers do not decide
