"""The wallboard in headless Chromium, against a real `kolejka serve`, checked in the DOM.

Playwright drives the Debian `chromium` (never a browser of its own). Where it is missing the
tests skip locally and fail in CI, which installs it (.ci/run).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kolejka.bootstrap import build
from kolejka.domain.agents import Membership
from kolejka.domain.queues import Queue
from kolejka.services.wallboard_tokens import WallboardTokens
from kolejka.settings import Settings
from tests.agents.support import ANOWAK, JKOWALSKI, pause_id, put_live
from tests.factories import add_company, add_person
from tests.support import FAST_HASHER, LiveServer, basic, unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ADMIN = ("admin", "admin-secret")
SEEN = 8000  # ms: how long the page may take to show a change


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        unavailable(f"Chromium ({CHROMIUM})")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python")
        raise
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Board:
    """A running server with two queues, a CRM, an admin and a wallboard token."""

    server: LiveServer
    token: str

    def url(self, query: str = "") -> str:
        return f"{self.server.url}/wallboard?token={self.token}{query}"

    def post(self, path: str, body: object) -> int:
        sent = urllib.request.Request(
            f"{self.server.url}{path}", data=json.dumps(body).encode(), method="POST"
        )
        sent.add_header("Authorization", basic(*ADMIN))
        sent.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(sent, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return error.code

    def join(self, call_id: str, phone_number: str, queue_id: int = 2, waited: int = 0) -> None:
        body = {"call_id": call_id, "phone_number": phone_number, "waited": waited}
        assert self.post(f"/api/queues/{queue_id}/callers", body) == 201

    def leave(self, call_id: str, queue_id: int = 2) -> None:
        path = f"/api/queues/{queue_id}/callers/{call_id}/leave"
        assert self.post(path, {"outcome": "answered"}) == 200


def prepare(database: Path) -> str:
    """Queues, customers and users, written as an operator would before starting the server."""
    # Playwright's synchronous API keeps an event loop running on this thread.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(_prepare, database).result()


def _prepare(database: Path) -> str:
    components = build(Settings(database_url=f"sqlite:///{database}"), hasher=FAST_HASHER)

    async def setup() -> str:
        await components.queues.put(Queue(1, "Sprzedaż"))
        await components.queues.put(Queue(2, "Obsługa klienta"))
        await components.api_users.add(*ADMIN, ["*"])
        crm = components.crm
        await add_person(crm, "Jan", "Kowalski", "746842523")
        await add_person(crm, "Piotr", "Zieliński", "+48 602 300 400")
        await add_company(crm, "Zieliński Transport", "0048 602 300 400")
        await add_person(crm, "<img src=x onerror=window.pwned=1>", "Nowak", "+48 601 100 200")
        return await WallboardTokens(components.api_users).create("hall")

    try:
        token = asyncio.run(setup())
    finally:
        components.close()
    return token


@pytest.fixture
def board(database_path: Path) -> Iterator[Board]:
    token = prepare(database_path)
    server = LiveServer(database_path).start()
    yield Board(server, token)
    server.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1600, "height": 900}, locale="en-GB")
    opened = context.new_page()
    yield opened
    context.close()


def caller_row(page: Any, phone_number: str, queue_id: int = 2) -> Any:
    return page.locator(f'.tile[data-queue-id="{queue_id}"] tr.caller[data-phone="{phone_number}"]')


def seconds(shown: str) -> int:
    minutes, _, rest = shown.partition(":")
    return int(minutes) * 60 + int(rest)


def expect() -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def test_a_caller_who_joins_appears_without_a_reload(board: Board, page: Any) -> None:
    page.goto(board.url())
    expect()(page.locator(".tile")).to_have_count(2, timeout=SEEN)
    page.evaluate("window.sameDocument = true")
    board.join("c1", "613459851")
    expect()(caller_row(page, "613459851")).to_have_count(1, timeout=SEEN)
    tile = page.locator('.tile[data-queue-id="2"]')
    expect()(tile.locator(".in-queue")).to_have_text("1")
    assert page.evaluate("window.sameDocument") is True


def test_a_caller_who_leaves_disappears(board: Board, page: Any) -> None:
    board.join("c1", "613459851")
    board.join("c2", "840526437")
    page.goto(board.url())
    expect()(caller_row(page, "840526437")).to_have_count(1, timeout=SEEN)
    board.leave("c1")
    expect()(caller_row(page, "613459851")).to_have_count(0, timeout=SEEN)
    expect()(caller_row(page, "840526437")).to_have_count(1)
    expect()(page.locator('.tile[data-queue-id="2"] .in-queue')).to_have_text("1")


def test_the_label_shows_for_a_unique_crm_match_and_not_for_a_shared_number(
    board: Board, page: Any
) -> None:
    page.goto(board.url())
    board.join("c1", "746842523")
    board.join("c2", "602300400")  # a person and a company share it
    expect()(caller_row(page, "746842523").locator(".label")).to_have_text(
        "Jan Kowalski", timeout=SEEN
    )
    expect()(caller_row(page, "602300400").locator(".label")).to_have_text("—", timeout=SEEN)


def test_a_customer_label_is_shown_as_text_never_as_markup(board: Board, page: Any) -> None:
    page.goto(board.url())
    board.join("c1", "601100200")
    label = caller_row(page, "601100200").locator(".label")
    expect()(label).to_have_text("<img src=x onerror=window.pwned=1> Nowak", timeout=SEEN)
    assert page.locator(".tile img").count() == 0
    assert page.evaluate("window.pwned") is None


def test_the_page_recovers_after_the_server_restarts(board: Board, page: Any) -> None:
    page.goto(board.url())
    status = page.locator("#status")
    expect()(status).to_have_attribute("data-state", "live", timeout=SEEN)
    board.server.stop()
    expect()(status).not_to_have_attribute("data-state", "live", timeout=SEEN)
    board.server.start()
    board.join("c1", "613459851")
    expect()(caller_row(page, "613459851")).to_have_count(1, timeout=3 * SEEN)
    expect()(status).to_have_attribute("data-state", "live")


def test_waits_tick_every_second_and_a_long_wait_turns_the_tile_red(
    board: Board, page: Any
) -> None:
    board.join("c1", "613459851", waited=200)
    page.goto(board.url())
    longest = page.locator('.tile[data-queue-id="2"] .longest-wait')
    expect()(longest).to_have_text(re.compile(r"^3:[23]\d$"), timeout=SEEN)
    first = seconds(longest.inner_text())
    expect()(longest).to_have_text(f"{(first + 2) // 60}:{(first + 2) % 60:02d}", timeout=4000)
    expect()(page.locator('.tile[data-queue-id="2"]')).to_have_class("tile alert")
    expect()(page.locator('.tile[data-queue-id="1"]')).to_have_class("tile idle")


def test_the_expected_wait_comes_from_waiting_stats(board: Board, page: Any) -> None:
    board.join("c1", "613459851", waited=90)
    board.leave("c1")  # answered after 90 s: the only hold time of the last hour
    page.goto(board.url())
    approx = page.locator('.tile[data-queue-id="2"] .approx-wait')
    expect()(approx).to_have_text("1:30", timeout=SEEN)


def test_the_page_speaks_polish_when_asked_and_switches_to_english(board: Board, page: Any) -> None:
    board.join("c1", "")
    page.goto(board.url("&lang=pl"))
    expect()(page.locator("h1")).to_have_text("Oczekujący", timeout=SEEN)
    expect()(page.locator(".phone.withheld")).to_have_text("Numer zastrzeżony", timeout=SEEN)
    assert page.locator("html").get_attribute("lang") == "pl"
    page.locator('button[data-lang="en"]').click()
    expect()(page.locator("h1")).to_have_text("Waiting callers")
    expect()(page.locator(".phone.withheld")).to_have_text("Number withheld")


def test_the_browser_language_is_followed_without_a_choice(board: Board, browser: Any) -> None:
    context = browser.new_context(locale="pl-PL")
    try:
        polish = context.new_page()
        polish.goto(board.url())
        expect()(polish.locator("h1")).to_have_text("Oczekujący", timeout=SEEN)
    finally:
        context.close()


def test_an_api_user_signs_in_with_the_browsers_own_prompt(board: Board, browser: Any) -> None:
    signed_in = browser.new_context(http_credentials={"username": ADMIN[0], "password": ADMIN[1]})
    try:
        page = signed_in.new_page()
        page.goto(f"{board.server.url}/wallboard")
        expect()(page.locator(".tile")).to_have_count(2, timeout=SEEN)
        expect()(page.locator("#status")).to_have_attribute("data-state", "live")
    finally:
        signed_in.close()


def test_without_credentials_the_page_asks_for_them(board: Board) -> None:
    # Headless Chromium cannot show the sign-in prompt, so this one is read without it.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{board.server.url}/wallboard", timeout=10)
    assert refused.value.code == 401
    assert refused.value.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert refused.value.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b"The wallboard is not available" in refused.value.read()
    refused.value.close()


def test_a_wrong_token_shows_a_page_that_says_so(board: Board, page: Any) -> None:
    answer = page.goto(f"{board.server.url}/wallboard?token=hall.{'x' * 43}")
    assert answer.status == 401
    expect()(page.locator("h1")).to_have_text("The wallboard is not available")
    expect()(page.locator("p")).to_have_text("The wallboard token is wrong or was revoked.")


def test_a_phone_shows_the_board_without_sideways_scrolling(board: Board, browser: Any) -> None:
    board.join("c1", "+4915110000001")
    board.join("c2", "746842523")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        phone = context.new_page()
        phone.goto(board.url())
        expect()(caller_row(phone, "746842523")).to_have_count(1, timeout=SEEN)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
    finally:
        context.close()


def agents_change(database: Path, paused_for: int = 0) -> None:
    """jkowalski free in queue 2; anowak paused ("Przerwa") `paused_for` s ago in queues 2 and 1,
    written to the database as following the PBX would write them."""
    with ThreadPoolExecutor(1) as thread:
        thread.submit(_agents_change, database, paused_for).result()


def _agents_change(database: Path, paused_for: int) -> None:
    from datetime import UTC, datetime, timedelta

    components = build(Settings(database_url=f"sqlite:///{database}"), hasher=FAST_HASHER)
    now = datetime.now(UTC)

    async def change() -> None:
        for agent in (JKOWALSKI, ANOWAK):
            if await components.agents.get(agent.login) is None:
                await components.agents.add(agent)
        await put_live(components, "jkowalski", (Membership(2),), now)
        przerwa = await pause_id(components, "Przerwa")
        paused = (Membership(1, True, przerwa), Membership(2, True, przerwa))
        await put_live(components, "anowak", paused, now - timedelta(seconds=paused_for))

    try:
        asyncio.run(change())
    finally:
        components.close()


def agent_item(page: Any, login: str, queue_id: int = 2) -> Any:
    return page.locator(f'.tile[data-queue-id="{queue_id}"] li.agent[data-login="{login}"]')


def test_each_queue_shows_its_agents_with_state_pause_and_time_in_state(
    board: Board, page: Any, database_path: Path
) -> None:
    page.goto(board.url())
    expect()(page.locator(".tile")).to_have_count(2, timeout=SEEN)
    expect()(page.locator('.tile[data-queue-id="2"] .no-agents')).to_be_visible()
    agents_change(database_path, paused_for=125)
    anowak = agent_item(page, "anowak")
    expect()(anowak).to_have_attribute("data-status", "PAUSED", timeout=SEEN)
    expect()(anowak.locator(".agent-name")).to_have_text("Anna Nowak")
    expect()(anowak.locator(".agent-state")).to_have_text("Paused · Przerwa")
    expect()(anowak.locator(".in-state")).to_have_text(re.compile(r"^2:0\d$"))
    first = seconds(anowak.locator(".in-state").inner_text())
    expect()(anowak.locator(".in-state")).to_have_text(
        f"{(first + 2) // 60}:{(first + 2) % 60:02d}", timeout=4000
    )
    jkowalski = agent_item(page, "jkowalski")
    expect()(jkowalski.locator(".agent-state")).to_have_text("Free")
    expect()(page.locator('.tile[data-queue-id="2"] .free-agents')).to_have_text("1/2 free")
    # Queue 1 lists only its own member.
    expect()(agent_item(page, "anowak", queue_id=1)).to_have_count(1)
    expect()(agent_item(page, "jkowalski", queue_id=1)).to_have_count(0)
    expect()(page.locator('.tile[data-queue-id="2"] .no-agents')).to_be_hidden()


def test_the_agents_speak_polish_too(board: Board, page: Any, database_path: Path) -> None:
    agents_change(database_path)
    page.goto(board.url("&lang=pl"))
    anowak = agent_item(page, "anowak")
    expect()(anowak.locator(".agent-state")).to_have_text("Przerwa · Przerwa", timeout=SEEN)
    expect()(agent_item(page, "jkowalski").locator(".agent-state")).to_have_text("Wolny")
    expect()(page.locator('.tile[data-queue-id="2"] .agents-title')).to_contain_text("Agenci")
    page.locator('button[data-lang="en"]').click()
    expect()(agent_item(page, "jkowalski").locator(".agent-state")).to_have_text("Free")


def test_each_queue_shows_its_abandoned_callers_in_its_own_section(board: Board, page: Any) -> None:
    page.goto(board.url())
    tile = page.locator('.tile[data-queue-id="2"]')
    expect()(tile.locator(".no-abandoned")).to_have_text("Nobody to call back.")
    board.join("c1", "746842523", waited=40)
    assert board.post("/api/queues/2/callers/c1/leave", {"outcome": "abandoned"}) == 200
    row = tile.locator('tr.abandoned-caller[data-phone="746842523"]')
    # The list is computed at most every KOLEJKA_ABANDONED_REFRESH_SECONDS (5), and the board
    # shows it at its next refresh (5 s): up to ten seconds.
    expect()(row).to_be_visible(timeout=SEEN + 10_000)
    expect()(row.locator(".label")).to_have_text("Jan Kowalski")
    expect()(row.locator(".times")).to_have_text("×1")
    expect()(row.locator(".last")).to_have_text(re.compile(r"^\d\d:\d\d$"))
    expect()(tile.locator(".abandoned-count")).to_have_text("1")
    expect()(tile.locator(".no-abandoned")).to_be_hidden()
    page.locator('[data-lang="pl"]').click()
    expect()(tile.locator(".abandoned-title")).to_contain_text("Porzucone dziś")


def test_each_caller_shows_position_expected_wait_and_a_mark_when_they_called_before(
    board: Board, page: Any
) -> None:
    board.join("c0", "613459851", waited=90)
    board.leave("c0")  # answered after 90 s: the queue's pace, and a call from 613459851 today
    board.join("c1", "613459851")
    board.join("c2", "746842523")
    page.goto(board.url())
    again, first_time = caller_row(page, "613459851"), caller_row(page, "746842523")
    expect()(again.locator(".position")).to_have_text("1", timeout=SEEN)
    expect()(first_time.locator(".position")).to_have_text("2")
    # Under each wait, the whole wait to expect. Position 1: 90 s to go; position 2, further back
    # than anyone joined lately: 2 x 90 s.
    expect()(again.locator(".expected")).to_have_text(re.compile(r"^1:3\d$"))
    expect()(first_time.locator(".expected")).to_have_text(re.compile(r"^3:0\d$"))
    mark = again.locator(".repeat")
    expect()(mark).to_have_text("↻1")
    assert mark.get_attribute("title") == "Called once before today"
    expect()(first_time.locator(".repeat")).to_have_count(0)
    expect()(page.locator('.tile[data-queue-id="2"] th .expected')).to_have_text("Expected")
    page.locator('button[data-lang="pl"]').click()
    expect()(page.locator('.tile[data-queue-id="2"] th .expected')).to_have_text("Prognoza")
    assert caller_row(page, "613459851").locator(".repeat").get_attribute("title") == (
        "Dzwonił dziś już raz"
    )


def callback_item(page: Any, queue_id: int = 2) -> Any:
    return page.locator(f'.tile[data-queue-id="{queue_id}"] li.callback')


def test_each_queue_shows_its_callbacks_due_next_as_they_are_scheduled_and_cancelled(
    board: Board, page: Any
) -> None:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    page.goto(board.url())
    expect()(page.locator(".tile")).to_have_count(2, timeout=SEEN)
    section = page.locator('.tile[data-queue-id="2"] .callbacks-due')
    expect()(section).to_be_hidden()  # none scheduled: no empty section
    later = datetime.now(ZoneInfo("Europe/Warsaw")) + timedelta(hours=2)
    body = {"phone_number": "746842523", "call_at": later.strftime("%Y-%m-%d %H:%M:%S")}
    assert board.post("/api/queues/2/schedule_call", body) == 201
    expect()(callback_item(page)).to_have_count(1, timeout=SEEN)
    expect()(section).to_be_visible()
    expect()(section.locator(".callbacks-title")).to_have_text("Callbacks due next")
    first = callback_item(page).first
    expect()(first.locator(".callback-due")).to_have_text(later.strftime("%H:%M"))
    expect()(first.locator(".callback-who")).to_have_text("746842523 · Jan Kowalski")
    # A waiting caller asks to be called back: their place is their join time, so they come
    # first, and are due now.
    board.join("ivr-1", "+48 601 100 300", waited=40)
    assert board.post("/api/queues/2/callers/ivr-1/schedule_call", {}) == 201
    expect()(callback_item(page)).to_have_count(2, timeout=SEEN)
    expect()(callback_item(page).first.locator(".callback-due")).to_have_text("due")
    expect()(callback_item(page).first.locator(".callback-who")).to_have_text("601100300")
    expect()(callback_item(page, queue_id=1)).to_have_count(0)
    page.locator('button[data-lang="pl"]').click()
    expect()(section.locator(".callbacks-title")).to_have_text("Najbliższe oddzwonienia")
    expect()(callback_item(page).first.locator(".callback-due")).to_have_text("teraz")
    # Cancelled: gone from the board.
    cancel = urllib.request.Request(
        f"{board.server.url}/api/queues/2/scheduled_calls/1", method="DELETE"
    )
    cancel.add_header("Authorization", basic(*ADMIN))
    with urllib.request.urlopen(cancel, timeout=10) as answer:
        assert answer.status == 204
    expect()(callback_item(page)).to_have_count(1, timeout=SEEN)
    expect()(callback_item(page).first.locator(".callback-who")).to_have_text("601100300")
