"""Builds the shipped DOCX templates (config/templates/*.docx) with python-docx. Run once when the wording
changes: `python -m thidua.services.commendation.default_templates config/templates`. Offices then edit their
copies (`thidua init`) in Word; the placeholders are listed in config/commendation.yaml."""

from __future__ import annotations

import sys
from pathlib import Path


def _document():  # noqa: ANN202
    from docx import Document
    from docx.shared import Cm, Pt

    document = Document()
    style = document.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(13)
    for section in document.sections:
        section.top_margin, section.bottom_margin = Cm(2), Cm(2)
        section.left_margin, section.right_margin = Cm(3), Cm(1.5)
    return document


def _header(document, right_title: str) -> None:  # noqa: ANN001
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "{{ten_don_vi_cap_tren}}\n{{ten_don_vi}}"
    table.cell(0, 1).text = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc"
    table.cell(1, 0).text = "Số: {{so_ky_hieu}}"
    table.cell(1, 1).text = "{{dia_danh}}, {{ngay_chu}}"
    document.add_paragraph()
    heading = document.add_paragraph(right_title)
    heading.alignment = 1
    heading.runs[0].bold = True


def _list_table(document, with_amount: bool) -> None:  # noqa: ANN001
    headers = ["STT", "Họ và tên / Tập thể", "Chức vụ", "Đơn vị", "Hình thức khen thưởng"]
    cells = ["{{stt}}", "{{ho_ten}}", "{{chuc_vu}}", "{{don_vi}}", "{{hinh_thuc}}"]
    if with_amount:
        headers.append("Tiền thưởng (đồng)")
        cells.append("{{tien_thuong}}")
    table = document.add_table(rows=2, cols=len(headers))
    table.style = "Table Grid"
    for i, (head, cell) in enumerate(zip(headers, cells)):
        table.cell(0, i).text = head
        table.cell(0, i).paragraphs[0].runs[0].bold = True
        table.cell(1, i).text = cell


def decision_template(out: Path) -> Path:
    document = _document()
    _header(document, "QUYẾT ĐỊNH\nVề việc {{trich_yeu}}")
    document.add_paragraph("{{chuc_danh_co_quan}}").alignment = 1
    document.add_paragraph("Căn cứ Luật Thi đua, khen thưởng ngày 15 tháng 6 năm 2022;")
    document.add_paragraph("Căn cứ {{quy_che}};")
    document.add_paragraph("Căn cứ kết quả họp Hội đồng Thi đua, khen thưởng {{can_cu_hoi_dong}};")
    document.add_paragraph("Xét đề nghị của {{can_cu_to_trinh}},")
    document.add_paragraph("QUYẾT ĐỊNH:").alignment = 1
    document.add_paragraph(
        "Điều 1. Tặng {{hinh_thuc_chung}} cho {{so_luong}} tập thể, cá nhân có tên trong danh "
        "sách kèm theo, đã có thành tích xuất sắc trong {{phong_trao}}."
    )
    document.add_paragraph(
        "Điều 2. Kèm theo là tiền thưởng theo quy định; tổng số tiền: {{tong_tien}} đồng "
        "({{tong_tien_chu}}), trích từ quỹ thi đua, khen thưởng."
    )
    document.add_paragraph(
        "Điều 3. Quyết định có hiệu lực kể từ ngày ký. Các đơn vị và cá nhân có tên tại Điều 1 "
        "chịu trách nhiệm thi hành Quyết định này."
    )
    sign = document.add_paragraph("{{chuc_vu_nguoi_ky}}\n\n\n\n{{nguoi_ky}}")
    sign.alignment = 2
    document.add_page_break()
    document.add_paragraph("DANH SÁCH KÈM THEO QUYẾT ĐỊNH SỐ {{so_ky_hieu}} NGÀY {{ngay}}").alignment = 1
    _list_table(document, with_amount=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(out))
    return out


def to_trinh_template(out: Path) -> Path:
    document = _document()
    _header(document, "TỜ TRÌNH\nVề việc {{trich_yeu}}")
    document.add_paragraph("Kính gửi: {{kinh_gui}}")
    document.add_paragraph(
        "Căn cứ {{quy_che}}; căn cứ kết quả {{phong_trao}}, {{ten_don_vi}} đề nghị "
        "{{kinh_gui}} xem xét khen thưởng {{so_luong}} tập thể, cá nhân theo danh sách kèm theo."
    )
    _list_table(document, with_amount=False)
    document.add_paragraph("Hồ sơ kèm theo: {{ho_so_kem_theo}}.")
    sign = document.add_paragraph("{{chuc_vu_nguoi_ky}}\n\n\n\n{{nguoi_ky}}")
    sign.alignment = 2
    out.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(out))
    return out


def minutes_template(out: Path) -> Path:
    document = _document()
    _header(document, "BIÊN BẢN\nHọp Hội đồng Thi đua, khen thưởng {{ten_don_vi}}")
    document.add_paragraph("Thời gian: {{thoi_gian}}. Địa điểm: {{dia_diem}}.")
    document.add_paragraph("Chủ trì: {{chu_tri}}. Thư ký: {{thu_ky}}.")
    document.add_paragraph(
        "Thành viên Hội đồng: {{so_thanh_vien}}; có mặt: {{so_co_mat}} ({{danh_sach_co_mat}}); "
        "vắng: {{danh_sach_vang}}. Số thành viên có mặt {{ket_luan_so_dai_bieu}} (cần tối thiểu "
        "{{ty_le_co_mat}})."
    )
    document.add_paragraph(
        "Hình thức biểu quyết: {{hinh_thuc_bieu_quyet}}. Ngưỡng thông qua: {{nguong}} số thành viên có mặt đồng ý."
    )
    document.add_paragraph("Kết quả biểu quyết từng trường hợp:")
    table = document.add_table(rows=2, cols=6)
    table.style = "Table Grid"
    headers = ["STT", "Họ và tên / Tập thể", "Hình thức đề nghị", "Đồng ý", "Không đồng ý", "Kết quả"]
    cells = ["{{stt}}", "{{ho_ten}}", "{{hinh_thuc}}", "{{dong_y}}", "{{khong_dong_y}}", "{{ket_qua}}"]
    for i, (head, cell) in enumerate(zip(headers, cells)):
        table.cell(0, i).text = head
        table.cell(1, i).text = cell
    document.add_paragraph(
        "Hội đồng thống nhất đề nghị khen thưởng {{so_thong_qua}} trường hợp đạt ngưỡng; "
        "{{so_khong_thong_qua}} trường hợp không đạt."
    )
    document.add_paragraph("Biên bản lập xong lúc {{ket_thuc}}, đã thông qua trước Hội đồng.")
    sign = document.add_paragraph("THƯ KÝ\t\t\t\tCHỦ TRÌ\n\n\n\n{{thu_ky}}\t\t\t\t{{chu_tri}}")
    sign.alignment = 1
    out.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(out))
    return out


def build_all(folder: Path) -> list[Path]:
    return [
        decision_template(folder / "quyet_dinh_khen_thuong.docx"),
        to_trinh_template(folder / "to_trinh_khen_thuong.docx"),
        minutes_template(folder / "bien_ban_hoi_dong.docx"),
    ]


if __name__ == "__main__":
    for path in build_all(Path(sys.argv[1] if len(sys.argv) > 1 else "config/templates")):
        print(path)
