"""Import rules between the layers (ARCHITECTURE.md), read from the source with ast: a forbidden import fails here.

    thidua.errors         the floor: imports nothing of thidua; every layer may import it
    thidua.models         pure domain rules and tables: nothing of thidua above it
    thidua.notifications  mail: models only (not services, web, cli, flows)
    thidua.services       use cases: not web, cli, flows
    thidua.web / cli / flows   adapters on top
Everything imports thidua with its full name: never the bare top-level `models`, `web`, `flows`, `notifications`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {
    "thidua": "thidua",
    "models": "thidua.models",
    "flows": "thidua.flows",
    "notifications": "thidua.notifications",
    "web": "thidua.web",
}
BARE = {"models", "web", "flows", "notifications", "config"}
# Modules every layer may import (leaves that import nothing of thidua above them).
FLOOR = {"thidua.errors"}

pytestmark = pytest.mark.domain


def module_name(path: Path) -> str:
    for folder, package in FOLDERS.items():
        base = ROOT / folder
        if path.is_relative_to(base):
            parts = [p for p in path.relative_to(base).with_suffix("").parts if p != "__init__"]
            return ".".join([package, *parts])
    raise ValueError(path)


def sources() -> list[Path]:
    found = []
    for folder in FOLDERS:
        found += [p for p in sorted((ROOT / folder).rglob("*.py")) if "migrations" not in p.parts]
    return found


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in the file, also inside functions and TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((node.lineno, name))
            out += [(node.lineno, f"{name}.{alias.name}") for alias in node.names if alias.name != "*"]
    return out


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def layer_violations() -> list[str]:
    rules = [  # (layer, what it must not import)
        (
            "thidua.models",
            lambda n: (
                within(n, "thidua")
                and not within(n, "thidua.models")
                and n not in FLOOR
                and not any(n.startswith(f + ".") for f in FLOOR)
            ),
        ),
        ("thidua.services", lambda n: any(within(n, p) for p in ("thidua.web", "thidua.cli", "thidua.flows"))),
        (
            "thidua.notifications",
            lambda n: any(within(n, p) for p in ("thidua.web", "thidua.cli", "thidua.flows", "thidua.services")),
        ),
        ("thidua.errors", lambda n: within(n, "thidua") and n != "thidua.errors"),
    ]
    found = []
    for path in sources():
        module = module_name(path)
        for line, name in imports_of(path):
            where = f"{path.relative_to(ROOT)}:{line} imports {name}"
            if name.split(".")[0] in BARE:
                found.append(f"{where} (bare name; use thidua.{name})")
            for layer, forbidden in rules:
                if within(module, layer) and forbidden(name):
                    found.append(f"{where} ({layer} may not)")
    return sorted(set(found))


def test_no_forbidden_import_between_layers() -> None:
    assert layer_violations() == []


def test_the_check_sees_a_forbidden_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule is not vacuous: a models module importing the web layer, or a bare `models`, is reported."""
    fake_root = tmp_path / "repo"
    for folder in FOLDERS:
        (fake_root / folder).mkdir(parents=True)
    (fake_root / "models" / "bad.py").write_text("from thidua.web.auth import read_link\nimport models.tables\n")
    (fake_root / "thidua" / "services").mkdir()
    (fake_root / "thidua" / "services" / "bad.py").write_text("def f():\n    from thidua.cli import common\n")
    (fake_root / "notifications" / "ok.py").write_text("from thidua.errors import InvalidInputError\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", fake_root)
    found = layer_violations()
    assert found == [
        "models/bad.py:1 imports thidua.web.auth (thidua.models may not)",
        "models/bad.py:1 imports thidua.web.auth.read_link (thidua.models may not)",
        "models/bad.py:2 imports models.tables (bare name; use thidua.models.tables)",
        "thidua/services/bad.py:2 imports thidua.cli (thidua.services may not)",
        "thidua/services/bad.py:2 imports thidua.cli.common (thidua.services may not)",
    ]
