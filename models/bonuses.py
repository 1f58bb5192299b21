"""Tiền thưởng: the award form's multiplier of the base salary (lương cơ sở) in force on the decision date,
rounded to the thousand đồng (GIẢ ĐỊNH: the decree's rounding rule to be checked)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def bonus_amount(multiplier: float, base_salary: int) -> int:
    """multiplier × base salary, rounded half up to the thousand đồng (exact decimal arithmetic)."""
    raw = Decimal(str(multiplier)) * Decimal(base_salary)
    return int((raw / 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP) * 1000)
