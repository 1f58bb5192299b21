"""Evidence on the nomination page: upload checked by content, refusals shown with the reason, download only
for those who may read the nomination."""

from __future__ import annotations

import io
import re
import zipfile

from sqlalchemy import select
from sqlmodel import Session

from thidua.models.nominations import Nomination
from tests.web.conftest import World, csrf_of
from tests.web.helpers import NOMINATION_NOW, eligible_for_round_two_awards, proposal
from tests.web.test_nominations_flow import as_, send_list, text_of

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * (20 * 1024 * 1024))
    return buffer.getvalue()


def upload(client, world: World, nid: int, name: str, data: bytes, item: str = "bao-cao-thanh-tich"):  # noqa: ANN001, ANN201
    return client.post(
        f"/don-vi/khen-thuong/{nid}/minh-chung",
        data={"muc": item, "_csrf": csrf_of(client, world)},
        files={"tep": (name, data, "application/octet-stream")},
    )


def test_evidence_is_uploaded_refused_by_content_and_downloaded_only_by_readers(world: World, client) -> None:
    world.clock[0] = NOMINATION_NOW
    eligible_for_round_two_awards(world)
    as_(client, world, "officer_d1_1")
    assert client.post("/don-vi/khen-thuong/moi", data=proposal(world, _csrf=csrf_of(client, world))).status_code == 303
    with Session(world.engine) as session:
        nid = session.execute(select(Nomination.id)).scalar_one()
    page = client.get(f"/don-vi/khen-thuong/{nid}").text
    assert 'id="form-minh-chung"' in page and "Báo cáo thành tích có xác nhận" in page

    fake = upload(client, world, nid, "bao-cao.pdf", b"MZ\x90\x00 this is a program")
    assert fake.status_code == 422 and "không phải loại được nhận theo nội dung" in text_of(fake.text)
    zipped = upload(client, world, nid, "bao-cao.docx", bomb())
    assert zipped.status_code == 422 and "zip bomb" in text_of(zipped.text)
    done = upload(client, world, nid, "Báo cáo thành tích.pdf", PDF)
    assert done.status_code == 303
    page = client.get(f"/don-vi/khen-thuong/{nid}").text
    link = re.search(r'href="(/don-vi/khen-thuong/minh-chung/\d+)">Báo cáo thành tích.pdf<', page).group(1)
    got = client.get(link)
    assert got.status_code == 200 and got.content == PDF and got.headers["content-type"] == "application/pdf"
    assert "attachment" in got.headers["content-disposition"]

    send_list(client, world, "12/TTr-CĐCS")
    for outsider in ("officer_d1_2", "reviewer_d2"):
        as_(client, world, outsider)
        assert client.get(link).status_code == 403
    as_(client, world, "reviewer_d1")  # the district now holds it: it reads the file and may add its own
    assert client.get(link).content == PDF
    assert upload(client, world, nid, "bien-ban.pdf", PDF, item="bien-ban-hoi-dong").status_code == 303
    assert client.get("/don-vi/khen-thuong/minh-chung/999").status_code == 404


def test_a_person_is_chosen_from_the_register_on_the_proposal_form(world: World, client, tmp_path) -> None:  # noqa: ANN001
    from tests.commendation.test_persons import workbook
    from thidua.services.commendation import persons

    persons.import_persons(
        world.engine,
        workbook(
            tmp_path / "dv.xlsx",
            [
                ["BDH.D1.1", "Nguyễn Văn An", "Tổ trưởng công đoàn", 1985, "079085000001", "Đoàn viên"],
                ["BDH.D2.1", "Người Huyện Khác", "", 1990, "", ""],
            ],
        ),
        actor="test",
    )
    world.clock[0] = NOMINATION_NOW
    eligible_for_round_two_awards(world)
    as_(client, world, "officer_d1_1")
    form = client.get("/don-vi/khen-thuong/moi").text
    assert "Nguyễn Văn An (1985) – Tổ trưởng công đoàn" in form and "Người Huyện Khác" not in form
    an = persons.persons_in_subtree(world.engine, world.units["BDH.D1.1"].id)[0]
    other = persons.persons_in_subtree(world.engine, world.units["BDH.D2.1"].id)[0]
    wrong = client.post(
        "/don-vi/khen-thuong/moi",
        data=proposal(world, doi_tuong="individual", nguoi=str(other.id), _csrf=csrf_of(client, world)),
    )
    assert wrong.status_code == 422 and "Chọn người trong sổ đoàn viên của đơn vị mình" in text_of(wrong.text)
    made = client.post(
        "/don-vi/khen-thuong/moi",
        data=proposal(world, doi_tuong="individual", nguoi=str(an.id), _csrf=csrf_of(client, world)),
    )
    assert made.status_code == 303, text_of(made.text)[-800:]
    with Session(world.engine) as session:
        n = session.execute(select(Nomination)).scalars().one()
    assert (n.person_id, n.nominee_name, n.nominee_position) == (an.id, "Nguyễn Văn An", "Tổ trưởng công đoàn")
