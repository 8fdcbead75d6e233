// eldercare care-staff dashboard: plain JavaScript, no build step, nothing from a CDN.
"use strict";

const I18N = {
  "zh-CN": {
    title: "智慧养老 · 护理工作台", nav_queue: "警报队列", nav_board: "老人看板", logout: "退出",
    login_title: "登录", username: "用户名", password: "密码", login: "登录", login_failed: "用户名或密码错误",
    rate_limited: "尝试次数过多，请一分钟后再试", open_alerts: "待处理警报", in_progress: "处理中",
    acknowledge: "确认", resolve: "解决", comment: "添加备注", note_placeholder: "备注",
    resident: "老人", home: "住所", last_activity: "最近活动", alerts: "警报", devices: "设备",
    back: "← 返回看板", timeline: "24 小时活动", summary: "今日概况", live: "实时连接中", reconnecting: "连接中断，正在重连…",
    ago_s: "秒前", ago_m: "分钟前", ago_h: "小时前", ago_d: "天前", never: "无记录", low_battery: "电量低", silent: "无信号",
    ok: "正常", sleep: "睡眠", activity: "活动量", kitchen: "厨房使用", bathroom: "卫生间使用",
    usual: "平时", hours: "小时", motion: "活动次数", none: "无",
  },
  en: {
    title: "eldercare · care dashboard", nav_queue: "Alert queue", nav_board: "Residents", logout: "Log out",
    login_title: "Log in", username: "Username", password: "Password", login: "Log in", login_failed: "Wrong username or password",
    rate_limited: "Too many attempts, wait a minute", open_alerts: "Open alerts", in_progress: "In progress",
    acknowledge: "Acknowledge", resolve: "Resolve", comment: "Add note", note_placeholder: "Note",
    resident: "Resident", home: "Home", last_activity: "Last activity", alerts: "Alerts", devices: "Devices",
    back: "← Back to residents", timeline: "Activity, last 24 h", summary: "Today", live: "Live", reconnecting: "Connection lost, reconnecting…",
    ago_s: "s ago", ago_m: "min ago", ago_h: "h ago", ago_d: "d ago", never: "never", low_battery: "low battery", silent: "silent",
    ok: "ok", sleep: "Sleep", activity: "Activity", kitchen: "Kitchen use", bathroom: "Bathroom use",
    usual: "usual", hours: "h", motion: "motion", none: "none",
  },
};
const state = { lang: localStorage.getItem("lang") || "zh-CN", alerts: new Map(), drafts: new Map(), streamAbort: null, view: "login", agesAt: 0 };
const $ = (sel) => document.querySelector(sel);
const t = (key) => (I18N[state.lang][key] ?? key);

// Alert kinds, severities (and their order) and outcomes, with their names in both languages, come
// from the API: they are declared once, in the server's alert catalogue, and never written here.
const catalogue = { kinds: new Map(), severities: new Map(), outcomes: new Map() };
async function loadCatalogue() {
  const c = await api("/api/v1/alert-catalogue");
  for (const group of ["kinds", "severities", "outcomes"]) catalogue[group] = new Map(c[group].map((entry) => [entry.key, entry]));
}
// A value the catalogue does not know (written by a newer server) shows its key.
const named = (group, key) => { const entry = catalogue[group].get(key); return entry ? (state.lang === "zh-CN" ? entry.zh : entry.en) : key; };
const rank = (severity) => catalogue.severities.get(severity)?.rank ?? -1;
const staffOutcomes = () => [...catalogue.outcomes.values()].filter((o) => o.staff).map((o) => o.key);

// ---- tokens -------------------------------------------------------------------------------
const tokens = {
  get access() { return sessionStorage.getItem("access"); },
  get refresh() { return sessionStorage.getItem("refresh"); },
  set(data) { sessionStorage.setItem("access", data.access_token); sessionStorage.setItem("refresh", data.refresh_token); },
  clear() { sessionStorage.removeItem("access"); sessionStorage.removeItem("refresh"); },
};

async function refreshTokens() {
  if (!tokens.refresh) return false;
  const r = await fetch("/api/v1/auth/refresh", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: tokens.refresh }) });
  if (!r.ok) { tokens.clear(); return false; }
  tokens.set(await r.json());
  return true;
}

