"""Error bodies: every error is JSON with a `detail` naming the field or argument at fault.

422s use FastAPI's shape for request validation (`detail` is a list of `{loc, msg, type}`), so a
client handles our own checks (bad channel, bad command argument) exactly like schema errors;
every other error carries a sentence in `detail`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

log = logging.getLogger("mpcs.workloads.api")


def field_error(
    loc: tuple[str | int, ...], message: str, value: Any = None
) -> RequestValidationError:
    """A 422 naming `loc` (e.g. `("body", "args", "mode")`) with a human message."""
    return RequestValidationError(
        [{"type": "value_error", "loc": loc, "msg": message, "input": value}]
    )


def install_error_handlers(app: FastAPI) -> None:
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            status_code=500,
            content={"detail": f"internal error ({type(exc).__name__}); see the service log"},
        )

    app.add_exception_handler(Exception, unexpected)
