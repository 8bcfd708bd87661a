"""The web console in a real browser against the real stack: sign in, fleet map, commanding.

The operator and the local runner fly the examples in a namespace of this module; the command API
(`mpcs api serve`, as the operator's Deployment describes it) serves the console built by the
bootstrap's `console` tool from `console/dist`. Playwright (Python) drives Debian's
`chromium-headless-shell` (the bootstrap's `chromium` tool) through `executable_path`: it
downloads no browser. Each test checks that the page logged no error and that axe-core (npm, in
`console/node_modules`) finds no serious or critical accessibility violation; screenshots of
every view go to `build/console-e2e/` (gitignored).
"""

from __future__ import annotations

import base64
import copy
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from utils.kube import Custom, eventually, examples, temporary_namespace

from mpcs.core.telemetry import CHANNELS
from mpcs.dev.runner import LocalRunner
from mpcs.dev.tools import binary

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "console" / "node_modules" / "axe-core" / "axe.min.js"
DIST = REPO / "console" / "dist" / "index.html"
SHOTS = REPO / "build" / "console-e2e"
SATELLITES = ("firewatch-1", "firewatch-2", "firewatch-3")
STATIONS = ("inuvik", "svalbard")


@dataclass
class Mission:
    base: str
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def mission(kube_client: ApiClient, runner: LocalRunner) -> Iterator[Mission]:
    """The examples flying in a namespace of this module, telemetry every second. The example
    plan starts at a later Svalbard pass and commands firewatch-1 only; the commanding tests use
    the other two satellites."""
    assert DIST.is_file(), f"{DIST} is missing: the bootstrap's console tool builds it"
    assert AXE.is_file(), f"{AXE} is missing: `npm ci` in console/ installs it"
    with temporary_namespace(kube_client, f"t-console-{uuid.uuid4().hex[:6]}") as namespace:
        custom = Custom(kube_client, namespace)
        for obj in examples():
            obj = copy.deepcopy(obj)
            if obj["kind"] == "Satellite":
                obj["spec"]["telemetryIntervalSeconds"] = 1
            custom.create(obj)
        custom.wait_phase("missions", "wildfire", "Ready", timeout_s=90)
        secret = k8s.CoreV1Api(kube_client).read_namespaced_secret("wildfire-api-tokens", namespace)
        tokens = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
        key = f"{namespace}/wildfire-command-api/0"
        port = eventually(
            lambda: runner.endpoints().get(key, {}).get("http"),
            timeout_s=60,
            what="command API running",
        )
        base = f"http://127.0.0.1:{port}"
        viewer = {"Authorization": f"Bearer {tokens['viewer']}"}

        def flying() -> bool:
            try:
                fleet = httpx.get(f"{base}/api/v1/fleet", headers=viewer, timeout=5).json()
            except httpx.HTTPError:
                return False
            return all(m.get("mode") for m in fleet.get("data", [])) and fleet["count"] == 3

        eventually(flying, timeout_s=90, what="live telemetry of every satellite in the API")
        yield Mission(base=base, tokens=tokens)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(binary("chromium", "chromium-headless-shell")),
            args=["--no-sandbox"],  # the test runs as root in this sandbox
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Console:
    """A page of the console, with every error it logged."""

    page: Page
    base: str
    errors: list[str] = field(default_factory=list)
    #: Errors a step provokes on purpose (a 422 it shows), matched and then allowed.
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def sign_in(self, token: str) -> None:
        self.page.goto(f"{self.base}/")
        self.page.get_by_label("Bearer token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_test_id("role")).to_be_visible()

    def view(self, route: str) -> None:
        self.page.goto(f"{self.base}/#/{route}")

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def axe(self) -> list[dict[str, Any]]:
        """Serious or critical axe-core violations of the page as it is now."""
        self.page.add_script_tag(path=str(AXE))
        violations: list[dict[str, Any]] = self.page.evaluate(
            """async () => (await axe.run()).violations
                .filter(v => v.impact === "serious" || v.impact === "critical")
                .map(v => ({id: v.id, impact: v.impact,
                            nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}))"""
        )
        return violations

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.expected)]


