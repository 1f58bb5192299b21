"""Issue 11, points 10–12 on the screens: the reviewer queue shows each report's key figures before bulk
approval; the nomination form and messages follow the window and the status; the office's Monday view compares
districts sorted, with whole names, sortable tables and downloads that say they are working; no internal text
from the configuration reaches a unit's pages or mails. (Phone widths and the scripts: test_browser_week_one.)"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlalchemy import select
from sqlmodel import Session

from tests.web.conftest import World, csrf_of, make_client, sign_in
from tests.web.helpers import NOMINATION_NOW, eligible_for_round_two_awards, proposal, report_accepted
from tests.web.test_nominations_flow import as_, text_of
from thidua.models.tables import Assignment, Unit
from thidua.services.submissions import submit_report

MONDAY = datetime(2023, 10, 9, 1, 0, tzinfo=timezone.utc)  # Monday 09/10/2023 08:00 in Bình Định
# Notes for the people who configure a campaign, never for a unit.
INTERNAL = re.compile(r"\bseed\b|giả định|\bTODO\b|\bFIXME\b|\bassumption|\bTBD\b", re.IGNORECASE)


def submitted(world: World, unit_code: str, obligation_code: str, data: dict) -> None:
    with Session(world.engine) as session:
        submit_report(
            session,
            campaign_code="bd-2023",
            obligation_code=obligation_code,
            unit_code=unit_code,
            raw=data,
            actor="test",
            now=world.now(),
        )
        session.commit()


def row_of(html: str, table_id: str, needle: str) -> str:
    body = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return next(text_of(r) for r in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S) if needle in r)


# ---------------------------------------------------------------------------------------------------
# Point 10: the reviewer queue
# ---------------------------------------------------------------------------------------------------
def test_the_queue_shows_each_reports_key_figures_formatted(any_world: World) -> None:
    """On SQLite and PostgreSQL (the figures come from the submissions' JSON in the same page query)."""
    world, client = any_world, make_client(any_world)
    submitted(
        world,
        "BDH.D1.1",
        "so-ket-dot-1",
        {
            "so_sang_kien": 12,
            "so_doan_vien_moi": 1250,
            "gia_tri_lam_loi": 15.5,
            "guong_dien_hinh": "Chị Nguyễn Thị B, tổ trưởng tổ sản xuất",
        },
    )
    submitted(world, "BDH.D1.2", "so-ket-dot-1", {"so_sang_kien": 0, "so_doan_vien_moi": 3})
    sign_in(client, world, "reviewer_d1")
    page = client.get("/duyet").text
    first = row_of(page, "hang-doi", "BDH.D1.1")
    assert "Số sáng kiến trong đợt: 12" in first and "Số đoàn viên mới kết nạp: 1.250" in first
    assert "Giá trị làm lợi từ sáng kiến (triệu đồng): 15,5" in first
    assert "Chị Nguyễn Thị B" not in first  # text fields are read on the report's own page
    second = row_of(page, "hang-doi", "BDH.D1.2")
    assert "Số sáng kiến trong đợt: 0" in second and "Số đoàn viên mới kết nạp: 3" in second
    assert "Giá trị làm lợi" not in second  # not asked of this unit's sector, nothing to show


# ---------------------------------------------------------------------------------------------------
# Point 11: nomination form and messages
# ---------------------------------------------------------------------------------------------------
def window_of(world: World, code: str) -> int:
    return world.assignment_id("BDH.D1.1", code)


def test_the_form_takes_the_year_end_window_it_came_from(world: World, client) -> None:
    world.clock[0] = datetime(2023, 11, 6, 3, 0, tzinfo=timezone.utc)  # the year-end window is open (01/11 – 30/11)
    as_(client, world, "officer_d1_1")
    window = window_of(world, "de-xuat-khen-thuong-nam")
    obligation = client.get(f"/don-vi/nghia-vu/{window}").text
    assert f'href="/don-vi/khen-thuong/moi?nghia_vu={window}"' in obligation
    form = client.get(f"/don-vi/khen-thuong/moi?nghia_vu={window}").text
    assert re.search(r'<option value="year_end"\s+selected>', form)


def test_no_proposal_is_offered_on_a_window_that_is_closed_or_not_open(world: World, client) -> None:
    round_two = window_of(world, "de-xuat-khen-thuong-dot-2")
    world.clock[0] = datetime(2023, 10, 23, 3, 0, tzinfo=timezone.utc)  # the unit's deadline was 20/10/2023
    as_(client, world, "officer_d1_1")
    closed = text_of(client.get(f"/don-vi/nghia-vu/{round_two}").text)
    assert "Lập đề nghị khen thưởng" not in closed and "Đợt đề xuất khen thưởng đã đóng ngày 20/10/2023" in closed
    assert "Lập đề nghị khen thưởng:" not in text_of(client.get("/don-vi/khen-thuong").text)
    world.clock[0] = datetime(2023, 9, 20, 3, 0, tzinfo=timezone.utc)
    as_(client, world, "officer_d1_1")
    early = text_of(client.get(f"/don-vi/nghia-vu/{round_two}").text)
    assert "Lập đề nghị khen thưởng" not in early and "mở từ ngày 01/10/2023" in early


def test_a_missing_to_trinh_number_keeps_the_page_as_it_was(world: World, client) -> None:
    """The list page comes back with the error beside the field, and still offers the open window (not "no
    window open")."""
    world.clock[0] = NOMINATION_NOW
    eligible_for_round_two_awards(world)
    as_(client, world, "officer_d1_1")
    assert client.post("/don-vi/khen-thuong/moi", data=proposal(world, _csrf=csrf_of(client, world))).status_code == 303
    batch = re.search(r'action="/don-vi/khen-thuong/danh-sach/(\d+)"', client.get("/don-vi/khen-thuong").text).group(1)
    missing = client.post(
        f"/don-vi/khen-thuong/danh-sach/{batch}",
        data={"so_to_trinh": " ", "ngay_to_trinh": "05/10/2023", "_csrf": csrf_of(client, world)},
    )
    assert missing.status_code == 422 and 'id="e-so_to_trinh">Cần số tờ trình.' in missing.text
    text = text_of(missing.text)
    assert "Hiện không có đợt đề xuất khen thưởng nào đang mở" not in text
    assert "Lập đề nghị khen thưởng: Đề xuất khen thưởng sơ kết đợt 2" in text


def test_a_district_missing_its_number_comes_back_to_its_queue(world: World, client) -> None:
    """The district sends its list from the reviewer queue: the error brings it back there, the field marked."""
    world.clock[0] = NOMINATION_NOW
    eligible_for_round_two_awards(world)
    as_(client, world, "officer_d1_1")
    client.post("/don-vi/khen-thuong/moi", data=proposal(world, _csrf=csrf_of(client, world)))
    batch = re.search(r'action="/don-vi/khen-thuong/danh-sach/(\d+)"', client.get("/don-vi/khen-thuong").text).group(1)
    client.post(
        f"/don-vi/khen-thuong/danh-sach/{batch}",
        data={"so_to_trinh": "12/TTr-CĐCS", "ngay_to_trinh": "05/10/2023", "_csrf": csrf_of(client, world)},
    )
    as_(client, world, "reviewer_d1")
    from thidua.models.nominations import Nomination

    with Session(world.engine) as session:
        nid = session.execute(select(Nomination.id)).scalar_one()
    page = client.get(f"/don-vi/khen-thuong/{nid}").text
    version = re.search(r'name="_phien_ban" value="(\d+)"', page).group(1)
    approved = client.post(
        f"/don-vi/khen-thuong/{nid}",
        data={"hanh_dong": "duyet", "_csrf": csrf_of(client, world), "_phien_ban": version},
    )
    assert approved.status_code == 303
    queue = client.get("/duyet").text
    form = re.search(r'<form[^>]*action="/don-vi/khen-thuong/danh-sach/(\d+)".*?</form>', queue, re.S)
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(0)))
    missing = client.post(
        f"/don-vi/khen-thuong/danh-sach/{form.group(1)}",
        data={**hidden, "so_to_trinh": "", "ngay_to_trinh": "05/10/2023"},
    )
    assert missing.status_code == 422 and 'id="e-so_to_trinh">Cần số tờ trình.' in missing.text
    assert "<h1>Hồ sơ chờ LĐLĐ huyện Thử Nghiệm 1 duyệt</h1>" in missing.text  # the queue, not another page
    assert 'value="05/10/2023"' in missing.text


