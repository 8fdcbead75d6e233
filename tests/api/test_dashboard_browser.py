"""The console in a real browser (Debian's Chromium, headless, driven by Playwright).

A fall is seen, heard, opened, claimed, worked through the protocol and resolved with an outcome by
one operator while a second operator sees it claimed; the family then sees what the centre did.
Each step is photographed in both languages into test-artifacts/screenshots/ (not committed) so a
reviewer can look at the screens. A 200-character name, a missing phone and an empty queue render.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from psycopg.types.json import Jsonb

from tests.api.conftest import NOW, PASSWORD, SECRET, RunningApi, World, insert_alert, wait_until_serving
from tests.support.processes import ServiceProcess
from tests.support.services import free_port

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
    "--autoplay-policy=no-user-gesture-required",
]
# Generous waits: two shared cores. The stream is woken by the database at once; a loaded CI machine
# may still take a while to paint.
WAIT_MS = 20_000
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# Records each browser notification the page raises, and lets it through (permission is granted).
NOTIFICATION_SPY = """
(() => {
  const Real = window.Notification;
  if (!Real) return;
  window.__notified = [];
  class Spy extends Real { constructor(title, options) { super(title, options); window.__notified.push(title); } }
  Object.defineProperty(Spy, "permission", { get: () => Real.permission });
  Spy.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Spy;
})();
"""


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


class Watched:
    """A page whose script errors and off-origin requests are collected."""

    def __init__(self, context: BrowserContext, origin: str) -> None:
        self.page = context.new_page()
        self.problems: list[str] = []
        self.external: list[str] = []
        self.page.on("request", lambda r: None if r.url.startswith(origin) else self.external.append(r.url))
        self.page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))

    def clean(self) -> None:
        assert self.external == []  # every asset and call stays on our own origin: no CDN
        assert self.problems == []


def _log_in(page: Page, url: str, username: str) -> None:
    page.goto(url + "/")
    expect(page.locator("#nav")).to_be_hidden()  # nothing to navigate before logging in
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()


def _shots(page: Page, name: str) -> None:
    """The screen in its current language, then in the other one (and back)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        lang = page.evaluate("document.documentElement.lang")
        expect(page.locator("body")).not_to_have_attribute("data-rendering", "1", timeout=WAIT_MS)
        page.screenshot(path=str(SHOTS / f"{name}.{lang}.png"), full_page=True)
        page.get_by_test_id("lang-toggle").click()
        expect(page.locator("html")).not_to_have_attribute("lang", lang)


def _no_horizontal_overflow(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1")


def _prepare(db_url: str, world: World) -> None:
    """Resident X's card, the centre's phone, and the seeded fall closed (it goes to the closed log)."""
    contacts = [
        {"name": "李娜", "relation": "daughter", "phone": "+86 139 0000 0001"},
        {"name": "Zhao Wei", "relation": "neighbour", "phone": "+86 139 0000 0002"},
    ]
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE residents SET phone = '+86 21 5555 0101', date_of_birth = '1941-03-08', allergies = 'penicillin',"
            " conditions = 'diabetes', emergency_contacts = %s WHERE id = %s",
            (Jsonb(contacts), world.resident_x),
        )
        conn.execute("UPDATE homes SET address = 'Lane 12, No. 3', access_notes = 'key safe 4711' WHERE id = 'home-a1'")
        conn.execute("UPDATE care_centres SET phone = '+86 21 5555 0000' WHERE id = %s", (world.centre_a,))
        conn.execute(
            "UPDATE alerts SET status = 'resolved', resolved_at = %s, outcome = 'false_alarm', resolution_note = '=cmd|x'"
            " WHERE id = %s",
            (NOW - timedelta(minutes=1), world.alert_x),
        )


