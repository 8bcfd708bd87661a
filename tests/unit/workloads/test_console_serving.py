"""The command API serves the built web console at `/` and `/docs` from local Swagger UI assets.

A folder standing in for `console/dist` (MPCS_CONSOLE_DIR) is enough: what matters is that the
API routes still win over the mount at `/`, and that `/docs` needs no CDN when the assets are there.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from api_fakes import VIEWER, auth, make_services, make_settings

from mpcs.workloads.api import create_app


def _dist(tmp_path: Path, *, swagger: bool = True) -> Path:
    (tmp_path / "index.html").write_text("<!doctype html><title>MPCS console</title>")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.js").write_text("console.log('hi')")
    if swagger:
        (tmp_path / "swagger").mkdir()
        (tmp_path / "swagger" / "swagger-ui-bundle.js").write_text("/* swagger */")
        (tmp_path / "swagger" / "swagger-ui.css").write_text("/* css */")
    return tmp_path


def _client(console_dir: Path) -> httpx.AsyncClient:
    services = make_services(make_settings(console_dir=str(console_dir)))
    app = create_app(services.settings, services=services)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


async def test_console_at_root_and_api_routes_still_answer(tmp_path: Path) -> None:
    async with _client(_dist(tmp_path)) as client:
        root = await client.get("/")
        assert root.status_code == 200
        assert "MPCS console" in root.text
        assert (await client.get("/assets/app.js")).text == "console.log('hi')"
        satellites = await client.get("/api/v1/satellites", headers=auth(VIEWER))
        assert satellites.json()["count"] == 1
        assert (await client.get("/api/v1/satellites")).status_code == 401
        missing = await client.get("/api/v1/nothing-here")
        assert missing.status_code == 404
        assert (await client.get("/openapi.json")).status_code == 200


async def test_docs_load_swagger_ui_from_the_service_not_a_cdn(tmp_path: Path) -> None:
    async with _client(_dist(tmp_path)) as client:
        docs = await client.get("/docs")
        assert docs.status_code == 200
        assert '"/swagger/swagger-ui-bundle.js"' in docs.text
        assert "cdn.jsdelivr.net" not in docs.text
        assert (await client.get("/swagger/swagger-ui.css")).status_code == 200


async def test_without_swagger_assets_docs_fall_back_to_the_cdn(tmp_path: Path) -> None:
    async with _client(_dist(tmp_path, swagger=False)) as client:
        docs = await client.get("/docs")
        assert docs.status_code == 200
        assert "cdn.jsdelivr.net" in docs.text


def test_a_console_dir_without_index_html_is_refused(tmp_path: Path) -> None:
    services = make_services(make_settings(console_dir=str(tmp_path)))
    with pytest.raises(ValueError, match=r"MPCS_CONSOLE_DIR: .* holds no index\.html"):
        create_app(services.settings, services=services)
