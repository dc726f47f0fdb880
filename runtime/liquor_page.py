"""The liquor duty page: ``/liquor`` beside the alert review page, in the gateway's review web app, its
JSON API over the ``LiquorDesk``, and the printable receipt a traveller is given
(``/liquor/receipt/<id>``). Errors come back as 400 / 404 / 409 / 503 with one line of text.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Awaitable
from decimal import Decimal
from importlib import resources
from string import Template
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from smartcustoms.core.duty import DutyError
from smartcustoms.runtime.ledger import Ledger
from smartcustoms.runtime.liquor_desk import (
    CONFIRMED,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    OVERRIDE_REASONS,
    Assessment,
    AssessmentExists,
    AssessmentNotFound,
    AssessmentStateError,
    Bottle,
    LiquorDesk,
)

DESK_ERRORS = (AssessmentNotFound, AssessmentExists, AssessmentStateError, ValueError, RedisError)
_HTTP_STATUS: tuple[tuple[type[Exception], type[web.HTTPException]], ...] = (
    (AssessmentNotFound, web.HTTPNotFound),
    (AssessmentExists, web.HTTPConflict),
    (AssessmentStateError, web.HTTPConflict),
    (ValueError, web.HTTPBadRequest),  # DutyError too
    (RedisError, web.HTTPServiceUnavailable),
)


def assessment_json(assessment: Assessment) -> dict[str, Any]:
    """An assessment as the page reads it: the stored document, with each bottle's pending reason."""
    shown = dataclasses.asdict(assessment)
    for bottle, document in zip(assessment.bottles, shown["bottles"], strict=True):
        document["pending"] = bottle.pending
        document["recognised_catalogue_id"] = bottle.recognised_catalogue_id
    return shown


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the request body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise web.HTTPBadRequest(text=f"{name} must be a string")
    return str(value)


