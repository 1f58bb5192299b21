"""Fixtures for the unit hierarchy tests: databases with the level list loaded."""

from __future__ import annotations

import pytest

from thidua.services.units import load_levels


@pytest.fixture
def db(engine):
    """SQLite with config/levels.yaml loaded."""
    load_levels(engine)
    return engine


@pytest.fixture
def any_db(any_engine):
    """SQLite and PostgreSQL with config/levels.yaml loaded."""
    load_levels(any_engine)
    return any_engine
