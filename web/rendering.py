"""Jinja2 environment of the pages: Vietnamese formatting filters and one `render` helper."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from thidua.models.nominations import ACTION_LABELS as NOMINATION_ACTIONS
from thidua.models.nominations import NominationAction
from thidua.models.status import OBLIGATION_KIND_LABELS, STATUS_LABELS, AssignmentStatus
from thidua.models.vnformat import JINJA_FILTERS
from thidua.web.deps import template_globals
from thidua.web.permissions import ROLE_LABELS, Role

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def _status_label(status: str) -> str:
    try:
        return STATUS_LABELS[AssignmentStatus(status)]
    except ValueError:
        return status


def _days_left(due: date, today: date) -> str:
    days = (due - today).days
    if days > 1:
        return f"còn {days} ngày"
    if days == 1:
        return "còn 1 ngày (hạn ngày mai)"
    if days == 0:
        return "hạn hôm nay"
    return f"quá hạn {-days} ngày"


def _role_label(role: str) -> str:
    try:
        return ROLE_LABELS[Role(role)]
    except ValueError:
        return role


def _nomination_action(action: str) -> str:
    try:
        return NOMINATION_ACTIONS[NominationAction(action)]
    except ValueError:
        return action


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.filters.update(JINJA_FILTERS)
    env.filters.update(
        trangthai=_status_label,
        loai_nghia_vu=lambda kind: OBLIGATION_KIND_LABELS.get(kind, kind),
        con_lai=_days_left,
        vai_tro=_role_label,
        buoc_de_nghi=_nomination_action,
    )
    env.globals["STATUS_LABELS"] = {s.value: label for s, label in STATUS_LABELS.items()}
    env.globals["ROLE_LABELS"] = {r.value: label for r, label in ROLE_LABELS.items()}
    return templates


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    ctx = template_globals(request)
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)
