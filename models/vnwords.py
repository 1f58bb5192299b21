"""Amounts in Vietnamese words, as written on decisions: 4.680.000 → "Bốn triệu sáu trăm tám mươi nghìn đồng"."""

from __future__ import annotations

_DIGITS = ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"]
_GROUPS = ["", " nghìn", " triệu", " tỷ"]


def _three(n: int, full: bool) -> str:
    hundreds, tens, ones = n // 100, n // 10 % 10, n % 10
    words: list[str] = []
    if full or hundreds:
        words += [_DIGITS[hundreds], "trăm"]
    if tens == 0:
        if ones and words:
            words.append("lẻ")
    elif tens == 1:
        words.append("mười")
    else:
        words += [_DIGITS[tens], "mươi"]
    if ones:
        if ones == 1 and tens > 1:
            words.append("mốt")
        elif ones == 5 and tens > 0:
            words.append("lăm")
        elif ones == 4 and tens > 1:
            words.append("tư")
        else:
            words.append(_DIGITS[ones])
    return " ".join(words)


def amount_in_words(amount: int) -> str:
    if amount == 0:
        return "Không đồng"
    if amount < 0:
        return "Âm " + amount_in_words(-amount)[0].lower() + amount_in_words(-amount)[1:]
    groups: list[int] = []
    while amount:
        groups.append(amount % 1000)
        amount //= 1000
    parts: list[str] = []
    for i in range(len(groups) - 1, -1, -1):
        value = groups[i]
        if value == 0:
            continue
        scale = _GROUPS[i % 3] if i % 3 else ""
        scale += " tỷ" * (i // 3)
        parts.append(_three(value, full=i != len(groups) - 1) + scale)
    text = " ".join(parts) + " đồng"
    return text[0].upper() + text[1:]


def group_thousands(amount: int) -> str:
    """4680000 → 4.680.000 (the one formatting module's integer)."""
    from thidua.models.vnformat import fmt_integer

    return fmt_integer(amount, missing="0")
