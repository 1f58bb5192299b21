"""config/commendation.yaml of the configuration in force (THIDUA_CONFIG_DIR), read once per file version."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from thidua.models.spec.commendation import CommendationConfig, load_commendation_config
from thidua.settings import CONFIG_DIR, get_settings


def config_path() -> Path:
    chosen = get_settings().config_dir / "commendation.yaml"
    return chosen if chosen.exists() else CONFIG_DIR / "commendation.yaml"


@lru_cache(maxsize=8)
def _cached(path: str, mtime_ns: int) -> CommendationConfig:
    return load_commendation_config(Path(path))


def commendation_config() -> CommendationConfig:
    path = config_path()
    return _cached(str(path), path.stat().st_mtime_ns)


def template_path(kind: str) -> Path:
    """The office's template (beside its commendation.yaml), else the shipped one."""
    relative = getattr(commendation_config().templates, kind)
    for root in (config_path().parent, CONFIG_DIR):
        if (root / relative).exists():
            return root / relative
    return config_path().parent / relative