@pytest.fixture
def console(browser: Browser, mission: Mission) -> Iterator[Console]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    opened = Console(page=page, base=mission.base)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            opened.errors.append(f"{message.text} ({message.location.get('url', '')})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: opened.errors.append(f"uncaught: {exc}"))
    try:
        yield opened
        assert opened.unexpected_errors() == [], "the page logged errors"
    finally:
        context.close()


def test_sign_in_shows_the_fleet_on_the_map(console: Console, mission: Mission) -> None:
    console.sign_in(mission.tokens["operator"])
    expect(console.page.get_by_test_id("role")).to_have_text("Signed in as operator")
    # The fleet table: every example satellite with its live mode.
    for sat in SATELLITES:
        expect(console.page.get_by_test_id(f"mode-{sat}")).to_have_text(
            re.compile(r"SAFE|NOMINAL|PAYLOAD|DOWNLINK")
        )
    # The map labels each satellite at its position and each station (with its ring).
    labels = console.page.locator(".leaflet-tooltip")
    for name in [*SATELLITES, *(f"{s} (station)" for s in STATIONS)]:
        expect(labels.filter(has_text=re.compile(f"^{re.escape(name)}$"))).to_have_count(1)
    expect(console.page.locator(".world-map path.leaflet-interactive")).not_to_have_count(0)
    # The pass timeline has a row per station with passes in the next 24 h.
    for station in STATIONS:
        passes = console.page.get_by_role("list", name=f"Passes over {station}")
        expect(passes.get_by_role("listitem").first).to_be_attached()
    console.shot("fleet")
    assert console.axe() == []


def test_set_mode_from_the_console_executes_and_shows_in_telemetry(
    console: Console, mission: Mission
) -> None:
    console.sign_in(mission.tokens["operator"])
    console.view("commands/firewatch-2")
    page = console.page
    page.get_by_label("Command", exact=True).select_option("SET_MODE")
    form = page.locator("#form-SET_MODE")
    form.get_by_label(re.compile("^mode")).select_option("SAFE")
    form.get_by_role("button", name="Send SET_MODE").click()
    # The newest row follows the command live: sent → accepted → executed.
    newest = page.locator("table.history tbody tr").first
    expect(newest).to_contain_text("SET_MODE")
    expect(newest.get_by_test_id("command-state")).to_have_text("executed", timeout=60_000)
    expect(newest).to_contain_text("accepted")
    console.shot("commands")
    assert console.axe() == []
    # The spacecraft's telemetry says so: the fleet table reads SAFE.
    console.view("fleet")
    expect(page.get_by_test_id("mode-firewatch-2")).to_have_text(
        re.compile("^SAFE"), timeout=30_000
    )
    # A bad argument: the API's 422 message is shown at its field.
    console.expected.append(re.compile(r"status of 422"))
    console.view("commands/firewatch-2")
    page.get_by_label("Command", exact=True).select_option("CAPTURE_IMAGE")
    capture = page.locator("#form-CAPTURE_IMAGE")
    count = capture.get_by_label(re.compile("^count"))
    count.fill("1000")
    capture.get_by_role("button", name="Send CAPTURE_IMAGE").click()
    expect(count).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#form-CAPTURE_IMAGE-count-error")).to_contain_text("1000")


def test_a_critical_command_needs_the_dialog(console: Console, mission: Mission) -> None:
    console.sign_in(mission.tokens["admin"])
    console.view("commands/firewatch-3")
    page = console.page
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.get_by_label("Command", exact=True).select_option("RESET_SUBSYSTEM")
    form = page.locator("#form-RESET_SUBSYSTEM")
    form.get_by_label(re.compile("^subsystem")).select_option("payload")
    form.get_by_role("button", name="Send RESET_SUBSYSTEM…").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("RESET_SUBSYSTEM to firewatch-3 with subsystem = payload")
    console.shot("critical-dialog")
    assert console.axe() == []
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert posts == [], "a critical command was sent without its confirmation"
    form.get_by_role("button", name="Send RESET_SUBSYSTEM…").click()
    page.get_by_role("button", name="Confirm and send RESET_SUBSYSTEM").click()
    newest = page.locator("table.history tbody tr").first
    expect(newest).to_contain_text("RESET_SUBSYSTEM")
    expect(newest.get_by_test_id("command-state")).to_have_text("executed", timeout=60_000)
    assert len(posts) == 1


def test_a_viewer_cannot_send(console: Console, mission: Mission) -> None:
    console.sign_in(mission.tokens["viewer"])
    expect(console.page.get_by_test_id("role")).to_have_text("Signed in as viewer")
    console.view("commands/firewatch-1")
    send = console.page.get_by_role("button", name="Send PING")
    expect(send).to_be_disabled()
    expect(send).to_have_accessible_description(
        "The viewer role may not send commands; it needs the operator role."
    )
    console.shot("viewer-commands")
    assert console.axe() == []


def test_satellite_plans_and_alerts_views(console: Console, mission: Mission) -> None:
    console.sign_in(mission.tokens["operator"])
    console.view("satellite/firewatch-1")
    page = console.page
    expect(page.get_by_test_id("stream-status")).to_contain_text("open")
    expect(page.get_by_test_id("stream-status")).not_to_contain_text(" 0 samples", timeout=15_000)
    expect(page.get_by_test_id("band-Mode")).to_have_text(re.compile("SAFE|NOMINAL|PAYLOAD"))
    # One plot per (subsystem, unit) of the catalogue's numeric channels (GET …/telemetry/channels).
    numeric = [c for c in CHANNELS if c.type in ("float", "int")]
    plots = {(c.subsystem, c.unit) for c in numeric}
    expect(page.locator(".plot canvas")).to_have_count(len(plots))
    expect(page.get_by_text("solar_power_w, load_power_w (W)", exact=True)).to_be_visible()
    expect(page.get_by_text("battery_soc_pct (%)", exact=True)).to_be_visible()
    # A subsystem folds: its plots are dropped.
    page.locator("details.subsystem > summary", has_text=re.compile("^payload$")).click()
    folded = {p for p in plots if p[0] != "payload"}
    expect(page.locator(".plot canvas")).to_have_count(len(folded))
    page.get_by_label("1 h").check()
    expect(page.get_by_text("loading history…")).to_have_count(0, timeout=20_000)
    console.shot("satellite")
    assert console.axe() == []
    console.view("plans")
    expect(page.get_by_role("heading", name="Command plans")).to_be_visible()
    plan = page.get_by_role("region", name=re.compile("^image-fire-front"))
    expect(plan.get_by_role("rowheader", name="payload-on")).to_be_visible()
    expect(plan.get_by_role("row", name=re.compile("payload-on PAYLOAD_ON"))).to_be_visible()
    console.shot("plans")
    assert console.axe() == []
    console.view("alerts")
    expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
    expect(page.get_by_text(re.compile(r"No firing alerts|Alerts \(firing\)"))).to_be_visible()
    console.shot("alerts")
    assert console.axe() == []


def test_docs_load_swagger_ui_from_the_service(console: Console, mission: Mission) -> None:
    """`/docs` needs no CDN: every script and style it loads comes from the API itself."""
    loaded: list[str] = []
    console.page.on("request", lambda r: loaded.append(r.url))
    console.page.goto(f"{mission.base}/docs")
    expect(console.page.locator(".swagger-ui .info .title")).to_contain_text("MPCS command API")
    assert loaded
    assert all(url.startswith(mission.base) for url in loaded), loaded
    console.shot("api-docs")
