"""The number register: số/ký hiệu per issuing unit, year and series, with no gap and no duplicate.

`take_number` runs inside the caller's transaction: the counter row is created if missing (INSERT … ON
CONFLICT DO NOTHING), then bumped with UPDATE … RETURNING, which holds the row's write lock until the caller
commits — so concurrent issuers queue, and a caller that rolls back gives its number back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.audit import audit_many
from thidua.models.clock import utcnow
from thidua.models.commendation import IssuedNumber, NumberCounter, format_symbol
from thidua.models.tables import Unit
from thidua.services.commendation.config import commendation_config

C = NumberCounter.__table__  # type: ignore[attr-defined]
I = IssuedNumber.__table__  # type: ignore[attr-defined]  # noqa: E741
U = Unit.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class TakenNumber:
    id: int
    number: int
    symbol: str


def unit_symbol(session: Session, unit_id: int) -> str:
    config = commendation_config()
    row = session.execute(select(U.c.code, U.c.level_code).where(U.c.id == unit_id)).one()
    return config.unit_symbols.get(row.code) or config.level_symbols.get(row.level_code) or row.code


def take_number(
    session: Session,
    *,
    issuing_unit_id: int,
    year: int,
    series: str,
    purpose: str,
    actor: str,
    now: datetime | None = None,
    audit_unit_id: int | None = None,
) -> TakenNumber:
    """The next number of the series, recorded in issued_number and the audit log (caller's transaction)."""
    dialect = session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    key = {"issuing_unit_id": issuing_unit_id, "year": year, "series": series}
    session.execute(
        maker(C)
        .values(**key, last_number=0)
        .on_conflict_do_nothing(index_elements=["issuing_unit_id", "year", "series"])
    )
    number = session.execute(
        update(C)
        .where(C.c.issuing_unit_id == issuing_unit_id, C.c.year == year, C.c.series == series)
        .values(last_number=C.c.last_number + 1)
        .returning(C.c.last_number)
    ).scalar_one()
    symbol = format_symbol(
        commendation_config().symbol,
        number=number,
        series=series,
        unit_symbol=unit_symbol(session, issuing_unit_id),
        year=year,
    )
    at = now or utcnow()
    number_id = session.execute(
        insert(I)
        .values(**key, number=number, symbol=symbol, purpose=purpose, issued_at=at, issued_by=actor)
        .returning(I.c.id)
    ).scalar_one()
    audit_many(
        session,
        [
            {
                "at": at,
                "actor": actor,
                "action": "number.issued",
                "entity": "issued_number",
                "entity_id": number_id,
                "unit_id": audit_unit_id or issuing_unit_id,
                "after": {**key, "number": number, "symbol": symbol, "purpose": purpose},
            }
        ],
    )
    return TakenNumber(number_id, number, symbol)


def begin_write(session: Session) -> None:
    """Take the write lock first on SQLite (a deferred transaction could not upgrade under contention)."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")


def issue_number(
    engine: Engine,
    *,
    issuing_unit_id: int,
    year: int,
    series: str,
    purpose: str,
    actor: str,
    now: datetime | None = None,
) -> TakenNumber:
    """take_number in its own transaction (numbers for documents written outside thidua)."""
    with Session(engine, expire_on_commit=False) as session:
        begin_write(session)
        taken = take_number(
            session, issuing_unit_id=issuing_unit_id, year=year, series=series, purpose=purpose, actor=actor, now=now
        )
        session.commit()
        return taken


def register(engine: Engine, issuing_unit_id: int, year: int, series: str | None = None) -> list[dict]:
    """The numbers given out, in order (sổ đăng ký văn bản đi)."""
    query = select(I).where(I.c.issuing_unit_id == issuing_unit_id, I.c.year == year)
    if series:
        query = query.where(I.c.series == series)
    with Session(engine) as session:
        return [dict(r) for r in session.execute(query.order_by(I.c.series, I.c.number)).mappings()]
