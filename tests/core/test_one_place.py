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
    return (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and isinstance(node.right, ast.Constant)
            and node.right.value == "~")


def address_pattern(node: ast.AST) -> bool:
    """`re.compile("...@...")`: an e-mail syntax of its own."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "compile"
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "re" and bool(node.args)
            and isinstance(node.args[0], ast.Constant) and "@" in str(node.args[0].value))


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


def test_the_checks_see_a_copy() -> None:
    assert any(tilde_bound(n) for n in ast.walk(ast.parse('q = Unit.path < root + "~"')))
    assert any(address_pattern(n) for n in ast.walk(ast.parse(r'EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")')))
