"""Small, explicit builders for test data (the real importers are tested on their own)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlmodel import Session, select

from thidua.models.tables import Level, Unit

LEVELS = [
    ("tong_ldld", "Tổng Liên đoàn Lao động Việt Nam", "Tổng LĐLĐ"),
    ("ldld_tinh", "Liên đoàn Lao động tỉnh, thành phố", "LĐLĐ tỉnh"),
    ("cap_tren_truc_tiep", "Công đoàn cấp trên trực tiếp cơ sở", "CĐ cấp trên trực tiếp"),
    ("cdcs", "Công đoàn cơ sở", "CĐCS"),
]


def seed_levels(session: Session) -> None:
    for rank, (code, name, short) in enumerate(LEVELS):
        if session.get(Level, code) is None:
            session.add(Level(code=code, name=name, short_name=short, rank=rank))
    session.flush()


def add_unit(
    session: Session,
    code: str,
    name: str,
    level: str,
    parent: Unit | None = None,
    sector: str | None = None,
    emails: list[str] | None = None,
    active: bool = True,
) -> Unit:
    unit = Unit(
        code=code,
        name=name,
        level_code=level,
        parent_id=parent.id if parent else None,
        sector=sector,
        emails=emails if emails is not None else [f"{code.lower().replace('.', '-')}@example.vn"],
        active=active,
    )
    session.add(unit)
    session.flush()
    unit.path = (parent.path if parent else "") + f"{unit.id:08d}."
    unit.depth = unit.path.count(".") - 1
    session.flush()
    return unit


def small_binh_dinh(session: Session, districts: int = 2, cdcs_per_district: int = 3) -> dict[str, Unit]:
    """TLD → BDH → districts BDH.Dn → CĐCS BDH.Dn.k, alternating sectors. Returns units by code."""
    seed_levels(session)
    units: dict[str, Unit] = {}
    units["TLD"] = add_unit(session, "TLD", "Tổng Liên đoàn Lao động Việt Nam", "tong_ldld")
    units["BDH"] = add_unit(session, "BDH", "Liên đoàn Lao động tỉnh Bình Định", "ldld_tinh", units["TLD"])
    for d in range(1, districts + 1):
        district = add_unit(session, f"BDH.D{d}", f"LĐLĐ huyện Thử Nghiệm {d}", "cap_tren_truc_tiep", units["BDH"])
        units[district.code] = district
        for k in range(1, cdcs_per_district + 1):
            sector = "sxkd" if k % 2 else "hcsn"
            cdcs = add_unit(session, f"BDH.D{d}.{k}", f"CĐCS Đơn vị Mẫu {d}-{k} (giả lập)", "cdcs", district, sector)
            units[cdcs.code] = cdcs
    return units


def unit_by_code(session: Session, code: str) -> Unit:
    return session.exec(select(Unit).where(Unit.code == code)).one()


def year_of_outbox_rows(
    campaign_id: int, unit_ids: list[int], start: int, stop: int, *, statuses: list[str], seed: int
) -> list[dict[str, Any]]:
    """Outbox rows `start`…`stop - 1` of a year of reminders for one campaign, spread evenly over 2023 (UTC), each
    with a status drawn from `statuses` (sent and partial rows have their sent time, failing ones an error)."""
    rng = random.Random(seed)
    year_start = datetime(2023, 1, 1, tzinfo=timezone.utc)
    rows = []
    for n in range(start, stop):
        status = rng.choice(statuses)
        at = year_start + timedelta(seconds=rng.randrange(365 * 86400))
        rows.append(
            {
                "key": f"bench:{n}",
                "kind": "reminder",
                "campaign_id": campaign_id,
                "unit_id": rng.choice(unit_ids),
                "recipient": f"cd{n % 5000}@example.vn",
                "template": "reminder_upcoming",
                "context": {},
                "scheduled_at": at,
                "status": status,
                "attempts": 1,
                "created_at": at,
                "sent_at": at if status in ("sent", "partial") else None,
                "last_error": None if status in ("sent", "skipped") else "550 hộp thư không tồn tại",
            }
        )
    return rows