@pytest.mark.browser
def test_a_fall_is_seen_heard_claimed_worked_and_resolved(
    browser: Browser, api_server: RunningApi, world: World, db_url: str
) -> None:
    _prepare(db_url, world)
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO users (username, password_hash, role, care_centre_id) SELECT 'staff_a2', password_hash, 'staff', care_centre_id FROM users WHERE username = 'staff_a'"
        )
    one_ctx = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900}, accept_downloads=True)
    one_ctx.grant_permissions(["notifications"], origin=api_server.url)
    one_ctx.add_init_script(NOTIFICATION_SPY)
    two_ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    one, two = Watched(one_ctx, api_server.url), Watched(two_ctx, api_server.url)
    _log_in(one.page, api_server.url, "staff_a")
    _log_in(two.page, api_server.url, "staff_a2")
    expect(one.page.locator("h1")).to_have_text("eldercare · care console")  # the browser's language
    expect(two.page.locator("h1")).to_have_text("智慧养老 · 护理工作台")
    expect(one.page.get_by_test_id("open-empty")).to_be_visible(timeout=WAIT_MS)

    # The engine raises a fall: it is seen (critical by colour and shape) and heard, on both screens.
    with psycopg.connect(db_url) as conn:
        fall = insert_alert(
            conn, home="home-a1", resident=world.resident_x, centre=world.centre_a, kind="fall", severity="critical", opened=NOW
        )
        conn.execute(
            "UPDATE alerts SET next_escalation_at = %s, explanation_en = 'Wearable detected a fall in the bathroom.',"
            " explanation_zh = '手环在卫生间检测到跌倒。' WHERE id = %s",
            (NOW + timedelta(minutes=2), fall),
        )
        conn.execute("INSERT INTO alert_history (alert_id, at, action) VALUES (%s, %s, 'opened')", (fall, NOW))
    item = one.page.get_by_test_id("open-queue").locator(f'[data-alert-id="{fall}"]')
    expect(item).to_be_visible(timeout=WAIT_MS)
    expect(item.locator(".sev-badge")).to_have_text("▲ critical !!")
    # Ages count from the server's clock (NOW), not the browser's: seconds, not months.
    expect(item.get_by_test_id("waited")).to_have_text(re.compile(r"^waiting \d+ s$"))
    expect(item.locator(".escalation")).to_contain_text("until escalation")
    one.page.wait_for_function("Number(document.body.dataset.alarmCount || 0) >= 1", timeout=WAIT_MS)
    assert one.page.evaluate("window.__notified") == ["Critical alarm: Fall"]
    expect(one.page).to_have_title("(1) eldercare")
    expect(two.page.get_by_test_id("open-queue").locator(f'[data-alert-id="{fall}"]')).to_be_visible(timeout=WAIT_MS)
    _shots(one.page, "1-fall-seen")

    # Opened: the story and the resident card beside it.
    item.get_by_test_id("open-incident").click()
    incident = one.page.get_by_test_id("incident")
    expect(incident).to_contain_text("Wearable detected a fall in the bathroom.", timeout=WAIT_MS)
    expect(incident).to_contain_text("手环在卫生间检测到跌倒。")  # the evidence in both languages
    card = one.page.get_by_test_id("resident-card")
    expect(card).to_contain_text("key safe 4711")
    expect(card).to_contain_text("penicillin")
    expect(card.locator('a[href="tel:+862155550101"]')).to_be_visible()
    expect(card.get_by_test_id("contacts").locator("li")).to_have_count(2)
    expect(one.page.get_by_test_id("activity").locator("li")).not_to_have_count(0)
    expect(one.page.get_by_test_id("history")).to_contain_text("Opened")
    _shots(one.page, "2-fall-opened")

    # Claimed: it is operator one's, and operator two sees it.
    one.page.get_by_test_id("claim").click()
    expect(one.page.get_by_test_id("inc-state")).to_contain_text("Handled by staff_a", timeout=WAIT_MS)
    theirs = two.page.get_by_test_id("ack-queue").locator(f'[data-alert-id="{fall}"]')
    expect(theirs.get_by_test_id("owner")).to_have_text("处理人：staff_a", timeout=WAIT_MS)
    expect(theirs.get_by_test_id("waited")).to_have_text(re.compile(r"^响应用时 \d+ 秒$"))  # the time it took to claim
    expect(two.page).to_have_title("eldercare")
    _shots(two.page, "3-claimed-seen-by-the-other-operator")

    # The protocol: the resident does not answer, the daughter does not either, the neighbour goes.
    steps = one.page.get_by_test_id("protocol")
    steps.locator('[data-step="call_resident"] [data-result="no_answer"]').click()
    expect(steps.locator('[data-step="call_resident"]')).to_have_attribute("data-tries", "1", timeout=WAIT_MS)
    steps.locator('[data-step="call_contact"][data-contact="0"] [data-result="no_answer"]').click()
    expect(steps.locator('[data-step="call_contact"][data-contact="0"]')).to_have_attribute("data-tries", "1", timeout=WAIT_MS)
    one.page.get_by_test_id("comment-input").fill("has a key, going now")
    steps.locator('[data-step="call_contact"][data-contact="1"] [data-result="answered_ok"]').click()
    expect(steps.locator('[data-step="call_contact"][data-contact="1"]')).to_have_attribute("data-tries", "1", timeout=WAIT_MS)
    steps.locator('[data-step="dispatch"] [data-result="on_site"]').click()
    expect(steps.locator('[data-step="dispatch"]')).to_have_attribute("data-tries", "1", timeout=WAIT_MS)
    expect(one.page.get_by_test_id("history")).to_contain_text("has a key, going now")
    _shots(one.page, "4-protocol-worked")

    # Resolve: an outcome, a note (critical), and a confirmation.
    one.page.get_by_test_id("outcome").select_option("visited")
    one.page.get_by_test_id("resolve").click()
    expect(one.page.locator("#inc-resolve-error")).to_have_text("A critical alarm needs a note saying what happened.")
    one.page.get_by_test_id("resolve-note").fill("Neighbour found her on the bathroom floor; no injury, helped up.")
    one.page.get_by_test_id("resolve").click()
    expect(one.page.get_by_test_id("confirm")).to_contain_text("Visited")
    with psycopg.connect(db_url) as conn:  # nothing is closed before the confirmation
        assert conn.execute("SELECT status FROM alerts WHERE id = %s", (fall,)).fetchone() == ("acknowledged",)
    one.page.get_by_test_id("confirm-yes").click()
    expect(incident).to_have_attribute("data-status", "resolved", timeout=WAIT_MS)
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT outcome, resolved_by, resolution_note FROM alerts WHERE id = %s", (fall,)).fetchone()
        attempts = conn.execute(
            "SELECT count(*) FROM alert_history WHERE alert_id = %s AND action = 'attempted'", (fall,)
        ).fetchone()
    assert row == ("visited", world.users["staff_a"], "Neighbour found her on the bathroom floor; no injury, helped up.")
    assert attempts == (4,)
    expect(two.page.locator(f'[data-alert-id="{fall}"]')).to_have_count(0, timeout=WAIT_MS)
    _shots(one.page, "5-resolved")

    # The closed-alarm log, and its CSV for the shift report (a formula in a note stays text).
    one.page.get_by_role("button", name="Closed alarms").click()
    log = one.page.get_by_test_id("closed-log")
    expect(log.locator(f'tr[data-alert-id="{fall}"]')).to_contain_text("Visited", timeout=WAIT_MS)
    with one.page.expect_download() as download:
        one.page.get_by_test_id("export-csv").click()
    csv_text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "Neighbour found her on the bathroom floor" in csv_text
    assert "has a key, going now" in csv_text  # the notes written while it was worked
    assert '"\'=cmd|x"' in csv_text
    # The handover: nothing left open for the next shift.
    expect(one.page.get_by_test_id("handover-open")).to_have_text("0 open alarms")
    _shots(one.page, "6-closed-log")

    # The family sees what happened and how to reach the centre.
    family_ctx = browser.new_context(locale="zh-CN", viewport={"width": 900, "height": 900})
    family = Watched(family_ctx, api_server.url)
    _log_in(family.page, api_server.url, "family_x")
    theirs_now = family.page.get_by_test_id("family")
    story = theirs_now.locator(f'[data-alert-id="{fall}"]')
    expect(story).to_contain_text("已处理完毕：已上门", timeout=WAIT_MS)
    expect(story).to_contain_text("无人接听")
    expect(story).to_contain_text("no injury")
    expect(theirs_now.locator('a[href="tel:+862155550000"]')).to_be_visible()
    expect(family.page.get_by_role("button", name="警报队列")).to_be_hidden()
    _shots(family.page, "7-family")
    for watched in (one, two, family):
        watched.clean()
    for context in (one_ctx, two_ctx, family_ctx):
        context.close()


