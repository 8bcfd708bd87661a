"""Fixtures of the command API's unit tests: its services on in-memory adapters, and a client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from api_fakes import make_services

from mpcs.workloads.api import create_app
from mpcs.workloads.api.services import Services


@pytest.fixture
def services() -> Services:
    return make_services()


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services.settings, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        yield http
