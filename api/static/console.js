// The alarm console: the queue sorted by urgency, filters and legend, the alarm (sound, browser
// notification, title badge, mute for a while), and the closed-alarm log with its CSV export.
"use strict";

// ---- the queue -------------------------------------------------------------------------------
// Most severe first, then the one that has waited longest.
const queueOrder = (a, b) => (rank(b.severity) - rank(a.severity)) || (Date.parse(a.opened_at) - Date.parse(b.opened_at));
const filters = { text: "", severity: "", kind: "" };

function matches(alert) {
  const text = filters.text.trim().toLowerCase();
  return (!filters.severity || alert.severity === filters.severity) && (!filters.kind || alert.kind === filters.kind)
    && (!text || `${alert.resident_name || ""} ${alert.home_id}`.toLowerCase().includes(text));
}

// A shape as well as a colour: critical is a red triangle with "!!", never a colour alone.
const SHAPES = ["●", "◆", "■", "▲"];
function sevBadge(e, severity) {
  const r = Math.max(0, rank(severity));
  e.textContent = `${SHAPES[Math.min(r, SHAPES.length - 1)]} ${named("severities", severity)}${critical(severity) ? " !!" : ""}`;
  e.dataset.severity = severity;
  return e;
}

function renderQueues() {
  const all = [...state.alerts.values()];
  for (const [status, list, count] of [["open", "#open-queue", "#open-count"], ["acknowledged", "#ack-queue", "#ack-count"]]) {
    // A pending fall (waiting for the resident's "I'm OK") is shown with the open ones, with its countdown.
    const mine = all.filter((a) => a.status === status || (status === "open" && a.status === "pending"));
    $(list).replaceChildren(...mine.filter(matches).sort(queueOrder).map(renderAlert));
    $(count).textContent = mine.length;
  }
  $("#open-empty").hidden = all.some((a) => a.status === "open" || a.status === "pending");
  updateTitle();
}

