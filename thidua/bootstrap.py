"""Building a process's parts once: settings, the database engine (migrated to the current schema), the mail
template renderer, the link signer and the SMTP settings. The CLI, the web server (`thidua web`, `thidua serve`)
and the flows start here instead of each wiring its own engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from thidua.db import create_schema, get_engine
from thidua.settings import Settings, get_settings

if TYPE_CHECKING:  # the mail and link parts load when first used: `thidua status` needs only the engine
    from sqlalchemy.engine import Engine

    from thidua.links import LinkSigner
    from thidua.notifications.render import Renderer
    from thidua.notifications.transport import SmtpSettings


def _renderer() -> Renderer:
    from thidua.notifications.render import get_renderer

    return get_renderer()


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    renderer: Renderer = field(default_factory=_renderer)

    @cached_property
    def links(self) -> LinkSigner:
        from thidua.links import LinkSigner

        return LinkSigner(self.settings)

    @cached_property
    def smtp(self) -> SmtpSettings:
        """Built when first needed: a process that never sends mail does not fail on an SMTP misconfiguration
        (SmtpRefused names the bad THIDUA_SMTP_* value)."""
        from thidua.services.reminders import smtp_settings

        return smtp_settings(self.settings)


def bootstrap(settings: Settings | None = None, *, migrate: bool = True) -> Runtime:
    """The parts for `settings` (default: the environment's). `migrate` brings the database to the current schema
    (Alembic; a no-op when it is current)."""
    settings = settings or get_settings()
    engine = get_engine(settings)
    if migrate:
        create_schema(engine)
    return Runtime(settings, engine)


def ready_engine(settings: Settings | None = None) -> Engine:
    """The migrated engine of the environment's settings: what a CLI command needs before touching data (no
    renderer or signer built)."""
    engine = get_engine(settings or get_settings())
    create_schema(engine)
    return engine