async function api(path, options = {}) {
  const call = () => fetch(path, { ...options, headers: { ...(options.headers || {}), Authorization: `Bearer ${tokens.access}` } });
  let r = await call();
  if (r.status === 401 && (await refreshTokens())) r = await call();
  if (r.status === 401) { logout(); throw new Error("unauthenticated"); }
  if (!r.ok) throw new Error(`${r.status}`);
  return r.status === 204 ? null : r.json();
}
const post = (path, body) => api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

// ---- language -----------------------------------------------------------------------------
function setStreamState(key) {
  state.streamState = key;
  $("#stream-state").textContent = key ? t(key) : "";
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  $("#lang-toggle").textContent = state.lang === "zh-CN" ? "English" : "中文";
  setStreamState(state.streamState);
  renderQueues();
  if (state.view === "board") loadBoard();
  if (state.view === "resident" && state.resident) loadResident(state.resident);
}

// A pending fall counts down to the end of its cancel window; every other alert shows its age.
function age(alert) {
  if (alert.status !== "pending" || !alert.pending_until) return ago(alert.opened_at);
  const left = Math.max(0, Math.round((Date.parse(alert.pending_until) - Date.now()) / 1000));
  return `${named("statuses", "pending")} · ${left} s`;
}

function ago(iso) {
  if (!iso) return t("never");
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.round(s)} ${t("ago_s")}`;
  if (s < 3600) return `${Math.round(s / 60)} ${t("ago_m")}`;
  if (s < 86400) return `${Math.round(s / 3600)} ${t("ago_h")}`;
  return `${Math.round(s / 86400)} ${t("ago_d")}`;
}

// ---- views --------------------------------------------------------------------------------
function show(view) {
  state.view = view;
  for (const name of ["login", "queue", "board", "resident"]) $(`#${name}-view`).hidden = name !== view;
  $("#nav").hidden = view === "login";
  document.querySelectorAll(".tab").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
  if (view === "board") loadBoard();
}

async function startSession() {
  const me = await api("/api/v1/auth/me");
  await loadCatalogue();
  $("#whoami").textContent = me.username;
  document.querySelector('.tab[data-view="queue"]').hidden = me.role === "family";  // families have no queue
  show(me.role === "family" ? "board" : "queue");
  if (me.role !== "family") connectStream();
}

function logout() {
  if (state.streamAbort) state.streamAbort.abort();
  const refresh = tokens.refresh;
  tokens.clear();
  state.alerts.clear();
  state.drafts.clear();
  setStreamState(null);
  renderQueues();
  if (refresh) fetch("/api/v1/auth/logout", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: refresh }) });
  show("login");
}

// ---- the live alert stream (fetch, so the token travels in a header, never in the URL) ----
async function connectStream() {
  if (state.streamAbort) state.streamAbort.abort();
  const abort = new AbortController();
  state.streamAbort = abort;
  while (!abort.signal.aborted && tokens.access) {
    try {
      const r = await fetch("/api/v1/alerts/stream", { headers: { Authorization: `Bearer ${tokens.access}` }, signal: abort.signal });
      if (r.status === 401) { if (!(await refreshTokens())) { logout(); return; } continue; }
      setStreamState("live");
      state.alerts.clear();
      await readEvents(r.body.getReader());
      await refreshTokens();  // the server ends the stream when the access token expires
    } catch (err) {
      if (abort.signal.aborted) return;
    }
    setStreamState("reconnecting");
    await new Promise((resolve) => setTimeout(resolve, 1500));
  }
}

async function readEvents(reader) {
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      handleEvent(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
    }
  }
}

function handleEvent(block) {
  let name = "message", data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) name = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (!data) return;
  const payload = JSON.parse(data);
  if (name === "alert") state.alerts.set(payload.id, payload);
  else if (name === "gone") state.alerts.delete(payload.id);
  renderQueues();
}

// Most severe first, then the oldest: the alert that has waited longest at a level comes first.
const queueOrder = (a, b) => (rank(b.severity) - rank(a.severity)) || (Date.parse(a.opened_at) - Date.parse(b.opened_at));

