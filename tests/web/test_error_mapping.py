"""The web's one exception handler: every category of thidua.errors has its status, a Vietnamese page, and the
same error as JSON under /api/v1; a service error nobody translated by hand is no longer a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlmodel import Session

from tests.web.conftest import World, sign_in
from thidua.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    NotPermittedError,
    RefusedError,
    ThiduaError,
    UnavailableError,
)
from thidua.models.tables import Campaign

CASES = [
    (NotFoundError, 404, "Không tìm thấy"),
    (InvalidInputError, 422, "Dữ liệu chưa hợp lệ"),
    (NotPermittedError, 403, "Không có quyền"),
    (ConflictError, 409, "Dữ liệu đã thay đổi"),
    (RefusedError, 422, "Không thực hiện được"),
    (UnavailableError, 503, "Dịch vụ tạm thời không dùng được"),
]


@pytest.mark.parametrize(("branch", "status", "title"), CASES, ids=[c[0].__name__ for c in CASES])
def test_each_category_has_its_status_page_and_json(
    world: World, client, branch: type[ThiduaError], status: int, title: str
) -> None:
    def refuse() -> None:
        raise branch("đơn vị BDH.D1.1 chưa gửi báo cáo sơ kết đợt 1")

    client.app.add_api_route("/thu-loi-phan-loai", refuse)
    client.app.add_api_route("/api/v1/thu-loi-phan-loai", refuse)
    sign_in(client, world, "officer_d1_1")
    page = client.get("/thu-loi-phan-loai")
    assert page.status_code == status
    assert title in page.text and "Đơn vị BDH.D1.1 chưa gửi báo cáo sơ kết đợt 1." in page.text
    api = client.get("/api/v1/thu-loi-phan-loai")
    assert api.status_code == status
    assert api.json()["loi"]["ma"] == branch.__name__
    assert api.json()["loi"]["thong_diep"].startswith("Đơn vị BDH.D1.1 chưa gửi báo cáo sơ kết đợt 1.")


def test_a_service_error_no_route_translates_is_not_a_500(world: World, client) -> None:
    """A campaign file without an award catalogue: the proposal page's service call refuses (NominationError).
    No route catches it; before the one handler this was a 500 'Đã có lỗi xảy ra'."""
    with Session(world.engine) as session:
        campaign = session.execute(select(Campaign)).scalars().one()
        campaign.spec = {k: v for k, v in campaign.spec.items() if k != "awards"}
        session.add(campaign)
        session.commit()
    sign_in(client, world, "officer_d1_1")
    page = client.get("/don-vi/khen-thuong/moi")
    assert page.status_code == 422, page.text[-500:]
    assert "không khai báo danh mục khen thưởng (awards.catalogue)" in page.text
    assert "Đã có lỗi xảy ra" not in page.text
