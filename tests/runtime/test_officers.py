"""Officer accounts, sessions and the login in front of the gateway's pages, on a real Redis."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from smartcustoms.core.audit import audit_key
from smartcustoms.runtime.air_queue import QueueDesk
from smartcustoms.runtime.air_queue_page import add_routes as add_air_queue_routes
from smartcustoms.runtime.officer_auth import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, protect
from smartcustoms.runtime.officers import (
    MAX_FAILURES,
    LoginRefused,
    OfficerError,
    OfficerStore,
    initial_password_note,
)
from smartcustoms.runtime.services import EmbeddedRedis

PASSWORD = "correct horse battery"


def _run(redis_url: str, body: Callable[[OfficerStore], Awaitable[None]]) -> None:
    async def main() -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await body(OfficerStore(client, f"of{uuid.uuid4().hex[:8]}", session_s=60))
        finally:
            await client.aclose()

    asyncio.run(main())


def test_passwords_are_kept_as_salted_hashes_and_logins_open_sessions(redis_service: EmbeddedRedis) -> None:
    async def body(store: OfficerStore) -> None:
        await store.add("PO 4411", "screener", PASSWORD, by="test")
        await store.add("SPO 12", "supervisor", PASSWORD, by="test")
        stored = {k: v for k, v in (await store.client.hgetall(store.key("account", "PO 4411"))).items()}
        other = await store.client.hgetall(store.key("account", "SPO 12"))
        assert PASSWORD.encode() not in b"".join(stored.values())
        assert stored[b"salt"] != other[b"salt"] and stored[b"hash"] != other[b"hash"]  # same password
        assert stored[b"kdf"].startswith(b"scrypt:")
        with pytest.raises(LoginRefused):
            await store.login("PO 4411", "wrong password!!")
        with pytest.raises(LoginRefused):
            await store.login("nobody", PASSWORD)
        opened = await store.login("PO 4411", PASSWORD)
        session = await store.session(opened.token)
        assert session is not None and (session.name, session.account.role) == ("PO 4411", "screener")
        assert session.csrf and session.csrf != opened.token
        assert not session.account.may("supervisor") and session.account.may("screener")
        keys = [k async for k in store.client.scan_iter(match=store.key("session", "*"))]
        assert opened.token.encode() not in b"".join(keys)  # Redis holds only the token's digest
        assert await store.session("not-a-token") is None
        await store.set_password("PO 4411", "another long password", by="test")
        assert await store.session(opened.token) is None  # a new password ends the sessions
        again = await store.login("PO 4411", "another long password")
        await store.revoke("PO 4411", by="test")
        assert await store.session(again.token) is None
        with pytest.raises(LoginRefused):
            await store.login("PO 4411", "another long password")
        assert [(a.name, a.revoked) for a in await store.accounts()] == [("PO 4411", True), ("SPO 12", False)]
        trail = [
            e.split(b"\x1f")[0]
            for e in await store.client.lrange(audit_key(store.namespace, "pending"), 0, -1)
        ]
        assert trail.count(b"officer_login_refused") == 3 and b"officer_revoked" in trail

    _run(redis_service.url, body)


def test_bad_accounts_are_refused_and_repeated_failures_lock_logins(redis_service: EmbeddedRedis) -> None:
    async def body(store: OfficerStore) -> None:
        for name, role, password in (
            ("", "screener", PASSWORD),
            (" padded", "screener", PASSWORD),
            ("x" * 65, "screener", PASSWORD),
            ("ok", "chief", PASSWORD),
            ("ok", "screener", "short"),
        ):
            with pytest.raises(OfficerError):
                await store.add(name, role, password, by="test")
        await store.add("ok", "operator", PASSWORD, by="test")
        with pytest.raises(OfficerError, match="exists"):
            await store.add("ok", "screener", PASSWORD, by="test")
        for _ in range(MAX_FAILURES):
            with pytest.raises(LoginRefused):
                await store.login("ok", "guessing wrong")
        with pytest.raises(LoginRefused):
            await store.login("ok", PASSWORD)  # locked for the window, even with the right password

    _run(redis_service.url, body)


def test_the_initial_operator_is_made_once_and_shown_once(
    redis_service: EmbeddedRedis, tmp_path: Path
) -> None:
    async def body(store: OfficerStore) -> None:
        path = await store.ensure_initial_operator(str(tmp_path))
        assert path is not None and path.stat().st_mode & 0o777 == 0o600
        assert await store.ensure_initial_operator(str(tmp_path)) is None
        password = path.read_text().split()[1]
        note = initial_password_note(str(tmp_path))
        assert note is not None and password in note and not path.exists()
        assert initial_password_note(str(tmp_path)) is None
        assert (await store.login("operator", password)).session.account.role == "operator"

    _run(redis_service.url, body)


async def _app(store: OfficerStore) -> web.Application:
    """Officer routes that echo what they get, a page, and the air cargo queue (public and not)."""
    routes = web.RouteTableDef()

    @routes.get("/")
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html><head></head><body>review</body></html>", content_type="text/html")

    @routes.get("/api/alerts")
    async def alerts(request: web.Request) -> web.Response:
        return web.json_response([])

    @routes.post("/api/alerts/{frame_id}/adjudication")
    async def decide(request: web.Request) -> web.Response:
        return web.json_response(await request.json())

    app = web.Application()
    app.add_routes(routes)
    add_air_queue_routes(app, QueueDesk(store.client, store.namespace))
    protect(app, store)
    return app


def _web(redis_url: str, body: Callable[[OfficerStore, TestClient], Awaitable[None]]) -> None:
    async def with_client(store: OfficerStore) -> None:
        await store.add("PO 4411", "screener", PASSWORD, by="test")
        await store.add("root", "operator", PASSWORD, by="test")
        async with TestClient(TestServer(await _app(store))) as http:
            await body(store, http)

    _run(redis_url, with_client)


async def _login(http: TestClient, name: str) -> str:
    reply = await http.post("/login", json={"name": name, "password": PASSWORD})
    assert reply.status == 200, await reply.text()
    assert "token" not in await reply.json()  # a browser's token stays in its HttpOnly cookie
    session, csrf = sorted(reply.headers.getall("Set-Cookie"), key=lambda c: not c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in session and "SameSite=Strict" in session and "HttpOnly" not in csrf
    return http.session.cookie_jar.filter_cookies(http.make_url("/"))[CSRF_COOKIE].value


def test_officer_routes_need_a_session_and_public_ones_do_not(redis_service: EmbeddedRedis) -> None:
    async def body(store: OfficerStore, http: TestClient) -> None:
        assert (await http.get("/api/alerts")).status == 401
        page = await http.get("/", allow_redirects=False)
        assert (page.status, page.headers["Location"]) == (302, "/login")
        queue = await http.get("/queue/officer", allow_redirects=False)
        assert queue.headers["Location"] == "/login?next=/queue/officer"
        decide = await http.post(
            "/api/alerts/bag-1/adjudication", json={"outcome": "confirmed", "officer": "x"}
        )
        assert decide.status == 401  # an unauthenticated adjudication
        assert (await http.get("/queue")).status == 200  # the drivers' page
        assert (await http.get("/api/queue/board")).status == 200
        taken = await http.post("/api/queue/tickets", json={"cargo_type": "general", "travel_min": 5})
        assert taken.status == 200
        assert (await http.post("/api/queue/counters/c1/open", json={"officer": "x"})).status == 401
        assert (await http.get("/login")).status == 200
        wrong = await http.post("/login", json={"name": "PO 4411", "password": "not the password"})
        assert wrong.status == 401 and "wrong name or password" in (await wrong.json())["error"]
        assert (
            await http.post("/login", data="name=PO 4411", headers={"Content-Type": "text/plain"})
        ).status == 415
        await _login(http, "PO 4411")
        assert (await http.get("/api/alerts")).status == 200
        shown = await (await http.get("/")).text()
        assert (
            'window.SC_OFFICER = {"name": "PO 4411", "role": "screener"}' in shown and "X-CSRF-Token" in shown
        )
        assert (await http.post("/logout", json={}, headers={CSRF_HEADER: "x"})).status == 403
        csrf = http.session.cookie_jar.filter_cookies(http.make_url("/"))[CSRF_COOKIE].value
        assert (await http.post("/logout", json={}, headers={CSRF_HEADER: csrf})).status == 200
        assert (await http.get("/api/alerts")).status == 401

    _web(redis_service.url, body)


def test_writes_take_json_with_the_csrf_token_and_record_the_officer_logged_in(
    redis_service: EmbeddedRedis,
) -> None:
    async def body(store: OfficerStore, http: TestClient) -> None:
        csrf = await _login(http, "PO 4411")
        url = "/api/alerts/bag-1/adjudication"
        typed = {"outcome": "confirmed", "officer": "Chief Inspector Wong"}
        cross_site = await http.post(
            url, data='{"outcome": "cleared"}', headers={"Content-Type": "text/plain"}
        )
        assert cross_site.status == 415
        assert (await http.post(url, json=typed)).status == 403  # no CSRF token
        assert (await http.post(url, json=typed, headers={CSRF_HEADER: "guessed"})).status == 403
        decided = await http.post(url, json=typed, headers={CSRF_HEADER: csrf})
        assert decided.status == 200 and (await decided.json())["officer"] == "PO 4411"
        pair = {"officers": ["SO Wong", "PO 9"], "reason": "court"}  # a two-person order: the first acts
        ordered = await (await http.post(url, json=pair, headers={CSRF_HEADER: csrf})).json()
        assert ordered == {"officers": ["PO 4411", "PO 9"], "reason": "court"}
        untouched = await (await http.post(url, json={"outcome": "x"}, headers={CSRF_HEADER: csrf})).json()
        assert untouched == {"outcome": "x"}  # no officer named, none added
        # the counters record the officer logged in too; closing the terminal is a supervisor's
        opened = await http.post(
            "/api/queue/counters/c1/open", json={"officer": "SO Wong"}, headers={CSRF_HEADER: csrf}
        )
        assert opened.status == 200, await opened.text()
        trail = b"".join(await store.client.lrange(audit_key(store.namespace, "pending"), 0, -1))
        assert b'"officer":"PO 4411"' in trail and b"SO Wong" not in trail
        terminal = await http.post("/api/queue/terminal", json={"open": False}, headers={CSRF_HEADER: csrf})
        assert terminal.status == 403 and "supervisor" in await terminal.text()
        # an operator's action, by a screener
        assert (await http.get("/api/officers")).status == 403
        added = {"name": "new", "role": "operator", "password": PASSWORD}
        assert (await http.post("/api/officers", json=added, headers={CSRF_HEADER: csrf})).status == 403
        # a script with a bearer token: no cookie, so no CSRF token needed
        login = await http.post("/login", json={"name": "root", "password": PASSWORD, "bearer": True})
        bearer = {"Authorization": f"Bearer {(await login.json())['token']}"}
        http.session.cookie_jar.clear()
        assert (await http.post("/api/officers", json=added, headers=bearer)).status == 201
        listed = await (await http.get("/api/officers", headers=bearer)).json()
        assert [(a["name"], a["role"]) for a in listed] == [
            ("PO 4411", "screener"),
            ("new", "operator"),
            ("root", "operator"),
        ]
        assert (await http.post("/api/officers/new/revoke", json={}, headers=bearer)).status == 200
        assert (await http.get("/api/alerts", headers={"Authorization": "Bearer nonsense"})).status == 401

    _web(redis_service.url, body)


def test_the_officers_command_manages_accounts_and_prints_a_login_token(
    redis_service: EmbeddedRedis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from smartcustoms.core import config as config_module
    from smartcustoms.runtime.cli import main
    from smartcustoms.runtime.officers_cli import demo_accounts

    namespace = f"oc{uuid.uuid4().hex[:8]}"
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps({"namespace": namespace, "redis": {"url": redis_service.url}}))

    def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        with pytest.raises(SystemExit) as exited:
            main(["--config", str(config_path), "officers", *argv])
        out, err = capsys.readouterr()
        return int(exited.value.code or 0), out, err

    code, out, _ = run("add", "PO 4411", "--role", "screener")
    password = out.split("password ")[1].strip()
    assert code == 0 and len(password) >= 12
    assert run("add", "SPO 12", "--role", "supervisor", "--password-stdin", stdin=f"{PASSWORD}\n")[0] == 0
    assert run("add", "PO 4411", "--role", "screener")[:1] == (1,)
    assert run("login", "SPO 12", "--password-stdin", stdin=f"{PASSWORD}\n")[1].strip()
    refused = run("login", "SPO 12", "--password-stdin", stdin="wrong password here\n")
    assert refused[0] == 1 and "wrong name or password" in refused[2]
    assert run("role", "PO 4411", "supervisor")[0] == 0
    assert run("revoke", "PO 4411")[0] == 0
    listed = run("list")[1].splitlines()
    assert [line.split()[:3] for line in listed] == [
        ["PO", "4411", "supervisor"],
        ["SPO", "12", "supervisor"],
    ]
    assert listed[0].endswith("revoked") and not listed[1].endswith("revoked")
    config = config_module.load(config_path)
    config.run_dir = str(tmp_path / "run")
    first, second = demo_accounts(config), demo_accounts(config)  # a rerun gets a fresh password
    assert "'demo' (supervisor)" in first.lines and first.lines != second.lines
    assert first.token and second.token and first.token != second.token  # each run logs in
