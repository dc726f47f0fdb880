"""Officers log in to the gateway's pages and ReviewService (docs/security.md).

``protect(app, store)`` is the one place the web side is switched on: a login page, logout, an account
API for operators, and a middleware in front of every route. Public routes (the enquiry assistant, the
drivers' air cargo queue pages) stay open; every other page needs a session (else a redirect to
/login) and every other API call too (else 401). A state-changing request must be ``application/json``
(else 415) and, with a session cookie, carry the session's CSRF token in ``X-CSRF-Token`` (else 403);
a caller with ``Authorization: Bearer`` (no ambient credential) needs no CSRF token. The officer a
request names in its JSON body is replaced by the session's account: what is recorded is who logged in.

``GrpcGate`` does the same for ReviewService calls: a session token in ``authorization: Bearer``
metadata, UNAUTHENTICATED without a live one, PERMISSION_DENIED for a role too low.
SearchService and EvidenceService take the same gate (``runtime/search.py``, ``runtime/evidence.py``);
``OfficerStub`` is the CLI's side: every call of a stub carries the token.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import quote

import grpc
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.typedefs import Middleware

from smartcustoms.core.config import Config
from smartcustoms.runtime.officers import LoginRefused, OfficerError, OfficerStore, Session

SESSION_COOKIE = "sc_session"
CSRF_COOKIE = "sc_csrf"
CSRF_HEADER = "X-CSRF-Token"
SESSION_KEY = web.RequestKey("officer_session", Session)
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Routes anyone may use: (method, route as declared). Everything else needs an officer's session.
PUBLIC_ROUTES = frozenset(
    {
        ("GET", "/login"),
        ("POST", "/login"),
        ("GET", "/enquiry"),
        ("POST", "/api/enquiry/ask"),
        ("GET", "/queue"),
        ("GET", "/api/queue/board"),
        ("GET", "/api/queue/board/events"),
        ("POST", "/api/queue/tickets"),
        ("GET", "/api/queue/tickets/{ticket_id}"),
        ("POST", "/api/queue/tickets/{ticket_id}/cancel"),
        ("POST", "/api/queue/tickets/{ticket_id}/rejoin"),
        ("GET", "/api/queue/tickets/{ticket_id}/events"),
    }
)
# Routes above a screener's role (a changed alert decision is checked by the review desk itself).
ROLE_ROUTES = {
    ("POST", "/api/liquor/assessments/{assessment_id}/bottles/{bottle_id}/override"): "supervisor",
    ("POST", "/api/queue/settings"): "supervisor",
    ("POST", "/api/queue/terminal"): "supervisor",
    ("POST", "/api/watchlist"): "supervisor",  # a standing order to search every crossing of a plate
    ("POST", "/api/watchlist/remove"): "supervisor",
    ("GET", "/api/officers"): "operator",
    ("POST", "/api/officers"): "operator",
    ("POST", "/api/officers/{name}/revoke"): "operator",
}

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def guard(app: web.Application, config: Config, client: aioredis.Redis) -> None:
    """With ``gateway.officer_auth`` on: protect ``app``; on a namespace without accounts, create the
    initial operator first (its password goes to a file in the run directory, shown once by ``up``)."""
    if not config.gateway.officer_auth:
        return
    store = OfficerStore(client, config.namespace, config.gateway.officer_session_s)
    created = await store.ensure_initial_operator(config.run_dir)
    if created is not None:
        log.warning("officer account 'operator' created; its password is in %s (shown once)", created)
    protect(app, store)


def protect(app: web.Application, store: OfficerStore) -> None:
    """Put the officers' login in front of every route of ``app`` (call before the app starts)."""
    app.add_routes(_routes(store))
    app.middlewares.append(_middleware(store))


def _route_of(request: web.Request) -> tuple[str, str]:
    method = "GET" if request.method == "HEAD" else request.method
    resource = request.match_info.route.resource
    return method, resource.canonical if resource is not None else request.path