// Re-rendering must not wipe what a worker is typing: unchanged alerts keep their element, drafts
// (note, outcome) live in state.drafts, and the focused field gets its focus back after a reorder.
function renderQueues() {
  const all = [...state.alerts.values()];
  const focused = document.activeElement?.closest?.(".alert") ? document.activeElement : null;
  for (const [status, list, count] of [["open", "#open-queue", "#open-count"], ["acknowledged", "#ack-queue", "#ack-count"]]) {
    const host = $(list);
    const existing = new Map([...host.children].map((li) => [Number(li.dataset.alertId), li]));
    // A pending fall (waiting for the resident's "I'm OK") is shown with the open ones, with its countdown.
    const items = all.filter((a) => a.status === status || (status === "open" && a.status === "pending")).sort(queueOrder).map((alert) => {
      const li = existing.get(alert.id);
      if (li && li.dataset.version === version(alert) && li.dataset.lang === state.lang) {
        li.querySelector(".age").textContent = age(alert);
        return li;
      }
      return renderAlert(alert);
    });
    const same = items.length === host.children.length && items.every((li, i) => li === host.children[i]);
    if (!same) host.replaceChildren(...items);
    $(count).textContent = items.length;
  }
  if (focused && document.contains(focused) && document.activeElement !== focused) focused.focus();
}

const version = (alert) => `${alert.status}|${alert.updated_at}|${alert.escalation_level}|${alert.assigned_to}`;

function draftOf(id) {
  if (!state.drafts.has(id)) state.drafts.set(id, { note: "", outcome: staffOutcomes()[0] });
  return state.drafts.get(id);
}

function renderAlert(alert) {
  const li = $("#alert-template").content.firstElementChild.cloneNode(true);
  const draft = draftOf(alert.id);
  li.dataset.alertId = alert.id;
  li.dataset.severity = alert.severity;
  li.dataset.version = version(alert);
  li.dataset.lang = state.lang;
  li.querySelector(".sev").textContent = named("severities", alert.severity);
  li.querySelector(".kind").textContent = named("kinds", alert.kind);
  li.querySelector(".who").textContent = alert.resident_name || alert.home_id;
  li.querySelector(".age").textContent = age(alert);
  li.dataset.status = alert.status;
  li.querySelector(".explanation").textContent = state.lang === "zh-CN" ? alert.explanation_zh : alert.explanation_en;
  li.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  const noteInput = li.querySelector(".note");
  const outcome = li.querySelector(".outcome");
  noteInput.placeholder = t("note_placeholder");
  outcome.replaceChildren(...staffOutcomes().map((key) => Object.assign(document.createElement("option"), { value: key, textContent: named("outcomes", key) })));
  noteInput.value = draft.note;
  outcome.value = draft.outcome;
  noteInput.oninput = () => { draft.note = noteInput.value; };
  outcome.onchange = () => { draft.outcome = outcome.value; };
  const ack = li.querySelector(".ack");
  ack.hidden = alert.status !== "open";
  const note = () => draft.note.trim() || null;
  const act = (fn) => async () => {
    try {
      const updated = await fn();
      draft.note = "";
      if (updated.status === "resolved") { state.alerts.delete(updated.id); state.drafts.delete(updated.id); } else state.alerts.set(updated.id, updated);
      renderQueues();
    } catch (e) { console.warn(e); }
  };
  ack.onclick = act(() => post(`/api/v1/alerts/${alert.id}/acknowledge`, { note: note() }));
  li.querySelector(".resolve").onclick = act(() => post(`/api/v1/alerts/${alert.id}/resolve`, { outcome: draft.outcome, note: note() }));
  li.querySelector(".comment").onclick = act(() => (note() ? post(`/api/v1/alerts/${alert.id}/comments`, { note: note() }) : Promise.reject(new Error("empty note"))));
  return li;
}

// ---- resident board and resident page -----------------------------------------------------
async function loadBoard() {
  const rows = await api("/api/v1/board");
  $("#board-body").replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    tr.className = "row";
    tr.dataset.residentId = r.resident_id;
    const health = r.gateway_state === "offline" ? named("kinds", "gateway_offline") : r.low_battery ? `${r.low_battery} ${t("low_battery")}` : r.silent ? `${r.silent} ${t("silent")}` : t("ok");
    const cells = [null, r.name, r.home_label || r.home_id, ago(r.last_activity_at), String(r.open_alerts), `${r.devices} · ${health}`];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      if (i === 0) { const dot = document.createElement("span"); dot.className = `dot ${r.status}`; dot.title = r.status; td.append(dot); } else td.textContent = text;
      tr.append(td);
    });
    tr.onclick = () => loadResident(r.resident_id);
    return tr;
  }));
}