@pytest.mark.browser
def test_a_long_name_a_missing_phone_and_an_empty_queue_render(
    browser: Browser, api_server: RunningApi, world: World, db_url: str
) -> None:
    long_name = "Maximiliana-" + "Konstantinopolitanische" * 8 + "x" * 4
    long_name = long_name[:200]
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE alerts SET status = 'resolved', resolved_at = %s, outcome = 'other'", (NOW,))
        conn.execute("UPDATE residents SET full_name = %s, phone = NULL WHERE id = %s", (long_name, world.resident_y))
    context = browser.new_context(locale="en-GB", viewport={"width": 1024, "height": 800})
    watched = Watched(context, api_server.url)
    page = watched.page
    _log_in(page, api_server.url, "staff_a")
    expect(page.get_by_test_id("open-empty")).to_have_text("No open alarms.", timeout=WAIT_MS)
    _no_horizontal_overflow(page)
    _shots(page, "8-empty-queue")
    with psycopg.connect(db_url) as conn:
        alert = insert_alert(
            conn, home="home-a1", resident=world.resident_y, centre=world.centre_a, kind="sos", severity="critical", opened=NOW
        )
    item = page.get_by_test_id("open-queue").locator(f'[data-alert-id="{alert}"]')
    expect(item).to_contain_text(long_name, timeout=WAIT_MS)
    expect(page.get_by_test_id("open-empty")).to_be_hidden()
    _no_horizontal_overflow(page)
    page.get_by_test_id("filter-text").fill("nobody-is-called-this")
    expect(item).to_have_count(0)
    page.get_by_test_id("filter-text").fill("maximiliana")
    expect(item).to_be_visible()
    _shots(page, "9-long-name-queue")
    item.get_by_test_id("open-incident").click()
    card = page.get_by_test_id("resident-card")
    expect(card).to_contain_text("no phone number", timeout=WAIT_MS)
    expect(page.get_by_test_id("protocol").locator('[data-step="call_resident"]')).to_contain_text("no phone number")
    _no_horizontal_overflow(page)
    _shots(page, "10-long-name-incident")
    page.get_by_role("button", name="Residents").click()
    expect(page.get_by_test_id("board-body").locator(f'tr[data-resident-id="{world.resident_y}"]')).to_contain_text(
        long_name, timeout=WAIT_MS
    )
    _no_horizontal_overflow(page)
    _shots(page, "11-long-name-board")
    # The resident's page: the card, and the last seven days with the alarm marked on its day.
    page.get_by_test_id("board-body").locator(f'tr[data-resident-id="{world.resident_y}"]').click()
    expect(page.get_by_test_id("week").locator(".alert-mark")).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator("#resident-card")).to_contain_text("no phone number")
    _no_horizontal_overflow(page)
    _shots(page, "12-long-name-resident")
    # Staff of the centre fill the card in; the change is recorded (who, which fields).
    card = page.locator("#resident-card")
    card.get_by_role("button", name="Edit").click()
    card.get_by_test_id("card-edit").locator('[name="phone"]').fill("+86 21 5555 0199")
    card.get_by_test_id("card-edit").locator('[name="access_notes"]').fill("neighbour in 302 has a key")
    card.get_by_role("button", name="Save").click()
    expect(card.locator('a[href="tel:+862155550199"]')).to_be_visible(timeout=WAIT_MS)
    expect(card).to_contain_text("neighbour in 302 has a key")
    with psycopg.connect(db_url) as conn:
        changed = conn.execute(
            "SELECT actor_id, fields FROM resident_changes WHERE resident_id = %s", (world.resident_y,)
        ).fetchall()
    assert changed == [(world.users["staff_a"], ["access_notes", "phone"])]
    # The emergency contacts: two added, the second moved up to be called first; the change is recorded.
    card.get_by_test_id("card-edit-button").click()
    edit = card.get_by_test_id("card-edit")
    expect(edit.get_by_test_id("card-changes")).to_contain_text("staff_a", timeout=WAIT_MS)
    for name, phone in (("Zhao Wei", "+86 139 0000 0002"), ("李娜", "+86 139 0000 0001")):
        edit.get_by_test_id("add-contact").click()
        row = edit.get_by_test_id("contact-edit").last
        row.locator('[name="contact_name"]').fill(name)
        row.locator('[name="contact_phone"]').fill(phone)
    edit.get_by_test_id("contact-edit").last.get_by_role("button", name="Move up").click()
    edit.get_by_role("button", name="Save").click()
    contacts = card.get_by_test_id("contacts").locator("li")
    expect(contacts).to_have_count(2, timeout=WAIT_MS)
    expect(contacts.first).to_contain_text("李娜")
    expect(contacts.first.locator('a[href="tel:+8613900000001"]')).to_be_visible()
    with psycopg.connect(db_url) as conn:
        stored = conn.execute("SELECT emergency_contacts FROM residents WHERE id = %s", (world.resident_y,)).fetchone()
        fields = conn.execute(
            "SELECT fields FROM resident_changes WHERE resident_id = %s ORDER BY id", (world.resident_y,)
        ).fetchall()
    assert stored == ([{"name": "李娜", "phone": "+86 139 0000 0001"}, {"name": "Zhao Wei", "phone": "+86 139 0000 0002"}],)
    assert fields == [(["access_notes", "phone"],), (["emergency_contacts"],)]
    _no_horizontal_overflow(page)
    _shots(page, "13-contacts-edited")
    watched.clean()
    context.close()