def _middleware(store: OfficerStore) -> Middleware:
    @web.middleware
    async def officers_only(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = _route_of(request)
        writes = request.method in STATE_CHANGING
        if writes and request.content_type != "application/json":
            raise refusal(web.HTTPUnsupportedMediaType, "state-changing requests take application/json")
        if route in PUBLIC_ROUTES:
            return await handler(request)
        bearer = _bearer(request.headers.get("Authorization", ""))
        session = await store.session(bearer or request.cookies.get(SESSION_COOKIE, ""))
        if session is None:
            if route[1].startswith("/api/") or writes or bearer:
                raise refusal(web.HTTPUnauthorized, "log in first (POST /login)")
            raise web.HTTPFound("/login" if request.path == "/" else f"/login?next={quote(request.path_qs)}")
        if writes and not bearer and not _same(request.headers.get(CSRF_HEADER, ""), session.csrf):
            raise refusal(web.HTTPForbidden, f"missing or wrong {CSRF_HEADER} header")
        needed = ROLE_ROUTES.get(route, "screener")
        if not session.account.may(needed):
            raise refusal(web.HTTPForbidden, f"this takes the {needed} role")
        request[SESSION_KEY] = session
        if writes:
            await _as_officer(request, session.name)
        response = await handler(request)
        if isinstance(response, web.Response) and response.content_type == "text/html" and response.text:
            response.text = response.text.replace("</head>", _page_script(session) + "</head>", 1)
        return response

    return officers_only


async def _as_officer(request: web.Request, name: str) -> None:
    """Rewrite the JSON body so the officer it names, if it names one, is the session's account (the
    first of the ``officers`` of a two-person order; the second is attested by the first)."""
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        return  # the handler answers 400 for a body that is not JSON
    if not isinstance(body, dict) or not ("officer" in body or "officers" in body):
        return
    if "officer" in body:
        body["officer"] = name
    officers = body.get("officers")
    if isinstance(officers, list) and officers:
        body["officers"] = [name, *[o for o in officers[1:] if o != name]]
    # aiohttp has no public way to replace a request body: the cached bytes are what json() reads.
    request._read_bytes = json.dumps(body).encode()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _bearer(header: str) -> str:
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def refusal(status: type[web.HTTPException], why: str) -> web.HTTPException:
    """An HTTP error whose JSON body says why: ``{"error": why}``."""
    return status(text=json.dumps({"error": why}), content_type="application/json")


def _page_script(session: Session) -> str:
    """What an officer page gets: its fetch calls carry the CSRF token, a 401 leads to the login page,
    officer name fields show the account and cannot be edited, a line says who is logged in."""
    who = json.dumps({"name": session.name, "role": session.account.role}).replace("<", "\\u003c")
    return f"<script>window.SC_OFFICER = {who};</script>\n{_asset('officer_page.html')}"


@functools.cache
def _asset(name: str) -> str:
    return resources.files("smartcustoms.runtime").joinpath(name).read_text()


def _routes(store: OfficerStore) -> web.RouteTableDef:
    routes = web.RouteTableDef()
    login_page = _asset("login.html")

    @routes.get("/login")
    async def login_form(request: web.Request) -> web.Response:
        return web.Response(text=login_page, content_type="text/html")

    @routes.post("/login")
    async def login(request: web.Request) -> web.Response:
        body = await json_object(request)
        try:
            opened = await store.login(str(body.get("name", "")), str(body.get("password", "")))
        except LoginRefused as error:
            raise refusal(web.HTTPUnauthorized, str(error)) from None
        answer: dict[str, Any] = {"name": opened.session.name, "role": opened.session.account.role}
        if body.get("bearer") is True:  # a script or the CLI: it sends the token itself
            answer["token"] = opened.token
        response = web.json_response(answer)
        max_age = int(store.session_s)
        for cookie, value, http_only in (
            (SESSION_COOKIE, opened.token, True),
            (CSRF_COOKIE, opened.session.csrf, False),
        ):
            response.set_cookie(
                cookie,
                value,
                max_age=max_age,
                path="/",
                httponly=http_only,
                samesite="Strict",
                secure=request.secure,
            )
        return response

    @routes.post("/logout")
    async def logout(request: web.Request) -> web.Response:
        await store.logout(
            _bearer(request.headers.get("Authorization", "")) or request.cookies.get(SESSION_COOKIE, "")
        )
        response = web.json_response({"logged_out": True})
        response.del_cookie(SESSION_COOKIE, path="/")
        response.del_cookie(CSRF_COOKIE, path="/")
        return response

    @routes.get("/api/officers")
    async def listing(request: web.Request) -> web.Response:
        return web.json_response([_account_json(a) for a in await store.accounts()])

    @routes.post("/api/officers")
    async def add(request: web.Request) -> web.Response:
        body = await json_object(request)
        try:
            account = await store.add(
                str(body.get("name", "")),
                str(body.get("role", "")),
                str(body.get("password", "")),
                by=request[SESSION_KEY].name,
            )
        except OfficerError as error:
            raise refusal(web.HTTPBadRequest, str(error)) from None
        return web.json_response(_account_json(account), status=201)

    @routes.post("/api/officers/{name}/revoke")
    async def revoke(request: web.Request) -> web.Response:
        try:
            await store.revoke(request.match_info["name"], by=request[SESSION_KEY].name)
        except LookupError as error:
            raise refusal(web.HTTPNotFound, str(error)) from None
        return web.json_response({"name": request.match_info["name"], "revoked": True})

    return routes


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON body, refused with 400 unless it is an object."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise refusal(web.HTTPBadRequest, "the request body must be a JSON object")
    return body


def _account_json(account: Any) -> dict[str, Any]:
    return {
        "name": account.name,
        "role": account.role,
        "created": account.created,
        "revoked": account.revoked,
    }


class GrpcGate:
    """Who is calling a gRPC method, from the ``authorization: Bearer <session token>`` metadata."""

    def __init__(self, store: OfficerStore) -> None:
        self.store = store

    async def officer(self, context: grpc.aio.ServicerContext, role: str = "screener") -> Session:
        """The caller's session; aborts UNAUTHENTICATED without one, PERMISSION_DENIED below ``role``."""
        metadata = dict(context.invocation_metadata() or ())
        token = _bearer(str(metadata.get("authorization", "")))
        session = await self.store.session(token)
        if session is None:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED, "log in first: authorization: Bearer <token>"
            )
            raise AssertionError("unreachable: abort raises")
        if not session.account.may(role):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"this takes the {role} role")
        return session


def grpc_gate(config: Config, client: aioredis.Redis) -> GrpcGate | None:
    """The ReviewService's gate, or None when ``gateway.officer_auth`` is off."""
    if not config.gateway.officer_auth:
        return None
    return GrpcGate(OfficerStore(client, config.namespace, config.gateway.officer_session_s))


def officer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """gRPC call metadata for a session token ("" for none)."""
    return (("authorization", f"Bearer {token}"),) if token else ()


class OfficerStub:
    """A generated gRPC stub whose every call carries an officer's session token in its metadata (what
    ``smartcustoms search`` and ``smartcustoms evidence`` send, from ``SMARTCUSTOMS_OFFICER_TOKEN``)."""

    def __init__(self, stub: Any, token: str) -> None:
        self._stub = stub
        self._metadata = officer_metadata(token)

    def __getattr__(self, method: str) -> Callable[..., Any]:
        return functools.partial(getattr(self._stub, method), metadata=self._metadata)
