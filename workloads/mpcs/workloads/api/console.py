"""The web console and the offline `/docs` page, served by the command API (`create_app` calls it).

The console (`console/` in the source tree, a React app built by `npm run build` into
`console/dist`) is static: `index.html` and hashed assets, mounted at `/` after every API route so
it never shadows one. The build also copies Swagger UI's own files (npm `swagger-ui-dist`) into
`swagger/`, which `/docs` loads instead of a CDN: an air-gapped ground network gets a working
`/docs`. Without a built console, `/` is a 404 and `/docs` loads Swagger UI from its CDN (what
FastAPI does by default), and the service says so in its log.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from ..settings import WorkloadSettings

log = logging.getLogger("mpcs.workloads.api")

#: Where `npm run build` puts the console in a source checkout (repo/console/dist).
SOURCE_TREE_DIST = Path(__file__).resolve().parents[4] / "console" / "dist"
#: Swagger UI's files inside the console build.
SWAGGER_DIR = "swagger"


def console_dir(settings: WorkloadSettings) -> Path | None:
    """The built console to serve: MPCS_CONSOLE_DIR, else the source tree's build, else None.

    A MPCS_CONSOLE_DIR without an `index.html` is a configuration error, said at start-up.
    """
    if settings.console_dir:
        path = Path(settings.console_dir)
        if not (path / "index.html").is_file():
            raise ValueError(
                f"MPCS_CONSOLE_DIR: {str(path)!r} holds no index.html "
                "(expected the output of `npm run build` in console/)"
            )
        return path
    if (SOURCE_TREE_DIST / "index.html").is_file():
        return SOURCE_TREE_DIST
    return None


def install_console(app: FastAPI, settings: WorkloadSettings) -> None:
    """Add `/docs` (local Swagger UI assets when present) and mount the console at `/`.

    Call after every router is included: the mount at `/` must come last.
    """
    root = console_dir(settings)
    swagger = root / SWAGGER_DIR if root is not None else None
    local = swagger is not None and (swagger / "swagger-ui-bundle.js").is_file()
    title = f"{app.title} — API docs"
    openapi_url = app.openapi_url or "/openapi.json"

    async def docs() -> HTMLResponse:
        if local:
            return get_swagger_ui_html(
                openapi_url=openapi_url,
                title=title,
                swagger_js_url=f"/{SWAGGER_DIR}/swagger-ui-bundle.js",
                swagger_css_url=f"/{SWAGGER_DIR}/swagger-ui.css",
                swagger_favicon_url=f"/{SWAGGER_DIR}/favicon-32x32.png",
            )
        return get_swagger_ui_html(openapi_url=openapi_url, title=title)

    app.add_api_route("/docs", docs, include_in_schema=False, response_class=HTMLResponse)
    if root is None:
        log.warning(
            "no built web console (run `npm ci && npm run build` in console/ or set "
            "MPCS_CONSOLE_DIR): / is not served and /docs loads Swagger UI from its CDN"
        )
        return
    app.mount("/", StaticFiles(directory=root, html=True), name="console")