@pytest.mark.browser
def test_ages_follow_the_server_clock_at_demo_speed(
    browser: Browser, env_for: Callable[..., dict[str, str]], world: World, db_url: str, tmp_path: Path
) -> None:
    """At 60x (the demo's speed) a fall seconds old in wall time has waited minutes in the home's time,
    and the page's clock agrees with the server's; a browser counting from its own clock said '2 h'."""
    port = free_port()
    epoch = time.time()
    env = env_for(
        api__jwt_secret=SECRET,
        api__port=str(port),
        clock__start=NOW.isoformat(),
        clock__speed="60",
        clock__epoch_wall_s=repr(epoch),
    )
    api = ServiceProcess(["api"], env, tmp_path / "api.log").start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, api)
        context = browser.new_context(locale="en-US")
        watched = Watched(context, url)
        page = watched.page
        _log_in(page, url, "staff_a")
        expect(page.get_by_test_id("open-queue").locator(f'[data-alert-id="{world.alert_x}"]')).to_be_visible(timeout=WAIT_MS)
        with psycopg.connect(db_url) as conn:  # a fall now, on the server's clock
            conn.execute("UPDATE alerts SET status = 'resolved', resolved_at = %s WHERE id = %s", (NOW, world.alert_x))
            fall = insert_alert(
                conn, home="home-a1", resident=world.resident_x, centre=world.centre_a, kind="fall", severity="critical",
                opened=NOW + timedelta(seconds=(time.time() - epoch) * 60),
            )  # fmt: skip
        waited = page.get_by_test_id("open-queue").locator(f'[data-alert-id="{fall}"]').get_by_test_id("waited")
        # A minute of the server's time passes in about a wall second: the counter is in minutes soon.
        expect(waited).to_have_text(re.compile(r"^waiting [1-9]\d?:\d\d min$"), timeout=WAIT_MS)
        server_now = datetime.fromisoformat(httpx.get(f"{url}/api/v1/clock", headers=_bearer(url), timeout=10).json()["now"])
        page_now = datetime.fromtimestamp(page.evaluate("serverNow()") / 1000, tz=UTC)
        assert abs((page_now - server_now).total_seconds()) < 5 * 60  # a few wall seconds of slack, at 60x
        assert page.evaluate("clock.speed") == 60
        watched.clean()
        context.close()
    finally:
        assert api.stop() == 0


