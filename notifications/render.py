"""Rendering notification mail from Jinja2 templates (notifications/templates/).

Each mail kind is three files: `<name>.subject.j2`, `<name>.txt.j2` (plain text) and `<name>.html.j2`
(HTML, autoescaped, extending `_layout.html.j2`). Templates are compiled once per process (the renderer
is cached) because rendering is on the dispatch hot path.

Kinds shipped here: reminder_upcoming, reminder_overdue, digest_parent, digest_office, failure_report,
and `generic`, used for any template name that has no files of its own. `generic` reads from the
context: `subject`, `body` (plain text; blank lines separate paragraphs) and optionally `greeting`,
`link`, `link_label`, `campaign_title`.

A value missing from the context renders empty, so that one sloppy context never stops a batch; tests
render with `strict=True`, which raises instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, Undefined

from thidua.errors import InvalidInputError
from thidua.models.vnformat import JINJA_FILTERS

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
GENERIC = "generic"
# Keys the HTML layout reads; mail kinds that have no campaign leave them empty.
_LAYOUT_DEFAULTS = {
    "campaign_title": "",
    "office_department": "",
    "office_email": "",
    "office_name": "",
    "unsubscribe_url": "",
}
_GENERIC_DEFAULTS = {"subject": "", "body": "", "greeting": "", "link": "", "link_label": ""}


def short_link_text(url: str, limit: int = 48) -> str:
    """What a link shows in HTML mail: host and path, no scheme, no query, at most `limit` characters."""
    text = urlsplit(str(url))
    shown = (text.netloc + text.path) if text.netloc else str(url)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


class TemplateRenderError(InvalidInputError):
    """A template failed to render (a missing value or a broken template): permanent for that mail."""


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


class Renderer:
    def __init__(self, directory: Path = TEMPLATES_DIR, *, strict: bool = False) -> None:
        self.environment = Environment(
            loader=FileSystemLoader(str(directory)),
            autoescape=lambda name: name is not None and name.endswith(".html.j2"),
            undefined=StrictUndefined if strict else Undefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self.environment.filters.update(JINJA_FILTERS, ngan_gon=short_link_text)
        self._compiled: dict[str, tuple[Template, Template, Template] | None] = {}

    def _templates(self, name: str) -> tuple[Template, Template, Template] | None:
        if name not in self._compiled:
            names = set(self.environment.list_templates(extensions=["j2"]))
            parts = (f"{name}.subject.j2", f"{name}.txt.j2", f"{name}.html.j2")
            self._compiled[name] = (
                tuple(self.environment.get_template(p) for p in parts)  # type: ignore[assignment]
                if all(p in names for p in parts)
                else None
            )
        return self._compiled[name]

    def has(self, name: str) -> bool:
        return self._templates(name) is not None

    def render(self, name: str, context: Mapping[str, Any]) -> RenderedMail:
        """Subject (one line), text and HTML of a mail. Unknown names fall back to `generic`."""
        templates = self._templates(name)
        values: dict[str, Any] = {**_LAYOUT_DEFAULTS, **context}
        if templates is None or name == GENERIC:
            templates = self._templates(GENERIC)
            assert templates is not None, "the generic template ships with the package"
            values = {**_GENERIC_DEFAULTS, **values}
            values["paragraphs"] = [p.strip() for p in str(values["body"]).split("\n\n") if p.strip()]
        subject_t, text_t, html_t = templates
        try:
            subject = " ".join(subject_t.render(values).split())
            values["subject"] = subject
            return RenderedMail(subject, text_t.render(values).strip() + "\n", html_t.render(values))
        except Exception as exc:  # any template error is a property of this mail, not of the batch
            raise TemplateRenderError(f"mẫu thư '{name}' lỗi: {exc}") from exc


@lru_cache(maxsize=4)
def get_renderer(directory: Path = TEMPLATES_DIR, *, strict: bool = False) -> Renderer:
    return Renderer(directory, strict=strict)
