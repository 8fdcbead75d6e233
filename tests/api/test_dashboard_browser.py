"""The dashboard in a real browser (Debian's Chromium, headless, driven by Playwright).

One browser session walks through what a care worker does: log in, watch a new alert arrive live
(inserted into the database by the test, as the alert engine would), acknowledge it and see it leave
the open queue, switch language, open the resident board and a resident's timeline.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.api.conftest import NOW, PASSWORD, RunningApi, World, insert_alert

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous waits: two shared cores. The live-update promise (within 2 s) is about the stream's
# 0.25 s polling here and 1 s by default; a loaded CI machine may still take longer to paint.
WAIT_MS = 20_000


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def _log_in(page: Page, url: str, username: str) -> None:
    page.goto(url + "/")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()


@pytest.mark.browser
def test_care_worker_flow(browser: Browser, api_server: RunningApi, world: World, db_url: str) -> None:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    external: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(api_server.url) else external.append(request.url))
    problems: list[str] = []  # script errors and Content-Security-Policy violations
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    _log_in(page, api_server.url, "staff_a")

    open_queue = page.get_by_test_id("open-queue")
    expect(open_queue.locator(f'[data-alert-id="{world.alert_x}"]')).to_be_visible(timeout=WAIT_MS)
    expect(open_queue).to_contain_text("跌倒")  # Chinese by default
    expect(open_queue.locator(f'[data-alert-id="{world.alert_z}"]')).to_have_count(0)  # centre B's alert

    # A new alert written by "the engine" appears without a reload; the queue is ordered by severity
    # first, so the new medium alert comes after the older critical fall.
    with psycopg.connect(db_url) as conn:
        new = insert_alert(
            conn,
            home="home-a1",
            resident=world.resident_y,
            centre=world.centre_a,
            kind="inactivity",
            severity="medium",
            opened=NOW,
        )
    new_item = open_queue.locator(f'[data-alert-id="{new}"]')
    expect(new_item).to_be_visible(timeout=WAIT_MS)
    expect(new_item).to_contain_text("检测到inactivity")
    assert open_queue.locator("li").evaluate_all("items => items.map(i => Number(i.dataset.alertId))") == [world.alert_x, new]

    # Acknowledge: it leaves the open queue for "in progress", and the database says who did it.
    new_item.get_by_test_id("ack-button").click()
    expect(open_queue.locator(f'[data-alert-id="{new}"]')).to_have_count(0, timeout=WAIT_MS)
    expect(page.get_by_test_id("ack-queue").locator(f'[data-alert-id="{new}"]')).to_be_visible(timeout=WAIT_MS)
    with psycopg.connect(db_url) as conn:
        status, by = conn.execute("SELECT status, acknowledged_by FROM alerts WHERE id = %s", (new,)).fetchone()  # type: ignore[misc]
    assert (status, by) == ("acknowledged", world.users["staff_a"])

    # A note survives the live re-rendering of the queue, and is recorded as a comment.
    acked = page.get_by_test_id("ack-queue").locator(f'[data-alert-id="{new}"]')
    acked.locator("input.note").fill("电话联系了女儿")
    with psycopg.connect(db_url) as conn:  # another alert arrives while the worker is typing
        insert_alert(
            conn, home="home-a1", resident=world.resident_x, centre=world.centre_a, kind="sos", severity="high", opened=NOW
        )
    expect(open_queue.locator("li")).to_have_count(2, timeout=WAIT_MS)
    expect(acked.locator("input.note")).to_have_value("电话联系了女儿")
    acked.get_by_test_id("comment-button").click()
    expect(acked.locator("input.note")).to_have_value("", timeout=WAIT_MS)
    with psycopg.connect(db_url) as conn:
        notes = [
            row[0] for row in conn.execute("SELECT note FROM alert_history WHERE alert_id = %s AND action = 'commented'", (new,))
        ]
    assert notes == ["电话联系了女儿"]

    # Resolve it with an outcome: it disappears from every queue.
    acked.locator("select.outcome").select_option("visited")
    acked.get_by_test_id("resolve-button").click()
    expect(page.locator(f'[data-alert-id="{new}"]')).to_have_count(0, timeout=WAIT_MS)

    # Switch language: labels and the rule's explanation change to English.
    page.get_by_test_id("lang-toggle").click()
    expect(page.locator("h1")).to_have_text("eldercare · care dashboard")
    expect(open_queue).to_contain_text("Fall")
    expect(open_queue).to_contain_text("SOS")
    expect(open_queue).to_contain_text("fall detected")
    assert page.evaluate("document.documentElement.lang") == "en"

    # Every kind is named from the API's catalogue (the dashboard once showed `k_gateway_offline`).
    with psycopg.connect(db_url) as conn:
        offline = insert_alert(
            conn, home="home-a1", resident=None, centre=world.centre_a, kind="gateway_offline", severity="high", opened=NOW
        )
    expect(open_queue.locator(f'[data-alert-id="{offline}"] .kind')).to_have_text("Gateway offline", timeout=WAIT_MS)

    # The resident board, then a resident's page with the hand-drawn SVG timeline.
    page.get_by_role("button", name="Residents").click()
    board = page.get_by_test_id("board-body")
    expect(board.locator("tr")).to_have_count(2, timeout=WAIT_MS)
    expect(board.locator(f'tr[data-resident-id="{world.resident_x}"] .dot')).to_have_class(re.compile("red"))
    board.locator(f'tr[data-resident-id="{world.resident_x}"]').click()
    expect(page.locator("#resident-name")).to_have_text("Resident X", timeout=WAIT_MS)
    expect(page.get_by_test_id("timeline").locator("svg rect")).not_to_have_count(0, timeout=WAIT_MS)

    # Log out; a family member sees the board with their relative only, and no alert queue.
    page.locator("#logout").click()
    expect(page.get_by_test_id("login-submit")).to_be_visible(timeout=WAIT_MS)
    _log_in(page, api_server.url, "family_x")
    expect(board.locator("tr")).to_have_count(1, timeout=WAIT_MS)
    expect(board.locator(f'tr[data-resident-id="{world.resident_x}"]')).to_be_visible()
    expect(page.get_by_role("button", name="Alert queue")).to_be_hidden()

    assert external == []  # every asset and call stays on our own origin: no CDN
    assert problems == []
    context.close()
