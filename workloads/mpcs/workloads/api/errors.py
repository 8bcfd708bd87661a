"""Error bodies: every error is JSON with a `detail` naming the field or argument at fault.

422s use FastAPI's shape for request validation (`detail` is a list of `{loc, msg, type}`), so a
client handles our own checks (bad channel, bad command argument) exactly like schema errors;
every other error carries a sentence in `detail`. Every refusal (400, 401, 403, 413, 415, 422,
429) is audited on its way out through the app's guard (`security.Refusals`).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("mpcs.workloads.api")


def printable(value: Any) -> Any:
    """`value` with every string made encodable (lone surrogates become `\\udxxx` text),
    integers beyond 64 bits and non-finite floats made strings, so a hostile request can be echoed
    in an error, an audit event or a log line (strict JSON has no NaN or Infinity: Python's
    parser reads `NaN`, `Infinity` and `1e309`, which no JSON encoder may write back).

    >>> printable({"\\ud800": ["x\\udfff"]})
    {'\\\\ud800': ['x\\\\udfff']}
    >>> printable([float("nan"), float("-inf"), 1.5])
    ['NaN', '-Infinity', 1.5]
    """
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return str(value)  # JSON allows it; orjson and InfluxDB do not
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [printable(v) for v in value]
    return value


def field_error(
    loc: tuple[str | int, ...], message: str, value: Any = None
) -> RequestValidationError:
    """A 422 naming `loc` (e.g. `("body", "args", "mode")`) with a human message."""
    return RequestValidationError(
        [
            {
                "type": "value_error",
                "loc": printable(loc),
                "msg": printable(message),
                "input": printable(value),
            }
        ]
    )


#: Answers that are refusals, audited (`security.Refusals`) when the app has a guard.
AUDITED_STATUSES = frozenset({400, 401, 403, 413, 415, 422, 429})


def _audit(request: Request, status_code: int, detail: Any) -> None:
    guard = getattr(request.app.state, "guard", None)
    if guard is not None and status_code in AUDITED_STATUSES:
        guard.refusals.record(request.scope, status_code=status_code, detail=detail)


def install_error_handlers(app: FastAPI) -> None:
    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        # FastAPI's own handler, except that the echoed input goes through `printable`: its
        # encoder refuses NaN and Infinity, which turned a 422 for `NaN` into a 500.
        assert isinstance(exc, RequestValidationError)
        detail = printable(jsonable_encoder(exc.errors()))
        _audit(request, 422, detail)
        return JSONResponse(status_code=422, content={"detail": detail})

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        _audit(request, exc.status_code, exc.detail)
        return await http_exception_handler(request, exc)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            status_code=500,
            content={"detail": f"internal error ({type(exc).__name__}); see the service log"},
        )

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, refused)
    app.add_exception_handler(Exception, unexpected)
