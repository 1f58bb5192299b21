"""A loaded Bình Định 2023 campaign on the small test hierarchy, and helpers to act as its units."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.models.awards import DossierEntry
from thidua.models.nominations import Nomination, NominationBatch, NominationStep
from thidua.models.outbox import OutboxMessage
from thidua.models.spec.awards import validate_catalogue_file
from thidua.models.tables import Assignment, AuditLog, ObligationDef
from tests.conftest import BINH_DINH_CAMPAIGN, CONFIG
from tests.factories import small_binh_dinh
from thidua.db import create_schema, make_engine
from thidua.services import nominations as nom
from thidua.services.campaigns import load_campaign

CATALOGUE = validate_catalogue_file(CONFIG / "awards" / "qd1689_2019.yaml")
BEST = "Hoàn thành xuất sắc nhiệm vụ"
GOOD = "Hoàn thành tốt nhiệm vụ"
# Inside the year-end window (01/11–30/11/2023 for CĐCS, to 10/12 for districts, 25/12 for the province).
NOV_10 = datetime(2023, 11, 10, 9, 0)
DEC_02 = datetime(2023, 12, 2, 9, 0)
DEC_20 = datetime(2023, 12, 20, 9, 0)
TOTAL_TABLES = (Nomination, NominationStep, NominationBatch, AuditLog, OutboxMessage)


def full_dossier(award_code: str, votes: tuple[int, int] = (9, 11)) -> dict[str, DossierEntry]:
    """Every document the award asks of the proposer (the tờ trình comes with the list)."""
    award = CATALOGUE.award(award_code)
    if award is None:
        return {}
    out = {}
    for code in award.dossier:
        item = CATALOGUE.dossier_item(code)
        assert item is not None
        if item.from_batch:
            continue
        out[code] = DossierEntry(f"{code} số 01", *votes) if item.needs_vote else DossierEntry(f"{code} số 01")
    return out


@dataclass
class FakeRating:
    """The rating port: a unit's year-end rating, BEST unless set."""

    ratings: dict[int, str | None] = field(default_factory=dict)
    calls: int = 0

    def __call__(self, session: Session, campaign_id: int, unit_id: int) -> str | None:
        self.calls += 1
        return self.ratings.get(unit_id, BEST)


@dataclass
class World:
    engine: Engine
    campaign_id: int
    units: dict[str, int]
    rating: FakeRating

    def actor(self, code: str, name: str | None = None) -> nom.Actor:
        return nom.Actor(self.units[code], name or f"{code.lower()}@example.vn")

    def proposal(
        self,
        award: str,
        nominee: str,
        *,
        person: str = "",
        occasion: str = "year_end",
        round_number: int | None = None,
        theme: str = "",
        **kwargs: Any,
    ) -> nom.ProposalInput:
        award_spec = CATALOGUE.award(award)
        if not theme and award_spec is not None and award_spec.scope == "thematic":
            theme = "Xanh - Sạch - Đẹp, An toàn vệ sinh lao động"
        kwargs.setdefault("dossier", full_dossier(award))
        return nom.ProposalInput(
            award_code=award,
            subject="individual" if person else "collective",
            nominee_unit_id=self.units[nominee],
            achievement="Hoàn thành xuất sắc nhiệm vụ năm 2023",
            occasion=occasion,
            round_number=round_number,
            person_name=person,
            theme=theme,
            **kwargs,
        )

    def propose(
        self, proposer: str, *proposals: nom.ProposalInput, send: str | None = None, now: datetime = NOV_10
    ) -> list[int]:
        doc = nom.DocumentRef(send, now.date()) if send else None
        return nom.propose(
            self.engine, self.campaign_id, self.actor(proposer), list(proposals), send=doc, rating=self.rating, now=now
        ).nomination_ids

    def send(
        self, unit: str, number: str, now: datetime, occasion: str = "year_end", round_number: int | None = None
    ) -> nom.BatchResult:
        return nom.send_batch(
            self.engine,
            self.campaign_id,
            self.actor(unit),
            occasion=occasion,
            round_number=round_number,
            to_trinh=nom.DocumentRef(number, now.date()),
            rating=self.rating,
            now=now,
        )

    def approve(self, unit: str, ids: list[int], now: datetime) -> list[int]:
        return nom.approve(self.engine, self.campaign_id, ids, self.actor(unit), rating=self.rating, now=now)

    def decide(
        self,
        unit: str,
        ids: list[int],
        number: str = "123/QĐ-LĐLĐ",
        on: date = date(2023, 12, 20),
        now: datetime = DEC_20,
    ) -> list[int]:
        return nom.decide(
            self.engine,
            self.campaign_id,
            self.actor(unit),
            nom.Decision(number, on, "Chủ tịch Nguyễn Văn B"),
            nomination_ids=ids,
            now=now,
        )

    def view(self, nomination_id: int) -> nom.NominationView:
        return nom.get_nomination(self.engine, nomination_id)

    def counts(self) -> dict[str, int]:
        with Session(self.engine) as session:
            return {t.__name__: session.execute(select(func.count()).select_from(t)).scalar_one() for t in TOTAL_TABLES}

    def set_assignment_status(self, unit: str, kind: str, status: str, round_number: int | None = None) -> None:
        with Session(self.engine) as session:
            obligations = select(ObligationDef.id).where(
                ObligationDef.campaign_id == self.campaign_id,  # type: ignore[call-overload]
                ObligationDef.kind == kind,
            )
            if round_number is not None:
                obligations = obligations.where(ObligationDef.round_number == round_number)
            session.execute(
                update(Assignment)
                .where(
                    Assignment.unit_id == self.units[unit],  # type: ignore[arg-type]
                    Assignment.obligation_id.in_(obligations),
                )
                .values(status=status)
            )  # type: ignore[attr-defined]
            session.commit()

    def outbox_for(self, unit: str) -> list[OutboxMessage]:
        with Session(self.engine) as session:
            return list(
                session.execute(
                    select(OutboxMessage)
                    .where(OutboxMessage.unit_id == self.units[unit])  # type: ignore[arg-type]
                    .order_by(OutboxMessage.id)
                ).scalars()
            )


def build_world(engine: Engine, districts: int = 2, cdcs_per_district: int = 3) -> World:
    with Session(engine) as session:
        units = small_binh_dinh(session, districts=districts, cdcs_per_district=cdcs_per_district)
        session.commit()
        ids = {code: unit.id for code, unit in units.items()}
    campaign_id = load_campaign(engine, BINH_DINH_CAMPAIGN).campaign_id
    assert campaign_id is not None
    with Session(engine) as session:  # every unit has registered (tests revoke one where they need it)
        registration = select(ObligationDef.id).where(ObligationDef.kind == "registration")  # type: ignore[call-overload]
        session.execute(update(Assignment).where(Assignment.obligation_id.in_(registration)).values(status="da_duyet"))  # type: ignore[attr-defined]
        session.commit()
    return World(engine, campaign_id, ids, FakeRating())


@pytest.fixture(scope="session")
def world_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, dict[str, int]]:
    """The standard world built once; each test gets a copy of the database file (saves ~0.5 s a test)."""
    path = tmp_path_factory.mktemp("nominations") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    built = build_world(engine)
    engine.dispose()
    return path, built.campaign_id, built.units


@pytest.fixture
def world(world_template: tuple[Path, int, dict[str, int]], tmp_path: Path):
    template, campaign_id, units = world_template
    copy = tmp_path / "world.db"
    shutil.copy(template, copy)
    engine = make_engine(f"sqlite:///{copy}")
    yield World(engine, campaign_id, dict(units), FakeRating())
    engine.dispose()