# ---------------------------------------------------------------------------------------------------
# Point 12: the office's Monday view
# ---------------------------------------------------------------------------------------------------
def monday_board(world: World, client) -> str:  # noqa: ANN001
    report_accepted(world, "BDH.D1.1", "so-ket-dot-1", {"so_sang_kien": 4, "so_doan_vien_moi": 2}, "BDH.D1")
    report_accepted(world, "BDH.D2.1", "so-ket-dot-1", {"so_sang_kien": 30, "so_doan_vien_moi": 5}, "BDH.D2")
    report_accepted(world, "BDH.D2.2", "so-ket-dot-1", {"so_sang_kien": 9, "so_doan_vien_moi": 1}, "BDH.D2")
    world.clock[0] = MONDAY
    sign_in(client, world, "office")
    return client.get("/van-phong").text


def test_the_8000_chart_compares_districts_sorted_with_whole_names(world: World, client) -> None:
    # The 31/8 target reads the districts' báo cáo nhanh (running figures to 31/08), sent on 05/09.
    world.clock[0] = datetime(2023, 9, 5, 3, 0, tzinfo=timezone.utc)
    report_accepted(world, "BDH.D2", "bao-cao-nhanh-sang-kien", {"so_sang_kien_luy_ke": 2100}, "BDH")
    report_accepted(world, "BDH.D1", "bao-cao-nhanh-sang-kien", {"so_sang_kien_luy_ke": 1350}, "BDH")
    page = monday_board(world, client)
    chart = re.search(r'<figure[^>]*id="bieu-do-sang-kien-8000".*?</figure>', page, re.S).group(0)
    names = [text_of(n).strip() for n in re.findall(r'<span class="hchart-name">(.*?)</span>', chart, re.S)]
    # the province against its 8.000 first, then the districts by what they contribute, most first
    assert names == ["Liên đoàn Lao động tỉnh Bình Định", "LĐLĐ huyện Thử Nghiệm 2", "LĐLĐ huyện Thử Nghiệm 1"]
    values = [text_of(v).strip() for v in re.findall(r'<span class="hchart-value">(.*?)</span>', chart, re.S)]
    assert values[0].startswith("3.450/8.000") and values[1].startswith("2.100") and values[2].startswith("1.350")


