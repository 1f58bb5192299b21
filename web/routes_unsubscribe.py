"""Stopping non-mandatory mail from the link in it (RFC 8058 one-click, and the page a person sees).

The POST is what mail providers send for one-click ("List-Unsubscribe=One-Click", no cookie, no CSRF token):
the signed token in the address is the only credential, and it can only stop mail to the address it names.
A GET never changes anything (link scanners open links); it shows what will stop and a button.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import Session

from thidua.services.optout import UNSUBSCRIBE_PATH, BadUnsubscribeLink, describe, opt_out, read_token
from thidua.web.deps import db, now, write_turn
from thidua.web.errors import BadLink
from thidua.web.rendering import render

router = APIRouter()


def _claims(request: Request, token: str):  # noqa: ANN202
    try:
        return read_token(request.app.state.settings, token)
    except BadUnsubscribeLink as exc:
        raise BadLink(str(exc)) from exc


@router.get(UNSUBSCRIBE_PATH + "/{token}")
def unsubscribe_page(request: Request, token: str, session: Session = Depends(db)) -> Response:
    claims = _claims(request, token)
    campaign_title, what = describe(session, claims)
    return render(
        request,
        "auth/unsubscribe.html",
        {"token": token, "claims": claims, "what": what, "campaign_title": campaign_title, "done": False},
    )


@router.post(UNSUBSCRIBE_PATH + "/{token}")
async def unsubscribe(request: Request, token: str, session: Session = Depends(db)) -> Response:
    claims = _claims(request, token)
    form = await request.form()
    # RFC 8058: the provider posts List-Unsubscribe=One-Click; our own page posts the button.
    source = "one-click" if form.get("List-Unsubscribe") == "One-Click" else "page"
    with write_turn(request):
        opt_out(session, claims, source=source, now=now(request))
    campaign_title, what = describe(session, claims)
    return render(
        request,
        "auth/unsubscribe.html",
        {"token": token, "claims": claims, "what": what, "campaign_title": campaign_title, "done": True},
    )
