"""The enquiry chat page: ``/enquiry`` in the gateway's review web app, and its JSON API over the same
``EnquiryDesk`` as the gRPC EnquiryService.

``POST /api/enquiry/ask`` takes ``{"question": ..., "language": "" | "en" | "zh-Hant", "session_id": ...}``
and answers ``{"answer", "source", "confidence", "handed_over", ...}`` with the record id; a bad question
is a 400 with one line of text saying what is wrong with it.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from aiohttp import web

from smartcustoms.plugins.enquiry.text import MAX_QUESTION_CHARS, QuestionError
from smartcustoms.runtime.enquiry import EnquiryDesk

MAX_BODY_BYTES = 16 * 1024


async def _json_body(request: web.Request) -> dict[str, Any]:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise web.HTTPBadRequest(
            text=f"the question is too long: at most {MAX_QUESTION_CHARS} characters are read"
        )
    raw = await request.read()
    if len(raw) > MAX_BODY_BYTES:
        raise web.HTTPBadRequest(
            text=f"the question is too long: at most {MAX_QUESTION_CHARS} characters are read"
        )
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the request body must be a JSON object")
    return body


def add_routes(app: web.Application, desk: EnquiryDesk | None) -> None:
    """The chat page (``/enquiry``) and ``/api/enquiry/ask``; nothing when there is no desk."""
    if desk is None:
        return
    routes = web.RouteTableDef()
    page = resources.files("smartcustoms.runtime").joinpath("enquiry.html").read_text(encoding="utf-8")

    @routes.get("/enquiry")
    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html", charset="utf-8")

    @routes.post("/api/enquiry/ask")
    async def ask(request: web.Request) -> web.Response:
        body = await _json_body(request)
        question = body.get("question")
        if not isinstance(question, str):
            raise web.HTTPBadRequest(text="the question must be text")
        try:
            answer, record_id = await desk.ask(
                question, str(body.get("language") or ""), "web", str(body.get("session_id") or "")
            )
        except QuestionError as error:
            raise web.HTTPBadRequest(text=str(error)) from None
        return web.json_response({**answer.as_json(), "record_id": record_id})

    app.add_routes(routes)