async function loadResident(id) {
  state.resident = id;
  show("resident");
  const [resident, timeline, summary] = await Promise.all([
    api(`/api/v1/residents/${id}`), api(`/api/v1/residents/${id}/activity?bucket=hour`), api(`/api/v1/residents/${id}/summary`),
  ]);
  $("#resident-name").textContent = resident.full_name;
  drawTimeline($("#timeline"), timeline);
  const usage = (u) => `${u.today} (${t("usual")} ${u.usual ?? "–"})`;
  const sleep = summary.sleep.hours == null ? t("none") : `${summary.sleep.hours} ${t("hours")}`;
  const entries = [["sleep", sleep], ["activity", usage(summary.activity)], ["kitchen", usage(summary.kitchen)], ["bathroom", usage(summary.bathroom)],
    ["alerts", summary.alerts.map((a) => named("kinds", a.kind)).join(", ") || t("none")]];
  $("#summary").replaceChildren(...entries.flatMap(([k, v]) => { const dt = document.createElement("dt"); dt.textContent = t(k); const dd = document.createElement("dd"); dd.textContent = v; return [dt, dd]; }));
}

// A bar per hour: motion detections, drawn as SVG by hand (no charting library).
function drawTimeline(host, timeline) {
  const NS = "http://www.w3.org/2000/svg";
  const W = 960, H = 200, PAD = 28;
  const from = Date.parse(timeline.from), to = Date.parse(timeline.to);
  const hours = Math.max(1, Math.round((to - from) / 3600000));
  const max = Math.max(1, ...timeline.buckets.map((b) => b.motion));
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", t("timeline"));
  const el = (name, attrs, text) => { const e = document.createElementNS(NS, name); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text) e.textContent = text; svg.append(e); return e; };
  el("line", { x1: PAD, y1: H - PAD, x2: W, y2: H - PAD, stroke: "#999" });
  el("text", { x: 2, y: PAD, "font-size": 11, fill: "#667" }, String(max));
  const slot = (W - PAD) / hours;
  for (const b of timeline.buckets) {
    const i = Math.floor((Date.parse(b.start) - from) / 3600000);
    if (i < 0 || i >= hours) continue;
    const h = ((H - 2 * PAD) * b.motion) / max;
    const bar = el("rect", { x: PAD + i * slot + 1, y: H - PAD - h, width: Math.max(1, slot - 2), height: h, fill: "#457b9d" });
    const tip = document.createElementNS(NS, "title");
    tip.textContent = `${new Date(b.start).toLocaleString(state.lang, { timeZone: timeline.timezone })} · ${b.motion} ${t("motion")}`;
    bar.append(tip);
  }
  for (let i = 0; i < hours; i += Math.max(1, Math.round(hours / 8))) {
    // Hours of the home's own clock, wherever the dashboard is opened.
    const label = new Date(from + i * 3600000).toLocaleTimeString(state.lang, { hour: "2-digit", minute: "2-digit", timeZone: timeline.timezone });
    el("text", { x: PAD + i * slot, y: H - 8, "font-size": 11, fill: "#667" }, label);
  }
  host.replaceChildren(svg);
}

// ---- wiring -------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("#lang-toggle").onclick = () => { state.lang = state.lang === "zh-CN" ? "en" : "zh-CN"; localStorage.setItem("lang", state.lang); applyLanguage(); };
  document.querySelectorAll("[data-view]").forEach((b) => { b.onclick = () => show(b.dataset.view); });
  $("#logout").onclick = logout;
  $("#login-form").onsubmit = async (event) => {
    event.preventDefault();
    $("#login-error").textContent = "";
    const body = new URLSearchParams({ username: $("#login-username").value, password: $("#login-password").value });
    const r = await fetch("/api/v1/auth/token", { method: "POST", body });
    if (!r.ok) { $("#login-error").textContent = t(r.status === 429 ? "rate_limited" : "login_failed"); return; }
    tokens.set(await r.json());
    $("#login-password").value = "";
    await startSession();
  };
  // Keep the ages fresh, and a pending fall's countdown each second while one is shown.
  setInterval(() => {
    const pending = [...state.alerts.values()].some((a) => a.status === "pending");
    if (state.view === "queue" && (pending || Date.now() - state.agesAt >= 30000)) { state.agesAt = Date.now(); renderQueues(); }
  }, 1000);
  applyLanguage();
  if (tokens.access) startSession().catch(() => show("login")); else show("login");
});
