"""Sending one message from the outbox right away (sign-in links), through the reminders dispatcher."""
from __future__ import annotations

import logging
from typing import Callable

from sqlalchemy.engine import Engine

from thidua.settings import Settings

log = logging.getLogger("thidua.web")

SendNow = Callable[[str], None]


def default_sender(settings: Settings, engine: Engine) -> SendNow | None:
    """A function sending the outbox message with a given key now, or None when no dispatcher is
    installed (the message then leaves with the scheduler's next tick)."""
    return None
