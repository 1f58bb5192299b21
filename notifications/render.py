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

Mass mail (the reminders of one obligation and stage) goes through `Renderer.render_filled`: the three
templates are rendered once per shared context with placeholders for the per-recipient values, which are then
filled in; the result is the text `render` gives (checked on the first mails of each shape and every
thousandth, and pinned by tests/notifications/test_render_filled.py and tests/reminders/test_message_format.py).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Collection, Mapping
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, Undefined
from markupsafe import escape

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


log = logging.getLogger(__name__)


class _Slot(str):
    """A placeholder rendered in place of one per-recipient value (see `Renderer.render_filled`)."""

    number: int

    def __new__(cls, number: int) -> "_Slot":
        slot = super().__new__(cls, f"\x00{number}\x00")
        slot.number = number
        return slot


# A slot as rendered: "\x00<index>\x00", or "\x00<index>s<limit>\x00" where `ngan_gon` shortened it.
_SLOT_MARK = re.compile("\x00(\\d+)(?:s(\\d+))?\x00")


def short_link_text(url: str, limit: int = 48) -> str:
    """What a link shows in HTML mail: host and path, no scheme, no query, at most `limit` characters."""
    if isinstance(url, _Slot):  # filled per recipient with the short text of the real link
        return f"\x00{url.number}s{limit}\x00"
    url = str(url)
    # Host and path end at the first "?" (or "#"): the part before it splits as the whole URL does. Signed links
    # differ in their query only, so that part repeats and its split is remembered.
    head = url.partition("?")[0]
    shown = _shown_text(head) if "#" not in head else _shown_text(url)
    if shown is None:
        shown = url
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


@lru_cache(maxsize=4096)
def _shown_text(url: str) -> str | None:
    """Host and path of `url` (None when it has no host)."""
    text = urlsplit(url)
    return (text.netloc + text.path) if text.netloc else None


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
        self._shapes: dict[tuple[Any, ...], _Shape | None] = {}

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

    def render_filled(self, name: str, context: Mapping[str, Any], per_recipient: Collection[str]) -> RenderedMail:
        """`render(name, context)`, fast for mass mail: the mail is rendered once per set of shared values with
        a placeholder for each key in `per_recipient` (unit name, link, unsubscribe URL...), and each
        recipient's values are then filled in (HTML-escaped in the HTML part, shortened where the template
        applies `ngan_gon`). The result is the same text as `render`: a per-recipient value may only be printed
        as is, escaped or through `ngan_gon`, and only values that are non-empty single-spaced strings are filled
        in (any other value is part of the shared set). The first uses of each shape and every
        `_CHECK_EVERY`-th one are checked against `render`; a shape that differs is dropped for good (logged)."""
        names: list[str] = []
        values: list[str] = []
        shared: list[tuple[str, Any]] = []
        for key, value in context.items():
            if key in per_recipient and type(value) is str and value and "\x00" not in value:
                if value == " ".join(value.split()):
                    names.append(key)
                    values.append(value)
                    continue
            shared.append((key, value))
        if not names:
            return self.render(name, context)
        try:
            cache_key = (name, tuple(names), tuple(shared))
            shape = self._shapes.get(cache_key, _MISSING)
        except TypeError:  # an unhashable shared value (lists of rows): nothing to share
            return self.render(name, context)
        if shape is _MISSING:
            shape = self._shape(name, context, names)
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            self._shapes[cache_key] = shape
        if shape is None:
            return self.render(name, context)
        assert isinstance(shape, _Shape)
        mail = shape.fill(values)
        shape.uses += 1
        if shape.uses <= _CHECK_FIRST or shape.uses % _CHECK_EVERY == 0:
            reference = self.render(name, context)
            if reference != mail:
                log.error("mẫu thư '%s': bản điền nhanh khác bản dựng đầy đủ; từ nay dựng đầy đủ", name)
                self._shapes[cache_key] = None
                return reference
        return mail

    def _shape(self, name: str, context: Mapping[str, Any], names: list[str]) -> "_Shape | None":
        try:
            mail = self.render(name, {**context, **{key: _Slot(i) for i, key in enumerate(names)}})
        except TemplateRenderError:  # let the real values decide (render raises for them, or works)
            return None
        return _Shape(_pieces(mail.subject), _pieces(mail.text), _pieces(mail.html))


_MISSING: Any = object()
_MAX_SHAPES = 512
_CHECK_FIRST = 2
_CHECK_EVERY = 1000


def _pieces(rendered: str) -> tuple[Any, ...]:
    """Literal text and slots, alternating: (text, index, limit or None, text, index, limit, ..., text)."""
    parts: list[Any] = _SLOT_MARK.split(rendered)
    for i in range(1, len(parts), 3):
        parts[i] = int(parts[i])
        parts[i + 1] = None if parts[i + 1] is None else int(parts[i + 1])
    return tuple(parts)


def _fill(pieces: tuple[Any, ...], values: list[str], html: bool) -> str:
    if len(pieces) == 1:
        return pieces[0]  # type: ignore[no-any-return]
    out = [pieces[0]]
    for i in range(1, len(pieces), 3):
        value, limit = values[pieces[i]], pieces[i + 1]
        if limit is not None:
            value = short_link_text(value, limit)
        out.append(escape(value) if html else value)  # Markup is a str: joined as its text
        out.append(pieces[i + 2])
    return "".join(out)


@dataclass
class _Shape:
    """One rendered mail with placeholders (see `Renderer.render_filled`)."""

    subject: tuple[Any, ...]
    text: tuple[Any, ...]
    html: tuple[Any, ...]
    uses: int = 0

    def fill(self, values: list[str]) -> RenderedMail:
        return RenderedMail(
            _fill(self.subject, values, False), _fill(self.text, values, False), _fill(self.html, values, True)
        )


@lru_cache(maxsize=4)
def get_renderer(directory: Path = TEMPLATES_DIR, *, strict: bool = False) -> Renderer:
    return Renderer(directory, strict=strict)