def test_dashboard_tables_are_sortable_and_the_pipeline_table_is_narrow(world: World, client) -> None:
    page = monday_board(world, client)
    for table_id in ("theo-nghia-vu", "theo-cap", "theo-huyen"):
        table = re.search(rf'<table[^>]*id="{table_id}"[^>]*>', page).group(0)
        assert "data-sortable" in table, table_id
    branch = re.search(r'<table[^>]*id="theo-huyen".*?</table>', page, re.S).group(0)
    assert re.search(r'<td class="num[^"]*" data-value="4">', branch)  # a figure sorts by its number
    assert "aria-sort" not in branch  # set by the script when a header is clicked, never claimed without it


def test_downloads_say_they_take_a_few_seconds(world: World, client) -> None:
    page = monday_board(world, client)
    links = re.findall(r'<a class="button"[^>]*href="/van-phong/xuat/[^"]+"[^>]*>', page)
    assert links and all("data-busy" in link for link in links)
    assert 'id="trang-thai-tai"' in page and 'aria-live="polite"' in page
    assert "Tạo tệp có thể mất vài giây" in text_of(page)  # said without a script too


def test_no_internal_text_on_a_units_pages(world: World, client) -> None:
    """Configuration comments and notes ("seed 001", "GIẢ ĐỊNH", …) stay with the office: none on the pages a
    unit or a district reads, whatever the moment of the year."""
    with Session(world.engine) as session:
        ids = (
            session.execute(
                select(Assignment.id).join(Unit, Unit.id == Assignment.unit_id).where(Unit.code == "BDH.D1.1")
            )
            .scalars()
            .all()
        )
        assert len(ids) >= 6
    pages = ["/don-vi", "/don-vi/lich-su", "/don-vi/khen-thuong", "/don-vi/khen-thuong/moi", "/don-vi/lich"]
    for moment in (datetime(2023, 3, 1, 3, 0, tzinfo=timezone.utc), NOMINATION_NOW):
        world.clock[0] = moment
        as_(client, world, "officer_d1_1")
        for path in pages + [f"/don-vi/nghia-vu/{i}" for i in ids]:
            answer = client.get(path)
            assert answer.status_code == 200, path
            found = INTERNAL.search(text_of(answer.text))
            assert found is None, f"{path}: '{found.group(0)}'"
        as_(client, world, "reviewer_d1")
        for path in ("/tien-do", "/duyet"):
            found = INTERNAL.search(text_of(client.get(path).text))
            assert found is None, f"{path}: '{found.group(0)}'"


def test_the_campaign_files_keep_internal_notes_out_of_what_users_read() -> None:
    """Every text of every campaign and award catalogue that reaches a page or a mail (titles, descriptions,
    field labels and help, choices, award names) is free of notes; 'assumption' texts are the office's."""
    import yaml

    from thidua.settings import REPO_ROOT

    office_only = {"assumption", "assumption_notes"}
    problems = []

    def walk(value, where: str) -> None:  # noqa: ANN001
        if isinstance(value, dict):
            for key, item in value.items():
                if key not in office_only:
                    walk(item, f"{where}/{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{where}/{i}")
        elif isinstance(value, str) and INTERNAL.search(value):
            problems.append(f"{where}: {value[:80]}")

    for path in sorted((REPO_ROOT / "config").glob("*/*.yaml")) + sorted((REPO_ROOT / "config").glob("*.yaml")):
        walk(yaml.safe_load(path.read_text(encoding="utf-8")), path.name)
    assert not problems, "\n".join(problems)
