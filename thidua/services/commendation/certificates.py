"""Certificates (Giấy khen / Bằng khen) as print-ready PDF on pre-printed stock: only the texts, each at the
position the catalogue gives for the award form (mm from the top-left corner), in an embedded DejaVu Serif
(config/fonts, Vietnamese diacritics included), shrunk to fit where a width is set. One page per awardee; a
decision's awardees in one batch file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.models.commendation import AwardDecision, AwardDecisionItem
from thidua.models.nominations import InvalidNominationInput, Nomination, NominationNotFound
from thidua.models.spec.awards import AwardCatalogue, CertificateLayout
from thidua.models.tables import Unit
from thidua.models.vnformat import fmt_document_date
from thidua.services import nominations as nom
from thidua.services.commendation.config import config_path
from thidua.settings import CONFIG_DIR

D = AwardDecision.__table__  # type: ignore[attr-defined]
DI = AwardDecisionItem.__table__  # type: ignore[attr-defined]
N = Nomination.__table__  # type: ignore[attr-defined]
U = Unit.__table__  # type: ignore[attr-defined]
FONT, FONT_BOLD = "ThiduaSerif", "ThiduaSerif-Bold"
MM = 72 / 25.4


def _font_file(name: str) -> Path:
    for root in (config_path().parent, CONFIG_DIR):
        if (root / "fonts" / name).exists():
            return root / "fonts" / name
    raise InvalidNominationInput(f"Thiếu phông chữ fonts/{name} trong thư mục cấu hình")


@lru_cache(maxsize=1)
def _register_fonts() -> None:
    from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
    from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]

    pdfmetrics.registerFont(TTFont(FONT, str(_font_file("DejaVuSerif.ttf"))))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(_font_file("DejaVuSerif-Bold.ttf"))))


def layout_for(catalogue: AwardCatalogue, award_code: str) -> CertificateLayout:
    award = catalogue.award(award_code)
    return award.certificate if award is not None and award.certificate is not None else catalogue.certificate


def _page_size(layout: CertificateLayout) -> tuple[float, float]:
    from reportlab.lib.pagesizes import A3, A4, landscape, portrait  # type: ignore[import-untyped]

    size = A4 if layout.page == "A4" else A3
    return landscape(size) if layout.orientation == "landscape" else portrait(size)


def _draw_page(canvas, layout: CertificateLayout, texts: Mapping[str, str]) -> None:  # noqa: ANN001
    from reportlab.pdfbase.pdfmetrics import stringWidth  # type: ignore[import-untyped]

    _, height = _page_size(layout)
    for name, spot in layout.fields.items():
        text = (texts.get(name) or "").strip()
        if not text:
            continue
        font = FONT_BOLD if spot.bold else FONT
        size = spot.size
        if spot.max_width_mm:
            while size > 6 and stringWidth(text, font, size) > spot.max_width_mm * MM:
                size -= 0.5
        canvas.setFont(font, size)
        x, y = spot.x_mm * MM, height - spot.y_mm * MM
        if spot.align == "center":
            canvas.drawCentredString(x, y, text)
        elif spot.align == "right":
            canvas.drawRightString(x, y, text)
        else:
            canvas.drawString(x, y, text)
    canvas.showPage()


def _texts(row: Mapping[str, Any], decision: Mapping[str, Any], layout: CertificateLayout) -> dict[str, str]:
    day = decision["decision_date"]
    individual = row["subject"] == "individual"
    return {
        "hinh_thuc": row["award_name"].upper(),
        "ho_ten": ("Ông/Bà " if individual else "") + row["nominee_name"],
        "chuc_vu": row["nominee_position"] if individual else "",
        "don_vi": row["unit_name"] if individual else "",
        "thanh_tich": "Đã có thành tích xuất sắc" + (f": {row['achievement']}" if row["achievement"] else ""),
        "so_quyet_dinh": f"Quyết định số {decision['symbol']} ngày {day.day:02d}/{day.month:02d}/{day.year}",
        "ngay": f"{day.day:02d}/{day.month:02d}/{day.year}",
        "dia_danh_ngay": fmt_document_date(day, layout.place),
        "nguoi_ky": decision["signer"],
    }


def _rows(session: Session, decision_id: int, nomination_ids: Sequence[int] | None) -> list[dict[str, Any]]:
    nominee_unit = U.alias("nominee_unit")
    query = (
        select(
            DI.c.position,
            N.c.id,
            N.c.nominee_name,
            N.c.nominee_position,
            N.c.award_name,
            N.c.award_code,
            N.c.subject,
            N.c.achievement,
            nominee_unit.c.name.label("unit_name"),
        )
        .join(N, N.c.id == DI.c.nomination_id)
        .join(nominee_unit, nominee_unit.c.id == N.c.nominee_unit_id)
        .where(DI.c.decision_id == decision_id)
        .order_by(DI.c.position)
    )
    if nomination_ids is not None:
        query = query.where(DI.c.nomination_id.in_(list(nomination_ids)))
    return [dict(r) for r in session.execute(query).mappings()]


def write_certificates(
    engine: Engine, decision_id: int, out: Path, *, nomination_ids: Sequence[int] | None = None
) -> Path:
    """The decision's certificates (or those of the listed nominations), one page each, in list order. A revoked
    decision prints nothing."""
    from reportlab.pdfgen import canvas as pdf_canvas  # type: ignore[import-untyped]

    with Session(engine) as session:
        found = session.execute(select(D).where(D.c.id == decision_id)).mappings().first()
        if found is None:
            raise NominationNotFound(f"Không có quyết định khen thưởng #{decision_id}")
        decision: dict[str, Any] = dict(found)
        if decision["status"] != "issued":
            raise InvalidNominationInput(f"Quyết định {decision['symbol']} đã bị hủy: không in giấy khen, bằng khen")
        catalogue = nom.campaign_catalogue(session, nom._campaign(session, decision["campaign_id"]))
        rows = _rows(session, decision_id, nomination_ids)
    if not rows:
        raise NominationNotFound(f"Quyết định {decision['symbol']} không có người/tập thể nào cần in")
    _register_fonts()
    out.parent.mkdir(parents=True, exist_ok=True)
    first = layout_for(catalogue, rows[0]["award_code"])
    pdf = pdf_canvas.Canvas(str(out), pagesize=_page_size(first), pageCompression=1)
    pdf.setTitle(f"Giấy khen, bằng khen theo Quyết định {decision['symbol']}")
    pdf.setAuthor("thidua")
    for row in rows:
        layout = layout_for(catalogue, row["award_code"])
        pdf.setPageSize(_page_size(layout))
        _draw_page(pdf, layout, _texts(row, decision, layout))
    pdf.save()
    return out


def certificate_of(engine: Engine, nomination_id: int, out: Path) -> Path:
    """The certificate of one decided nomination (its decision in force)."""
    with Session(engine) as session:
        decision_id = session.execute(
            select(D.c.id)
            .join(DI, DI.c.decision_id == D.c.id)
            .where(DI.c.nomination_id == nomination_id, D.c.status == "issued")
            .order_by(D.c.id.desc())
        ).scalar()
    if decision_id is None:
        raise NominationNotFound(f"Đề nghị #{nomination_id} chưa có quyết định khen thưởng có hiệu lực để in")
    return write_certificates(engine, decision_id, out, nomination_ids=[nomination_id])
