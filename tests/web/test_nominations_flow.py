"""A nomination through the pages, from a CĐCS up to the province that decides it."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlmodel import Session

from thidua.models.nominations import Nomination
from tests.web.conftest import World, csrf_of, sign_in
from tests.web.helpers import NOMINATION_NOW, eligible_for_round_two_awards, proposal


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def version_of(html: str) -> str:
    return re.search(r'name="_phien_ban" value="(\d+)"', html).group(1)


def nomination(world: World) -> Nomination:
    with Session(world.engine) as session:
        return session.execute(select(Nomination)).scalars().one()


def as_(client, world: World, who: str) -> None:  # noqa: ANN001
    sign_in(client, world, who)
    client.get("/don-vi")


def send_list(client, world: World, number: str) -> None:  # noqa: ANN001
    page = client.get("/duyet" if "reviewer" in str(client.cookies) else "/don-vi/khen-thuong").text
    batch = re.search(r'action="/don-vi/khen-thuong/danh-sach/(\d+)"', page).group(1)
    answer = client.post(
        f"/don-vi/khen-thuong/danh-sach/{batch}",
        data={"so_to_trinh": number, "ngay_to_trinh": "05/10/2023", "_csrf": csrf_of(client, world)},
    )
    assert answer.status_code == 303, text_of(answer.text)


def act(client, world: World, nomination_id: int, **fields):  # noqa: ANN001, ANN003, ANN201
    page = client.get(f"/don-vi/khen-thuong/{nomination_id}").text
    return client.post(
        f"/don-vi/khen-thuong/{nomination_id}",
        data=dict(fields, _csrf=csrf_of(client, world), _phien_ban=version_of(page)),
    )


def test_proposal_form_keeps_input_and_names_rule_refusals(world: World, client) -> None:
    world.clock[0] = NOMINATION_NOW
    as_(client, world, "officer_d1_1")
    missing = client.post(
        "/don-vi/khen-thuong/moi",
        data=proposal(world, thanh_tich="", _csrf=csrf_of(client, world), **{"hs_bien-ban-hoi-dong_dong_y": "chín"}),
    )
    assert missing.status_code == 422
    assert re.search(r'id="e-thanh_tich">Cần tóm tắt thành tích', missing.text)
    assert "Số phiếu đồng ý phải là số nguyên, nhận &#39;chín&#39;" in missing.text
    assert 'value="05/BC-CĐCS"' in missing.text
    # Well-formed, but the unit has not registered nor had its round report accepted: the rules refuse.
    refused = client.post("/don-vi/khen-thuong/moi", data=proposal(world, _csrf=csrf_of(client, world)))
    assert refused.status_code == 422, text_of(refused.text)[-1500:]
    assert "chưa đăng ký thi đua năm" in text_of(refused.text) and 'value="03/BB-CĐCS"' in refused.text
    with Session(world.engine) as session:
        assert session.execute(select(Nomination)).first() is None


def test_nomination_proposed_forwarded_and_decided_at_the_province(world: World, client) -> None:
    world.clock[0] = NOMINATION_NOW
    eligible_for_round_two_awards(world)
    as_(client, world, "officer_d1_1")
    created = client.post("/don-vi/khen-thuong/moi", data=proposal(world, _csrf=csrf_of(client, world)))
    assert created.status_code == 303, text_of(created.text)
    nid = nomination(world).id
    assert "Đã đề nghị (chờ gửi tờ trình)" in text_of(client.get(f"/don-vi/khen-thuong/{nid}").text)
    send_list(client, world, "12/TTr-CĐCS")
    assert nomination(world).current_unit_id == world.units["BDH.D1"].id

    for outsider in ("reviewer_d2", "officer_d1_2"):
        as_(client, world, outsider)
        assert client.get(f"/don-vi/khen-thuong/{nid}").status_code == 403
        assert (
            client.post(
                f"/don-vi/khen-thuong/{nid}", data={"hanh_dong": "duyet", "_csrf": csrf_of(client, world)}
            ).status_code
            == 403
        )

    as_(client, world, "reviewer_d1")
    queue = text_of(client.get("/duyet").text)
    assert "Đề nghị khen thưởng chờ xét (1)" in queue and "Bằng khen của Liên đoàn Lao động tỉnh (chuyên đề" in queue
    page = client.get(f"/don-vi/khen-thuong/{nid}").text
    assert 'id="form-chuyen"' in page and 'id="form-quyet-dinh"' not in page
    assert act(client, world, nid, hanh_dong="duyet").status_code == 303
    send_list(client, world, "20/TTr-LĐLĐ")
    assert nomination(world).current_unit_id == world.units["BDH"].id

    as_(client, world, "reviewer_bdh")
    page = client.get(f"/don-vi/khen-thuong/{nid}").text
    assert 'id="form-quyet-dinh"' in page and 'id="form-chuyen"' not in page
    incomplete = act(
        client, world, nid, hanh_dong="quyet_dinh", so_quyet_dinh="150/QĐ-LĐLĐ", ngay_quyet_dinh="31/02/2023"
    )
    assert incomplete.status_code == 422
    assert 'value="150/QĐ-LĐLĐ"' in incomplete.text and "Ngày không hợp lệ: &#39;31/02/2023&#39;" in incomplete.text
    assert re.search(r'id="e-nguoi_ky">Cần người ký', incomplete.text)
    decided = act(
        client,
        world,
        nid,
        hanh_dong="quyet_dinh",
        so_quyet_dinh="150/QĐ-LĐLĐ",
        ngay_quyet_dinh="05/10/2023",
        nguoi_ky="Nguyễn Văn A",
    )
    assert decided.status_code == 303
    n = nomination(world)
    assert (n.status, n.decision_number, n.decision_signer) == ("decided", "150/QĐ-LĐLĐ", "Nguyễn Văn A")

    as_(client, world, "officer_d1_1")
    mine = text_of(client.get("/don-vi/khen-thuong").text)
    assert "Đã có quyết định khen thưởng" in mine and "QĐ 150/QĐ-LĐLĐ ngày 05/10/2023" in mine
    as_(client, world, "office")
    pipeline = re.search(
        r'<table[^>]*id="khen-thuong-theo-cap"[^>]*>.*?</table>', client.get("/van-phong").text, re.S
    ).group(0)
    assert "LĐLĐ tỉnh" in text_of(pipeline)


def test_return_needs_a_reason_and_a_stale_decision_is_a_conflict(world: World, client) -> None:
    world.clock[0] = NOMINATION_NOW
    eligible_for_round_two_awards(world)
    as_(client, world, "officer_d1_1")
    assert client.post("/don-vi/khen-thuong/moi", data=proposal(world, _csrf=csrf_of(client, world))).status_code == 303
    nid = nomination(world).id
    send_list(client, world, "12/TTr-CĐCS")
    as_(client, world, "reviewer_d1")
    stale_page = client.get(f"/don-vi/khen-thuong/{nid}").text
    no_reason = act(client, world, nid, hanh_dong="tra_lai", y_kien="")
    assert no_reason.status_code == 422 and "Cần ghi lý do" in no_reason.text
    assert act(client, world, nid, hanh_dong="tra_lai", y_kien="Bổ sung biên bản họp").status_code == 303
    stale = client.post(
        f"/don-vi/khen-thuong/{nid}",
        data={"hanh_dong": "duyet", "_csrf": csrf_of(client, world), "_phien_ban": version_of(stale_page)},
    )
    assert stale.status_code == 409 and "Dữ liệu đã thay đổi" in stale.text
    assert "Bị trả lại" in text_of(stale.text) and "Bổ sung biên bản họp" in text_of(stale.text)

    as_(client, world, "officer_d1_1")
    page = text_of(client.get(f"/don-vi/khen-thuong/{nid}").text)
    assert "Bị trả lại" in page and "Bổ sung biên bản họp" in page
    assert act(client, world, nid, hanh_dong="gui_lai", thanh_tich="Đã bổ sung biên bản.").status_code == 303
    assert nomination(world).current_unit_id == world.units["BDH.D1"].id


def test_a_unit_declares_it_proposes_nobody_and_is_no_longer_owed(world: World, client) -> None:
    """Issue 11 point 1: the window obligation is fulfilled from its page by a "không có đề nghị" declaration."""
    world.clock[0] = NOMINATION_NOW
    as_(client, world, "officer_d1_2")
    assignment = world.assignment_id("BDH.D1.2", "de-xuat-khen-thuong-dot-2")
    page = client.get(f"/don-vi/nghia-vu/{assignment}").text
    assert 'id="khong-co-de-nghi"' in page and "Chưa gửi" in page
    answer = client.post(f"/don-vi/nghia-vu/{assignment}/khong-co-de-nghi", data={"_csrf": csrf_of(client, world)})
    assert answer.status_code == 303, text_of(answer.text)
    after = text_of(client.get(answer.headers["location"]).text)
    assert "không có đề nghị khen thưởng trong đợt này" in after and "Đã duyệt" in after
    assert 'id="khong-co-de-nghi"' not in after
    # someone else's obligation: refused
    other = world.assignment_id("BDH.D1.1", "de-xuat-khen-thuong-dot-2")
    assert (
        client.post(f"/don-vi/nghia-vu/{other}/khong-co-de-nghi", data={"_csrf": csrf_of(client, world)}).status_code
        == 403
    )


def test_form_and_messages_follow_the_window_and_the_status(world: World, client) -> None:
    """Issue 11 point 11: the proposal form takes the occasion of the window it was opened from; the list form
    names its files and keeps a missing tờ trình number beside the field; approving says "chờ chuyển", and
    the history does not say a file went to the unit that holds it."""
    world.clock[0] = NOMINATION_NOW
    eligible_for_round_two_awards(world)
    as_(client, world, "officer_d1_1")
    window = world.assignment_id("BDH.D1.1", "de-xuat-khen-thuong-dot-2")
    form = client.get(f"/don-vi/khen-thuong/moi?nghia_vu={window}").text
    assert re.search(r'<option value="round"\s+selected>', form) and re.search(r'<option value="2"\s+selected>', form)
    assert client.post("/don-vi/khen-thuong/moi", data=proposal(world, _csrf=csrf_of(client, world))).status_code == 303
    page = client.get("/don-vi/khen-thuong").text
    batch = re.search(r'action="/don-vi/khen-thuong/danh-sach/(\d+)"', page).group(1)
    assert "Bằng khen" in text_of(re.search(r'id="gui-danh-sach-\d+".*?</form>', page, re.S).group(0))
    missing = client.post(
        f"/don-vi/khen-thuong/danh-sach/{batch}",
        data={"so_to_trinh": "", "ngay_to_trinh": "05/10/2023", "_csrf": csrf_of(client, world)},
    )
    assert missing.status_code == 422 and 'id="e-so_to_trinh">Cần số tờ trình.' in missing.text
    assert 'value="05/10/2023"' in missing.text and 'id="gui-danh-sach-' in missing.text
    send_list(client, world, "12/TTr-CĐCS")
    as_(client, world, "reviewer_d1")
    approved = act(client, world, nomination(world).id, hanh_dong="duyet")
    assert approved.status_code == 303 and "da-duyet-cho-chuyen" in approved.headers["location"]
    detail = text_of(client.get(f"/don-vi/khen-thuong/{nomination(world).id}").text)
    assert "Đã duyệt (chờ chuyển cấp trên)" in detail
    assert "LĐLĐ huyện Thử Nghiệm 1: duyệt và chuyển cấp trên →" not in detail


def test_the_list_page_offers_only_open_windows(world: World, client) -> None:
    """Issue 11 point 11: "Lập đề nghị khen thưởng" for the window that is open, else only an ad-hoc proposal."""
    as_(client, world, "officer_d1_1")  # 05/06/2023: no proposal window is open
    june = text_of(client.get("/don-vi/khen-thuong").text)
    assert "Hiện không có đợt đề xuất khen thưởng nào đang mở" in june and "Lập đề nghị khen thưởng:" not in june
    assert re.search(r'<option value="ad_hoc"\s+selected>', client.get("/don-vi/khen-thuong/moi?dip=ad_hoc").text)
    world.clock[0] = NOMINATION_NOW
    as_(client, world, "officer_d1_1")
    october = text_of(client.get("/don-vi/khen-thuong").text)
    assert "Lập đề nghị khen thưởng: Đề xuất khen thưởng sơ kết đợt 2 (hạn của đơn vị 20/10/2023)" in october
