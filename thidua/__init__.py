"""thidua: a workflow engine for Vietnamese trade-union emulation campaigns (phong trào thi đua).

Sub-packages: ``thidua.models`` (tables and pure domain rules), ``thidua.notifications`` (mail), ``thidua.flows``
(Prefect flows), ``thidua.web`` (pages), ``thidua.config`` (default configuration, package data), and the service
layer, CLI and settings in this folder.

In a source checkout the first five live in the repository's top-level folders (``models/``, ``notifications/``,
``flows/``, ``web/``, ``config/``: the layout the project keeps); the wheel maps them under ``thidua/`` with
setuptools ``package-dir``. Adding the checkout root to this package's search path gives the same import names in
both cases, also in a git worktree, without relying on an editable-install finder.
"""

from pathlib import Path as _Path

_CHECKOUT_ROOT = _Path(__file__).resolve().parent.parent
if (_CHECKOUT_ROOT / "pyproject.toml").is_file() and (_CHECKOUT_ROOT / "models" / "__init__.py").is_file():
    __path__.append(str(_CHECKOUT_ROOT))  # noqa: F821 - __path__ is defined for packages

__version__ = "0.2.0"
