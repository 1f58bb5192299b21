"""One rule, one place: the subtree range and the e-mail syntax are written once (ARCHITECTURE.md), so a copy that
drifts (e.g. `path + '~'`, unsafe under Vietnamese collations — ADR 0001) is caught here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.core.test_layers import sources

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.domain


def tilde_bound(node: ast.AST) -> bool:
    """`something + "~"`: the subtree bound written by hand."""
    return (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Add)
        and isinstance(node.right, ast.Constant)
        and node.right.value == "~"
    )


def address_pattern(node: ast.AST) -> bool:
    """`re.compile("...@...")`: an e-mail syntax of its own."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "compile"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "re"
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and "@" in str(node.args[0].value)
    )


CAMPAIGN_IDENTITY = {"code", "title", "timezone", "owner_email"}


def campaign_record_copy(node: ast.AST) -> bool:
    """A class that declares the campaign's own columns again instead of using CampaignInfo / CampaignContext."""
    if not isinstance(node, ast.ClassDef) or node.name in {"CampaignInfo", "Campaign", "CampaignBase"}:
        return False
    declared = {s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}
    return CAMPAIGN_IDENTITY <= declared


def offenders(check, allowed: set[str]) -> list[str]:  # noqa: ANN001
    found = []
    for path in sources():
        relative = str(path.relative_to(ROOT))
        if relative in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if check(node):
                found.append(f"{relative}:{node.lineno}")
    return found


def test_the_subtree_range_is_only_models_hierarchy_subtree_range() -> None:
    assert offenders(tilde_bound, set()) == []


def test_e_mail_syntax_is_only_models_emails() -> None:
    # notifications/message.py checks a Message-ID (<id@domain>), not an address.
    assert offenders(address_pattern, {"models/emails.py", "notifications/message.py"}) == []


def test_the_campaign_record_is_only_campaign_info() -> None:
    """One light record (services/lookup.py) and one rich one built on it (services/campaign_context.py)."""
    assert offenders(campaign_record_copy, set()) == []


def test_the_checks_see_a_copy() -> None:
    copy = "class Ctx:\n    id: int\n    code: str\n    title: str\n    timezone: str\n    owner_email: str\n"
    assert any(campaign_record_copy(n) for n in ast.walk(ast.parse(copy)))
    assert any(tilde_bound(n) for n in ast.walk(ast.parse('q = Unit.path < root + "~"')))
    assert any(address_pattern(n) for n in ast.walk(ast.parse(r'EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")')))