def _strings(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise web.HTTPBadRequest(text=f"{name} must be a list of strings")
    return value


def manual_bottle(body: dict[str, Any]) -> Bottle:
    """A bottle entered by hand, from the page's form."""
    pack = body.get("pack", 1)
    if isinstance(pack, bool) or not isinstance(pack, int | str):
        raise web.HTTPBadRequest(text="pack must be a whole number of bottles")
    try:
        bottles = int(pack or 1)
    except ValueError:
        raise web.HTTPBadRequest(text=f"pack must be a whole number of bottles, got {pack!r}") from None
    return Bottle(
        bottle_id="",
        source="manual",
        description=_text(body, "description").strip(),
        abv_percent=_text(body, "abv_percent").strip(),
        volume_ml=_text(body, "volume_ml").strip(),
        value=_text(body, "value").strip(),
        currency=(_text(body, "currency").strip() or "HKD").upper(),
        pack=bottles,
        category="wine" if body.get("wine") is True else _text(body, "category").strip(),
    )


def add_routes(app: web.Application, desk: LiquorDesk, ledger: Ledger) -> None:
    """The liquor page (``/liquor``), its JSON API and the receipts."""
    routes = web.RouteTableDef()
    page = resources.files("smartcustoms.runtime").joinpath("liquor.html").read_text()

    async def answer(work: Awaitable[Assessment]) -> web.Response:
        try:
            return web.json_response(assessment_json(await work))
        except DESK_ERRORS as error:
            status = next(status for kind, status in _HTTP_STATUS if isinstance(error, kind))
            raise status(text=" ".join(str(error).split())) from None

    @routes.get("/liquor")
    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    @routes.get("/liquor/receipt/{assessment_id}")
    async def receipt(request: web.Request) -> web.Response:
        try:
            assessment = await desk.get(request.match_info["assessment_id"])
        except AssessmentNotFound as error:
            raise web.HTTPNotFound(text=str(error)) from None
        if assessment.status != CONFIRMED:
            raise web.HTTPConflict(
                text=f"assessment {assessment.assessment_id} is not confirmed yet: no receipt before it is"
            )
        return web.Response(text=receipt_html(assessment), content_type="text/html")

    @routes.get("/api/liquor/travellers")
    async def travellers(request: web.Request) -> web.Response:
        return web.json_response(await desk.waiting(await ledger.alerts(_limit(request, 200))))

    @routes.get("/api/liquor/rates")
    async def rates(request: web.Request) -> web.Response:
        try:
            table = await desk.rates()
        except DutyError as error:
            raise web.HTTPServiceUnavailable(text=f"the stored rate table is unusable: {error}") from None
        return web.json_response({"source": table.source, "rates": table.rows()})

    @routes.get("/api/liquor/overrides")
    async def overrides(request: web.Request) -> web.Response:
        counts = await desk.override_counts()
        shown = [{"catalogue_id": c, "reason": r, "count": n} for (c, r), n in counts.items()]
        return web.json_response(sorted(shown, key=lambda o: (-o["count"], o["catalogue_id"], o["reason"])))

    @routes.get("/api/liquor/reasons")
    async def reasons(request: web.Request) -> web.Response:
        return web.json_response(OVERRIDE_REASONS)

    @routes.get("/api/liquor/assessments")
    async def listing(request: web.Request) -> web.Response:
        found = await desk.assessments(request.query.get("traveller", ""), _limit(request, DEFAULT_LIMIT))
        return web.json_response([assessment_json(a) for a in found])

    @routes.get("/api/liquor/assessments/{assessment_id}")
    async def show(request: web.Request) -> web.Response:
        return await answer(desk.get(request.match_info["assessment_id"]))

    @routes.post("/api/liquor/assessments")
    async def open_assessment(request: web.Request) -> web.Response:
        body = await _json_body(request)
        return await answer(
            desk.open(
                _text(body, "traveller_id"),
                _text(body, "officer"),
                _strings(body, "frame_ids"),
                _text(body, "control_point"),
            )
        )

    def _id(request: web.Request) -> str:
        return request.match_info["assessment_id"]

    @routes.post("/api/liquor/assessments/{assessment_id}/frames")
    async def frames(request: web.Request) -> web.Response:
        body = await _json_body(request)
        return await answer(
            desk.add_frames(_id(request), _strings(body, "frame_ids"), _text(body, "officer"))
        )

    @routes.post("/api/liquor/assessments/{assessment_id}/bottles")
    async def bottles(request: web.Request) -> web.Response:
        body = await _json_body(request)
        return await answer(desk.add_bottle(_id(request), manual_bottle(body), _text(body, "officer")))

    @routes.post("/api/liquor/assessments/{assessment_id}/bottles/{bottle_id}/check")
    async def check(request: web.Request) -> web.Response:
        body = await _json_body(request)
        return await answer(
            desk.check_bottle(_id(request), request.match_info["bottle_id"], _text(body, "officer"))
        )

    @routes.post("/api/liquor/assessments/{assessment_id}/bottles/{bottle_id}/override")
    async def override(request: web.Request) -> web.Response:
        body = await _json_body(request)
        changes = body.get("changes", {})
        if not isinstance(changes, dict):
            raise web.HTTPBadRequest(text="changes must be an object of the bottle's facts")
        return await answer(
            desk.override_bottle(
                _id(request),
                request.match_info["bottle_id"],
                changes,
                _text(body, "reason"),
                _text(body, "note"),
                _text(body, "officer"),
            )
        )

    @routes.post("/api/liquor/assessments/{assessment_id}/allowance")
    async def allowance(request: web.Request) -> web.Response:
        body = await _json_body(request)
        eligible = body.get("eligible")
        if not isinstance(eligible, bool):
            raise web.HTTPBadRequest(text="eligible must be true or false")
        return await answer(
            desk.set_allowance(_id(request), eligible, _text(body, "note"), _text(body, "officer"))
        )

    @routes.post("/api/liquor/assessments/{assessment_id}/confirm")
    async def confirm(request: web.Request) -> web.Response:
        body = await _json_body(request)
        return await answer(desk.confirm(_id(request), _text(body, "note"), _text(body, "officer")))

    app.add_routes(routes)


def _limit(request: web.Request, default: int) -> int:
    try:
        return max(1, min(int(request.query.get("limit", default)), MAX_LIMIT))
    except ValueError:
        raise web.HTTPBadRequest(text="limit must be a whole number") from None


# --------------------------------------------------------------------------- the receipt

_RECEIPT = Template(resources.files("smartcustoms.runtime").joinpath("liquor_receipt.html").read_text())


def _e(value: object) -> str:
    return html.escape(str(value))


def _hkd(amount: object) -> str:
    return f"{Decimal(str(amount)):,.2f}" if amount not in (None, "") else "-"


def receipt_html(assessment: Assessment) -> str:
    """The printable receipt of a confirmed assessment: each bottle's duty and how it was worked out,
    the allowance, the total, the exchange rates and their dates."""
    duty = assessment.duty
    rows = [_receipt_row(b, duty["bottles"].get(b.bottle_id)) for b in assessment.bottles]
    rates = "; ".join(
        f"{_e(r['currency'])} {_e(r['hkd_per_unit'])} HKD ({_e(r['date'])})" for r in duty["rates"]
    )
    allowance = (
        f"{_e(duty['allowance_used_litres'])} of {_e(duty['allowance_offered_litres'])} litre, taken from "
        f"{_e(', '.join(duty['allowance_order']) or '-')} (highest duty per litre first)"
        if assessment.allowance_eligible
        else f"none: {_e(assessment.allowance_note)}"
    )
    return _RECEIPT.substitute(
        assessment_id=_e(assessment.assessment_id),
        traveller_id=_e(assessment.traveller_id),
        control_point=_e(assessment.control_point or "-"),
        confirmed_by=_e(assessment.confirmed_by),
        confirmed_at=_e(assessment.confirmed_at),
        confirm_note=f" · {_e(assessment.confirm_note)}" if assessment.confirm_note else "",
        rows="\n".join(rows),
        duty_before_allowance_hkd=_hkd(duty["duty_before_allowance_hkd"]),
        relief_hkd=_hkd(duty["relief_hkd"]),
        duty_hkd=_hkd(duty["duty_hkd"]),
        allowance=allowance,
        rates=rates or "none used (values in HKD)",
    )


def _receipt_row(bottle: Bottle, shown: dict[str, Any] | None) -> str:
    pack = f"{bottle.pack} x " if bottle.pack > 1 else ""
    what = f"{_e(bottle.description)}<div class='small'>{pack}{_e(bottle.volume_ml)} ml"
    what += f" · {_e(bottle.catalogue_id)}" if bottle.catalogue_id else " · entered by hand"
    if bottle.overrides:
        last = bottle.overrides[-1]
        what += f" · corrected by {_e(last.officer)} ({_e(last.reason)})"
    if shown is None:
        why = "left out" if bottle.excluded else "not assessed"
        return f"<tr><td>{_e(bottle.bottle_id)}</td><td>{what}</div></td><td colspan='10'>{why}</td></tr>"
    value = _hkd(shown["value_hkd"]) if shown["value_hkd"] else "no value"
    if shown["currency"] != "HKD" and shown["value"]:
        value += f"<div class='small'>{_e(shown['currency'])} {_e(shown['value'])}</div>"
    cells = [
        _e(shown["abv_percent"]),
        _e(shown["litres"]),
        value,
        _hkd(shown["value_per_litre_hkd"]),
        _hkd(shown["full_rate_duty_hkd"]),
        _hkd(shown["upper_rate_duty_hkd"]),
        _hkd(shown["duty_per_litre_hkd"]),
        _hkd(shown["duty_hkd"]),
        _e(shown["allowance_litres"]),
        _hkd(shown["payable_hkd"]),
    ]
    numbers = "".join(f"<td class='n'>{c}</td>" for c in cells)
    row = f"<td>{_e(bottle.bottle_id)}</td><td>{what}</div></td>{numbers}"
    return f"<tr data-bottle='{_e(bottle.bottle_id)}'>{row}</tr>"
