"""Where the checkout and the default configuration are; kept apart from settings so the CLI can use them
without importing pydantic."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent  # the checkout root in a source tree; site-packages when installed
# The default configuration: package data (config/ in a checkout, thidua/config/ in the wheel).
CONFIG_DIR = Path(str(files("thidua.config")))
IN_SOURCE_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "models").is_dir()