function renderAlert(alert) {
  const li = $("#alert-template").content.firstElementChild.cloneNode(true);
  li.dataset.alertId = alert.id;
  li.dataset.severity = alert.severity;
  sevBadge(li.querySelector(".sev-badge"), alert.severity);
  li.querySelector(".kind").textContent = named("kinds", alert.kind);
  const who = li.querySelector(".who");
  who.textContent = alert.resident_name || alert.home_id;
  who.title = who.textContent;
  li.querySelector(".explanation").textContent = zh() ? alert.explanation_zh : alert.explanation_en;
  li.querySelectorAll("[data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n); });
  li.querySelector(".owner").textContent = alert.assigned_to_name ? `${t("claimed_by")}${alert.assigned_to_name}` : "";
  tickAlert(li, alert);
  const ack = li.querySelector(".ack");
  ack.hidden = alert.status !== "open";
  ack.onclick = async () => { try { state.alerts.set(alert.id, await post(`/api/v1/alerts/${alert.id}/acknowledge`, { note: null })); renderQueues(); } catch (e) { console.warn(e.message); } };
  li.querySelector(".open-incident").onclick = () => openIncident(alert.id);
  return li;
}

// The counters: how long it has waited (until claimed), and when it escalates next.
function tickAlert(li, alert) {
  if (alert.status === "pending" && alert.pending_until) {
    const left = (Date.parse(alert.pending_until) - serverNow()) / 1000;
    li.querySelector(".waited").textContent = `${named("statuses", "pending")} · ${duration(left)}`;
    li.querySelector(".escalation").textContent = "";
    return;
  }
  // Open: how long it has waited so far; claimed: how long it took to claim (the acknowledgement time).
  const open = alert.status === "open";
  const waited = open ? since(alert.opened_at) : (Date.parse(alert.acknowledged_at) - Date.parse(alert.opened_at)) / 1000;
  li.querySelector(".waited").textContent = `${t(open ? "waited" : "ack_time")} ${duration(waited)}`;
  li.querySelector(".escalation").textContent = escalationText(alert);
}

function escalationText(alert) {
  const level = alert.escalation_level ? `${t("escalation_level")} ${alert.escalation_level}` : "";
  if (!alert.next_escalation_at || alert.status !== "open") return level;
  const left = (Date.parse(alert.next_escalation_at) - serverNow()) / 1000;
  const next = left > 0 ? `${duration(left)} ${t("escalates_in")}` : t("overdue");
  return [level, next].filter(Boolean).join(" · ");
}

function tickQueues() {
  for (const li of document.querySelectorAll("#open-queue .alert, #ack-queue .alert")) {
    const alert = state.alerts.get(Number(li.dataset.alertId));
    if (alert) tickAlert(li, alert);
  }
}

function renderFilters() {
  const option = (value, text) => el("option", { value, textContent: text });
  $("#filter-severity").replaceChildren(option("", t("all_severities")), ...[...catalogue.severities.keys()].reverse().map((k) => option(k, named("severities", k))));
  $("#filter-kind").replaceChildren(option("", t("all_kinds")), ...[...catalogue.kinds.keys()].map((k) => option(k, named("kinds", k))));
  $("#filter-severity").value = filters.severity;
  $("#filter-kind").value = filters.kind;
  $("#legend").replaceChildren(t("legend"), ...[...catalogue.severities.keys()].reverse().map((k) => sevBadge(el("span", { className: "sev-badge" }), k)));
}

// ---- the alarm -------------------------------------------------------------------------------
// New critical alarms sound (Web Audio, nothing to download) and raise a browser notification. A
// workstation may mute the sound for 15 minutes at a time, never for good; the mute is shown.
const MUTE_MS = 15 * 60 * 1000;
const alarm = { announced: new Set(), audio: null, triggered: 0 };
const mutedUntil = () => Number(localStorage.getItem("muteUntil") || 0);
const muted = () => mutedUntil() > Date.now();

function unlockAudio() {
  try { alarm.audio = alarm.audio || new AudioContext(); alarm.audio.resume(); } catch (e) { alarm.audio = null; }
  if ("Notification" in window && Notification.permission === "default") Notification.requestPermission().catch(() => {});
}

function beep() {
  alarm.triggered += 1;
  document.body.dataset.alarmCount = String(alarm.triggered);  // what a test (or a supervisor) can check
  const now = Date.now();
  if (!alarm.audio || now - (alarm.lastSound || 0) < 1000) return;  // several at once: one sound
  alarm.lastSound = now;
  const start = alarm.audio.currentTime;
  for (let i = 0; i < 3; i += 1) {
    const osc = alarm.audio.createOscillator(), gain = alarm.audio.createGain();
    osc.frequency.value = i % 2 ? 660 : 880;
    gain.gain.setValueAtTime(0.25, start + i * 0.3);
    gain.gain.setValueAtTime(0, start + i * 0.3 + 0.22);
    osc.connect(gain).connect(alarm.audio.destination);
    osc.start(start + i * 0.3);
    osc.stop(start + i * 0.3 + 0.25);
  }
}

function announce(alert) {
  if (alert.status !== "open" || !critical(alert.severity) || alarm.announced.has(alert.id)) return;
  alarm.announced.add(alert.id);
  if (!muted()) beep();
  if ("Notification" in window && Notification.permission === "granted") {
    const n = new Notification(`${t("alarm_title")}: ${named("kinds", alert.kind)}`, { body: alert.resident_name || alert.home_id, tag: `alert-${alert.id}`, requireInteraction: true });
    n.onclick = () => { window.focus(); openIncident(alert.id); };
  }
}

// Unclaimed critical alarms keep sounding every 20 s (unless muted) until someone claims them.
function remind() {
  if (!muted() && [...state.alerts.values()].some((a) => a.status === "open" && critical(a.severity))) beep();
  renderMute();
}

function renderMute() {
  const b = $("#mute");
  b.textContent = muted() ? t("muted_until", { time: new Date(mutedUntil()).toLocaleTimeString(state.lang, { hour: "2-digit", minute: "2-digit" }) }) : t("mute");
  b.classList.toggle("is-muted", muted());
}

function updateTitle() {
  const open = [...state.alerts.values()].filter((a) => a.status === "open").length;
  document.title = open && state.me ? `(${open}) eldercare` : "eldercare";
}

// ---- the shift's closed-alarm log and the handover ------------------------------------------------
// The shift is a time range on the server's clock (8 hours back by default); the inputs show it in
// the browser's time.
const localInput = (ms) => { const d = new Date(ms); return `${isoDay(ms)}T${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`; };
function shiftRange() {
  if (!$("#shift-to").value) { $("#shift-to").value = localInput(serverNow() + 60000); $("#shift-from").value = localInput(serverNow() - 8 * 3600000); }
  const from = new Date($("#shift-from").value), to = new Date($("#shift-to").value);
  return `from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;
}

function handoverSummary(h) {
  const owners = h.owners.map((o) => el("li", { dataset: { owner: o.name || "" } }, `${o.name || t("handover_unclaimed")}: ${o.alarms}`));
  const outcomes = Object.entries(h.outcomes).map(([k, n]) => `${named("outcomes", k)} ${n}`).join(zh() ? "，" : ", ");
  return [el("p", { dataset: { testid: "handover-open" }, textContent: t("handover_open", { n: h.open.length }) }), el("ul", { className: "owners" }, ...owners),
    el("p", { textContent: h.closed.length ? `${t("handover_outcomes")}${colon()}${outcomes}` : t("handover_none") })];
}

async function loadClosed() {
  $("#shift-error").textContent = "";
  let h;
  try { h = await api(`/api/v1/handover?${shiftRange()}`); } catch (e) { $("#shift-error").textContent = e.detail?.[0]?.msg || e.detail || e.message; return; }
  $("#handover-body").replaceChildren(...handoverSummary(h));
  $("#closed-body").replaceChildren(...[...h.closed].reverse().map((a) => el("tr", { dataset: { alertId: a.id } },
    el("td", { textContent: dateTime(a.opened_at) }),
    el("td", {}, sevBadge(el("span", { className: "sev-badge" }), a.severity), " ", named("kinds", a.kind)),
    el("td", { className: "name", textContent: a.resident_name || a.home_id, title: a.resident_name || a.home_id }),
    el("td", { textContent: a.resolved_by_name || a.acknowledged_by_name || t("system") }),
    el("td", { textContent: a.acknowledged_at ? duration((Date.parse(a.acknowledged_at) - Date.parse(a.opened_at)) / 1000) : "–" }),
    el("td", { textContent: named("outcomes", a.outcome) }),
    el("td", { className: "note-cell", textContent: a.resolution_note || "" }),
    el("td", { className: "note-cell", textContent: a.notes.map((n) => `${n.by || t("system")}${colon()}${n.note}`).join("\n") }),
  )));
}

// The shift report: the server writes the CSV (a formula in a note stays text, Excel reads the Chinese).
const exportCsv = () => download(`/api/v1/handover/export.csv?${shiftRange()}&lang=${encodeURIComponent(state.lang)}`).catch((e) => { $("#shift-error").textContent = e.message; });

// ---- wiring ----------------------------------------------------------------------------------
onShow.queue = () => { renderFilters(); renderQueues(); };
onShow.closed = () => loadClosed().catch((e) => console.warn(e.message));
onLanguage.push(() => { if (state.me) { renderFilters(); renderMute(); } renderQueues(); });
streamHandlers.push((name, payload) => {
  if (name === "alert") announce(payload);
  if (name === "gone" && state.view === "closed") loadClosed().catch(() => {});
  renderQueues();
});
document.addEventListener("DOMContentLoaded", () => {
  $("#filter-text").oninput = (e) => { filters.text = e.target.value; renderQueues(); };
  $("#filter-severity").onchange = (e) => { filters.severity = e.target.value; renderQueues(); };
  $("#filter-kind").onchange = (e) => { filters.kind = e.target.value; renderQueues(); };
  $("#mute").onclick = () => { unlockAudio(); localStorage.setItem("muteUntil", muted() ? "0" : String(Date.now() + MUTE_MS)); renderMute(); };
  $("#export-csv").onclick = exportCsv;
  $("#shift-form").onsubmit = (event) => { event.preventDefault(); rendering(loadClosed()); };
  window.addEventListener("eldercare-login", unlockAudio);
  document.addEventListener("click", () => { if (alarm.audio?.state === "suspended") alarm.audio.resume(); });
  setInterval(tickQueues, 1000);
  setInterval(remind, 20000);
});
