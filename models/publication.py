"""Publication before a decision (công khai, lấy ý kiến): the list of nominations shown on a public page for the
catalogue's number of days, the comments received (with the commenter's contact), kept after the window closes.
A nomination on a publication cannot be decided until its window has closed."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from thidua.models.clock import utcnow


class Publication(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("token", name="uq_publication_token"),
        Index("ix_publication_campaign_unit", "campaign_id", "unit_id"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    unit_id: int = Field(foreign_key="unit.id")  # the deciding unit that publishes
    token: str = Field(max_length=64)  # the public page's address (/cong-khai/<token>)
    title: str
    days: int
    opens_at: datetime
    closes_at: datetime
    created_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow)


class PublicationItem(SQLModel, table=True):
    __tablename__ = "publication_item"
    __table_args__ = (Index("ix_publication_item_nomination", "nomination_id"),)

    publication_id: int = Field(foreign_key="publication.id", primary_key=True)
    nomination_id: int = Field(foreign_key="nomination.id", primary_key=True)
    position: int


class PublicationComment(SQLModel, table=True):
    __tablename__ = "publication_comment"
    __table_args__ = (Index("ix_publication_comment_pub", "publication_id", "at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    publication_id: int = Field(foreign_key="publication.id")
    nomination_id: Optional[int] = Field(default=None, foreign_key="nomination.id")  # None: about the whole list
    name: str = Field(max_length=200)
    contact: str = Field(max_length=200)  # e-mail or phone, required
    content: str
    at: datetime = Field(default_factory=utcnow)


def comment_problems(name: str, contact: str, content: str) -> dict[str, str]:
    """Field errors of a comment form (Vietnamese)."""
    import re

    errors = {}
    if not name.strip():
        errors["ho_ten"] = "Cần họ tên người góp ý."
    elif len(name) > 200:
        errors["ho_ten"] = "Họ tên quá dài (tối đa 200 ký tự)."
    text = contact.strip()
    email = re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text)
    phone = re.fullmatch(r"\+?[0-9][0-9 .]{8,14}", text)
    if not text:
        errors["lien_he"] = "Cần e-mail hoặc số điện thoại để liên hệ khi xác minh."
    elif not (email or phone):
        errors["lien_he"] = f"'{text[:60]}' không phải e-mail hay số điện thoại."
    if not content.strip():
        errors["noi_dung"] = "Cần nội dung góp ý."
    elif len(content) > 5000:
        errors["noi_dung"] = "Nội dung quá dài (tối đa 5000 ký tự)."
    return errors