def _bearer(url: str) -> dict[str, str]:
    token = httpx.post(f"{url}/api/v1/auth/token", data={"username": "staff_a", "password": PASSWORD}, timeout=10).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


@pytest.mark.browser
def test_a_district_office_reads_its_centres_figures(browser: Browser, api_server: RunningApi, world: World, db_url: str) -> None:
    """A district office over both centres: the figures per centre and ISO week, the CSV, nothing of anyone."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO users (username, password_hash, role) SELECT 'district_1', password_hash, 'district' FROM users"
            " WHERE username = 'staff_a'"
        )
        conn.execute(
            "INSERT INTO district_centres (user_id, care_centre_id) SELECT u.id, c.id FROM users u, care_centres c"
            " WHERE u.username = 'district_1'"
        )
        conn.execute("INSERT INTO home_state (home_id, gateway_state) VALUES ('home-a1', 'online')")
        conn.execute(
            "UPDATE alerts SET status = 'resolved', acknowledged_at = opened_at + interval '90 seconds', acknowledged_by = %s,"
            " resolved_at = opened_at + interval '20 minutes', resolved_by = %s, outcome = 'visited' WHERE id = %s",
            (world.users["staff_a"], world.users["staff_a"], world.alert_x),
        )
        conn.execute("UPDATE alerts SET next_escalation_at = %s WHERE id = %s", (NOW - timedelta(minutes=1), world.alert_z))
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}, accept_downloads=True)
    watched = Watched(context, api_server.url)
    page = watched.page
    _log_in(page, api_server.url, "district_1")
    centres = page.get_by_test_id("oversight-centres")
    a = centres.locator(f'tr[data-centre-id="{world.centre_a}"]')
    b = centres.locator(f'tr[data-centre-id="{world.centre_b}"]')
    expect(a).to_contain_text("Centre A", timeout=WAIT_MS)
    expect(a.locator('[data-figure="homes"]')).to_have_text("1 / 1")
    expect(a.locator('[data-figure="devices"]')).to_have_text("1 / 1")
    expect(a.locator('[data-figure="claim"]')).to_have_text("1:30 分 / 1:30 分")
    expect(a.locator('[data-figure="close"]')).to_have_text("20:00 分 / 20:00 分")
    expect(b.locator('[data-figure="homes"]')).to_have_text("0 / 1")
    expect(b.locator('[data-figure="overdue"]')).to_have_text("1")
    expect(page.get_by_test_id("oversight-weeks").locator("tbody tr")).to_have_count(2)
    expect(page.get_by_test_id("oversight-weeks")).to_contain_text("2026-W18")
    # Nothing to navigate to but the figures: no queue, no board, no closed log.
    for name in ("警报队列", "老人看板", "已关闭警报"):
        expect(page.get_by_role("button", name=name)).to_be_hidden()
    _no_horizontal_overflow(page)
    _shots(page, "14-district-oversight")
    with page.expect_download() as download:
        page.get_by_test_id("oversight-export").click()
    assert download.value.suggested_filename.startswith("oversight-")
    rows = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].startswith('"中心编号","护理中心","时段"')
    assert any('"Centre B","整个时段"' in row for row in rows)
    watched.clean()
    context.close()
