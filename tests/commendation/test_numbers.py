"""The number register: no gap and no duplicate under 50 concurrent issuers, on SQLite and PostgreSQL; a
rolled-back issue gives its number back."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from sqlmodel import Session

from tests.factories import small_binh_dinh
from thidua.models.commendation import IssuedNumber
from thidua.models.tables import AuditLog
from thidua.services.commendation.numbers import begin_write, issue_number, register, take_number

ISSUERS = 50


def _units(engine) -> dict[str, int]:  # noqa: ANN001
    with Session(engine) as session:
        units = small_binh_dinh(session, districts=1, cdcs_per_district=1)
        session.commit()
        return {code: unit.id for code, unit in units.items()}


def test_fifty_concurrent_issuers_get_one_to_fifty_without_gap_or_duplicate(any_engine) -> None:
    units = _units(any_engine)
    province = units["BDH"]
    start = threading.Barrier(ISSUERS)
    failures: list[BaseException] = []

    def issue(i: int) -> int:
        start.wait()
        with Session(any_engine, expire_on_commit=False) as session:
            begin_write(session)
            taken = take_number(
                session, issuing_unit_id=province, year=2024, series="QĐ", purpose="award_decision", actor=f"issuer-{i}"
            )
            if i % 5 == 0:  # every fifth issuer fails after taking its number: the number must come back
                session.rollback()
                return 0
            session.commit()
            return taken.number

    with ThreadPoolExecutor(max_workers=ISSUERS) as pool:
        futures = [pool.submit(issue, i) for i in range(ISSUERS)]
        numbers = []
        for future in futures:
            try:
                numbers.append(future.result())
            except BaseException as exc:  # noqa: BLE001
                failures.append(exc)
    assert failures == []
    kept = sorted(n for n in numbers if n)
    assert kept == list(range(1, len(kept) + 1)) and len(kept) == ISSUERS - ISSUERS // 5
    rows = register(any_engine, province, 2024, "QĐ")
    assert [r["number"] for r in rows] == kept
    assert rows[0]["symbol"] == "1/QĐ-LĐLĐ"
    # after the storm the register goes on from the last kept number, and other series/years start at 1
    assert (
        issue_number(any_engine, issuing_unit_id=province, year=2024, series="QĐ", purpose="x", actor="a").number
        == len(kept) + 1
    )
    assert (
        issue_number(any_engine, issuing_unit_id=province, year=2024, series="TTr", purpose="x", actor="a").symbol
        == "1/TTr-LĐLĐ"
    )
    assert (
        issue_number(any_engine, issuing_unit_id=province, year=2025, series="QĐ", purpose="x", actor="a").number == 1
    )
    assert (
        issue_number(
            any_engine, issuing_unit_id=units["BDH.D1.1"], year=2024, series="QĐ", purpose="x", actor="a"
        ).symbol
        == "1/QĐ-CĐCS"
    )
    with Session(any_engine) as session:
        audited = session.execute(select(AuditLog.entity_id).where(AuditLog.action == "number.issued")).scalars().all()
        issued = session.execute(select(IssuedNumber.id)).scalars().all()
    assert sorted(map(int, audited)) == sorted(issued)


@pytest.mark.parametrize(
    "pattern, expected", [("{so}/{loai}-{don_vi}", "7/QĐ-LĐLĐ"), ("{so}/{nam}/{loai}-{don_vi}", "7/2024/QĐ-LĐLĐ")]
)
def test_symbol_follows_the_configured_pattern(pattern: str, expected: str) -> None:
    from thidua.models.commendation import format_symbol

    assert format_symbol(pattern, number=7, series="QĐ", unit_symbol="LĐLĐ", year=2024) == expected
