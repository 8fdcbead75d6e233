// eldercare dashboard, the core: words in both languages, tokens, calls, the server's clock, views.
// Plain JavaScript, no build step, nothing from a CDN. console.js (the alarm console), incident.js
// (one alarm's whole story) and people.js (the board, resident cards, the family page) build on it.
"use strict";

const I18N = {
  "zh-CN": {
    title: "智慧养老 · 护理工作台", family_title: "智慧养老 · 家属", nav_queue: "警报队列", nav_board: "老人看板", nav_closed: "已关闭警报", logout: "退出",
    login_title: "登录", username: "用户名", password: "密码", login: "登录", login_failed: "用户名或密码错误",
    rate_limited: "尝试次数过多，请一分钟后再试", open_alerts: "待处理警报", in_progress: "处理中", queue_empty: "没有待处理的警报。",
    claim: "认领", claimed_by: "处理人：", unclaimed: "无人认领", resolve: "解决", comment: "添加备注", note_placeholder: "备注",
    open_incident: "打开", back_queue: "← 返回警报队列", waited: "已等待", escalates_in: "后升级", escalation_level: "升级级别",
    overdue: "已超时", resident: "老人", home: "住所", last_activity: "最近活动", alerts: "警报", devices: "设备",
    back: "← 返回看板", timeline: "24 小时活动", last_week: "最近七天活动与警报（▲ 为警报）", summary: "今日概况", live: "实时连接中", reconnecting: "连接中断，正在重连…",
    ago_s: "秒前", ago_m: "分钟前", ago_h: "小时前", ago_d: "天前", never: "无记录", low_battery: "电量低", silent: "无信号",
    ok: "正常", sleep: "睡眠", activity: "活动量", kitchen: "厨房使用", bathroom: "卫生间使用",
    usual: "平时", hours: "小时", motion: "活动次数", none: "无", all_severities: "全部级别", all_kinds: "全部类型",
    search_placeholder: "搜索老人或住所", legend: "图例：", evidence: "检测依据", protocol: "处置步骤", resolve_title: "结案",
    history: "处理记录", notifications: "已发送通知", last_hour: "住所最近一小时", confirm_yes: "确认结案", cancel: "取消",
    confirm_text: "确定以“{outcome}”结案吗？结案后警报将从队列移除。", note_required: "紧急警报结案须填写处理说明。",
    resolve_note_placeholder: "处理说明（发生了什么、做了什么）", export_csv: "导出 CSV", opened: "发生", kind: "类型",
    handled_by: "处理人", ack_time: "响应用时", outcome: "结果", note: "说明", system: "系统",
    mute: "静音 15 分钟", muted_until: "已静音至 {time}（点击取消）", alarm_title: "紧急警报", claim_first: "请先认领此警报。",
    call: "拨打", no_phone: "无电话号码", step_done: "已记录", dispatch: "派人上门", contact_n: "联系人 {n}",
    card_title: "老人档案", phone: "电话", age: "年龄", born: "出生", address: "地址", access: "进门方式",
    conditions: "健康状况", allergies: "过敏", medication: "用药", contacts: "紧急联系人", battery: "电量", last_seen: "最近信号",
    usual_up: "作息", usual_up_text: "通常 {time} 前起床", usual_up_weekend: "（周末 {time}）", edit: "编辑", save: "保存", saved: "已保存", years: "岁", centre_phone: "护理中心电话",
    m_motion: "有活动", m_door_open: "开门", m_bed_occupied: "在床", m_door: "门", m_bed: "床", m_presence: "有人", n_sent: "已送达", n_pending: "待发送", n_failed: "发送失败", n_cancelled: "已取消",
    p_opened: "新警报", p_reminder: "提醒", p_escalation: "升级", p_resolved: "结案",
    fam_today: "今天", fam_up_at: "起床时间", fam_kitchen: "厨房", fam_active: "活动", fam_week: "最近七天", fam_alerts: "警报与护理中心的处理",
    fam_none: "这段时间没有警报。", fam_status_open: "护理中心已收到，正在处理", fam_status_ack: "护理中心 {who} 正在处理",
    fam_status_done: "已处理完毕", fam_call: "有疑问请致电护理中心", fam_what: "护理中心做了什么：", fam_more: "比平时多", fam_less: "比平时少",
    fam_usual: "和平时差不多", fam_no_data: "暂无数据",
    nav_oversight: "区域监督", district_title: "智慧养老 · 区域监督", ov_title: "区域监督：各护理中心", ov_from: "从", ov_to: "到", ov_apply: "查询", ov_centre: "护理中心",
    ov_homes: "在线监护住所", ov_devices: "正常设备", ov_open: "未结警报", ov_unclaimed: "无人认领", ov_overdue: "超时未认领",
    ov_alarms: "警报数", ov_claim: "认领用时 p50 / p90", ov_close: "结案用时 p50 / p90", ov_weeks: "按周（ISO 周，中心当地时间）", ov_week: "周",
    ov_none: "没有可查看的护理中心。", ov_note: "只含统计数字，不含任何老人或警报的个人信息。",
    shift_from: "班次开始", shift_to: "班次结束", shift_apply: "查看", handover: "交接班摘要", handover_open: "未结警报 {n} 条",
    handover_unclaimed: "无人认领", handover_outcomes: "本班结案", handover_none: "本班没有结案的警报。", notes: "处理备注",
    add_contact: "添加联系人", contact_name: "姓名", contact_relation: "关系", move_up: "上移", move_down: "下移", remove: "删除",
    card_changes: "修改记录", emergency_contacts: "紧急联系人",
  },
  en: {
    title: "eldercare · care console", family_title: "eldercare · family", nav_queue: "Alarms", nav_board: "Residents", nav_closed: "Closed alarms", logout: "Log out",
    login_title: "Log in", username: "Username", password: "Password", login: "Log in", login_failed: "Wrong username or password",
    rate_limited: "Too many attempts, wait a minute", open_alerts: "Open alarms", in_progress: "In progress", queue_empty: "No open alarms.",
    claim: "Claim", claimed_by: "Handled by ", unclaimed: "unclaimed", resolve: "Resolve", comment: "Add note", note_placeholder: "Note",
    open_incident: "Open", back_queue: "← Back to the alarms", waited: "waiting", escalates_in: "until escalation", escalation_level: "escalation level",
    overdue: "overdue", resident: "Resident", home: "Home", last_activity: "Last activity", alerts: "Alerts", devices: "Devices",
    back: "← Back to residents", timeline: "Activity, last 24 h", last_week: "The last seven days, alerts marked ▲", summary: "Today", live: "Live", reconnecting: "Connection lost, reconnecting…",
    ago_s: "s ago", ago_m: "min ago", ago_h: "h ago", ago_d: "d ago", never: "never", low_battery: "low battery", silent: "silent",
    ok: "ok", sleep: "Sleep", activity: "Activity", kitchen: "Kitchen use", bathroom: "Bathroom use",
    usual: "usual", hours: "h", motion: "motion", none: "none", all_severities: "All severities", all_kinds: "All kinds",
    search_placeholder: "Search resident or home", legend: "Legend: ", evidence: "Evidence", protocol: "Protocol", resolve_title: "Close the alarm",
    history: "What was done", notifications: "Notifications sent", last_hour: "The home's last hour", confirm_yes: "Yes, close it", cancel: "Cancel",
    confirm_text: "Close this alarm as “{outcome}”? It leaves the queue.", note_required: "A critical alarm needs a note saying what happened.",
    resolve_note_placeholder: "What happened, what was done", export_csv: "Export CSV", opened: "Opened", kind: "Kind",
    handled_by: "Handled by", ack_time: "Time to claim", outcome: "Outcome", note: "Note", system: "system",
    mute: "Mute 15 min", muted_until: "Muted until {time} (click to unmute)", alarm_title: "Critical alarm", claim_first: "Claim this alarm first.",
    call: "Call", no_phone: "no phone number", step_done: "logged", dispatch: "Send someone", contact_n: "Contact {n}",
    card_title: "Resident card", phone: "Phone", age: "Age", born: "Born", address: "Address", access: "Access",
    conditions: "Conditions", allergies: "Allergies", medication: "Medication", contacts: "Emergency contacts", battery: "battery", last_seen: "last seen",
    usual_up: "Routine", usual_up_text: "usually up by {time}", usual_up_weekend: " (weekends {time})", edit: "Edit", save: "Save", saved: "Saved", years: "years", centre_phone: "Care centre phone",
    m_motion: "movement", m_door_open: "door opened", m_bed_occupied: "in bed", m_door: "door", m_bed: "bed", m_presence: "presence", n_sent: "delivered", n_pending: "pending", n_failed: "failed", n_cancelled: "cancelled",
    p_opened: "new alarm", p_reminder: "reminder", p_escalation: "escalation", p_resolved: "closed",
    fam_today: "Today", fam_up_at: "Up at", fam_kitchen: "Kitchen", fam_active: "Moving around", fam_week: "The last seven days", fam_alerts: "Alerts and what the care centre did",
    fam_none: "No alerts in this time.", fam_status_open: "The care centre has it and is acting", fam_status_ack: "{who} at the care centre is handling it",
    fam_status_done: "Dealt with", fam_call: "Questions? Call the care centre", fam_what: "What the care centre did: ", fam_more: "more than usual", fam_less: "less than usual",
    fam_usual: "about as usual", fam_no_data: "no data yet",
    nav_oversight: "Oversight", district_title: "eldercare · district oversight", ov_title: "District oversight: care centres", ov_from: "From", ov_to: "To", ov_apply: "Show", ov_centre: "Care centre",
    ov_homes: "Homes monitored", ov_devices: "Devices healthy", ov_open: "Open alarms", ov_unclaimed: "unclaimed", ov_overdue: "Overdue (unclaimed)",
    ov_alarms: "Alarms", ov_claim: "Time to claim p50 / p90", ov_close: "Time to close p50 / p90", ov_weeks: "Per week (ISO weeks, the centre's local time)", ov_week: "Week",
    ov_none: "No care centre to show.", ov_note: "Figures only: nothing about any resident or alarm in person.",
    shift_from: "Shift from", shift_to: "to", shift_apply: "Show", handover: "Handover", handover_open: "{n} open alarms",
    handover_unclaimed: "unclaimed", handover_outcomes: "Closed this shift", handover_none: "No alarm was closed in this shift.", notes: "Notes",
    add_contact: "Add contact", contact_name: "Name", contact_relation: "Relation", move_up: "Move up", move_down: "Move down", remove: "Remove",
    card_changes: "Changes", emergency_contacts: "Emergency contacts",
  },
};
// The language follows the browser until someone picks one; the pick is remembered on this computer.
const browserLang = () => ((navigator.languages || [navigator.language]).find((l) => /^(zh|en)/i.test(l)) || "zh").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
const state = { lang: localStorage.getItem("lang") || browserLang(), alerts: new Map(), streamAbort: null, view: "login", me: null };
const $ = (sel) => document.querySelector(sel);
const t = (key, vars = {}) => Object.entries(vars).reduce((s, [k, v]) => s.replace(`{${k}}`, v), I18N[state.lang][key] ?? key);
const zh = () => state.lang === "zh-CN";
const colon = () => (zh() ? "：" : ": ");
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (k === "dataset") Object.assign(e.dataset, v); else if (v != null) e[k] = v;
  e.append(...children.filter((c) => c != null));
  return e;
};

// Alert kinds, severities (and their order), outcomes, actions, protocol steps and results, with their
// names in both languages, come from the API: declared once, in the server's alert catalogue.
const catalogue = { kinds: new Map(), severities: new Map(), statuses: new Map(), outcomes: new Map(), actions: new Map(), steps: new Map(), attempt_results: new Map() };
async function loadCatalogue() {
  const c = await api("/api/v1/alert-catalogue");
  for (const group of Object.keys(catalogue)) catalogue[group] = new Map(c[group].map((entry) => [entry.key, entry]));
}
// A value the catalogue does not know (written by a newer server) shows its key.
const named = (group, key) => { const entry = catalogue[group].get(key); return entry ? (zh() ? entry.zh : entry.en) : key; };
const rank = (severity) => catalogue.severities.get(severity)?.rank ?? -1;
const critical = (severity) => rank(severity) === Math.max(...[...catalogue.severities.values()].map((s) => s.rank));
const staffOutcomes = () => [...catalogue.outcomes.values()].filter((o) => o.staff).map((o) => o.key);

// ---- tokens and calls ----------------------------------------------------------------------
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

class ApiError extends Error { constructor(status, detail) { super(`${status}: ${detail}`); this.status = status; this.detail = detail; } }

async function api(path, options = {}) {
  const call = () => fetch(path, { ...options, headers: { ...(options.headers || {}), Authorization: `Bearer ${tokens.access}` } });
  let r = await call();
  if (r.status === 401 && (await refreshTokens())) r = await call();
  if (r.status === 401) { logout(); throw new ApiError(401, "unauthenticated"); }
  if (!r.ok) { let detail = ""; try { detail = (await r.json()).detail; } catch (e) { /* not JSON */ } throw new ApiError(r.status, detail); }
  return r.status === 204 ? null : r.json();
}
// A file the server writes (a CSV export) saved through a link: the token travels in a header, never in a URL.
async function download(path) {
  const call = () => fetch(path, { headers: { Authorization: `Bearer ${tokens.access}` } });
  let r = await call();
  if (r.status === 401 && (await refreshTokens())) r = await call();
  if (!r.ok) throw new ApiError(r.status, r.statusText);
  const name = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "")?.[1] || "export.csv";
  const link = el("a", { href: URL.createObjectURL(await r.blob()), download: name });
  document.body.append(link);
  link.click();
  link.remove();
}
const send = (method, path, body) => api(path, { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
const post = (path, body) => send("POST", path, body);

// ---- the server's clock ------------------------------------------------------------------
// Every age and countdown is counted from the server's data clock, which a demo runs faster than
// the wall: its last reading, advanced by `speed` times the wall time measured since.
const clock = { base: Date.now(), at: performance.now(), speed: 1 };
function setServerClock(nowIso, speed) { clock.base = Date.parse(nowIso); clock.at = performance.now(); clock.speed = speed || 1; }
const serverNow = () => clock.base + (performance.now() - clock.at) * clock.speed;
async function syncClock() { const c = await api("/api/v1/clock"); setServerClock(c.now, c.speed); }

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} ${zh() ? "秒" : "s"}`;
  if (s < 3600) return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")} ${zh() ? "分" : "min"}`;
  if (s < 86400) return `${Math.floor(s / 3600)} ${zh() ? "小时" : "h"} ${Math.floor((s % 3600) / 60)} ${zh() ? "分" : "min"}`;
  return `${Math.floor(s / 86400)} ${zh() ? "天" : "d"}`;
}
const since = (iso) => (serverNow() - Date.parse(iso)) / 1000;
function ago(iso) {
  if (!iso) return t("never");
  const s = Math.max(0, since(iso));
  if (s < 60) return `${Math.round(s)} ${t("ago_s")}`;
  if (s < 3600) return `${Math.round(s / 60)} ${t("ago_m")}`;
  if (s < 86400) return `${Math.round(s / 3600)} ${t("ago_h")}`;
  return `${Math.round(s / 86400)} ${t("ago_d")}`;
}
// A calendar day in the browser's time, as a date input holds it.
const isoDay = (ms) => { const d = new Date(ms); return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`; };
const clockTime = (iso, zone) => new Date(iso).toLocaleTimeString(state.lang, { hour: "2-digit", minute: "2-digit", ...(zone ? { timeZone: zone } : {}) });
const dateTime = (iso) => new Date(iso).toLocaleString(state.lang, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });

// ---- views ---------------------------------------------------------------------------------
const VIEWS = ["login", "queue", "incident", "closed", "board", "resident", "family", "oversight"];
const onShow = {};  // view name -> loader, filled by the other scripts

function show(view) {
  state.view = view;
  for (const name of VIEWS) $(`#${name}-view`).hidden = name !== view;
  $("#nav").hidden = view === "login";  // nothing to navigate before logging in
  document.querySelectorAll(".tab").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
  rendering(onShow[view]?.());
}

// While a view loads, <body data-rendering> says so (a screenshot, or a test, waits for it to go).
let pendingRenders = 0;
function rendering(promise) {
  if (!promise?.finally) return;
  pendingRenders += 1;
  document.body.dataset.rendering = "1";
  promise.finally(() => { pendingRenders -= 1; if (!pendingRenders) delete document.body.dataset.rendering; });
}

function setStreamState(key) {
  state.streamState = key;
  $("#stream-state").textContent = key ? t(key) : "";
}

const onLanguage = [];  // re-render hooks of the other scripts
function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((e) => { e.placeholder = t(e.dataset.i18nPlaceholder); });
  if (state.me?.role === "family") $("#app-title").textContent = t("family_title");
  if (state.me?.role === "district") $("#app-title").textContent = t("district_title");
  $("#lang-toggle").textContent = zh() ? "English" : "中文";
  setStreamState(state.streamState);
  onLanguage.forEach((hook) => hook());
  if (state.view !== "login") rendering(onShow[state.view]?.());
}

async function startSession() {
  const me = await api("/api/v1/auth/me");
  state.me = me;
  await Promise.all([loadCatalogue(), syncClock()]);
  $("#whoami").textContent = me.username;
  const family = me.role === "family", district = me.role === "district";
  // A district office reads figures across its centres, nothing about anyone: no queue, no board.
  document.querySelectorAll(".staff-only, .tab[data-view='queue']").forEach((e) => { e.hidden = family || district; });
  document.querySelectorAll(".oversight-only").forEach((e) => { e.hidden = !["admin", "district"].includes(me.role); });
  applyLanguage();
  show(family ? "family" : district ? "oversight" : "queue");
  if (!family && !district) connectStream();
}

function logout() {
  if (state.streamAbort) state.streamAbort.abort();
  const refresh = tokens.refresh;
  tokens.clear();
  state.alerts.clear();
  state.me = null;
  setStreamState(null);
  onLanguage.forEach((hook) => hook());
  if (refresh) fetch("/api/v1/auth/logout", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: refresh }) });
  $("#app-title").textContent = t("title");
  show("login");
}

// ---- the live alert stream (fetch, so the token travels in a header, never in the URL) ------
const streamHandlers = [];  // (name, payload) hooks of the other scripts
async function connectStream() {
  if (state.streamAbort) state.streamAbort.abort();
  const abort = new AbortController();
  state.streamAbort = abort;
  let lastEventId = null;
  while (!abort.signal.aborted && tokens.access) {
    try {
      const headers = { Authorization: `Bearer ${tokens.access}`, ...(lastEventId ? { "Last-Event-ID": lastEventId } : {}) };
      const r = await fetch("/api/v1/alerts/stream", { headers, signal: abort.signal });
      if (r.status === 401) { if (!(await refreshTokens())) { logout(); return; } continue; }
      setStreamState("live");
      await readEvents(r.body.getReader(), (id) => { lastEventId = id; });
      await refreshTokens();  // the server ends the stream when the access token expires
    } catch (err) {
      if (abort.signal.aborted) return;
    }
    setStreamState("reconnecting");
    await new Promise((resolve) => setTimeout(resolve, 1500));
  }
}

async function readEvents(reader, seenId) {
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      handleEvent(buffer.slice(0, cut), seenId);
      buffer = buffer.slice(cut + 2);
    }
  }
}

function handleEvent(block, seenId) {
  let name = "message", data = "", id = null;
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) name = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
    else if (line.startsWith("id: ")) id = line.slice(4);
  }
  if (!data) return;
  if (id) seenId(id);
  const payload = JSON.parse(data);
  if (name === "clock") setServerClock(payload.now, payload.speed);
  else if (name === "alert") state.alerts.set(payload.id, payload);
  else if (name === "gone") state.alerts.delete(payload.id);
  else if (name === "synced") { const keep = new Set(payload.ids); for (const id2 of [...state.alerts.keys()]) if (!keep.has(id2)) state.alerts.delete(id2); }
  streamHandlers.forEach((hook) => hook(name, payload));
}

// ---- wiring --------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("#lang-toggle").onclick = () => { state.lang = zh() ? "en" : "zh-CN"; localStorage.setItem("lang", state.lang); applyLanguage(); };
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
    window.dispatchEvent(new Event("eldercare-login"));  // a user gesture: the alarm may ask for sound and notifications
    await startSession();
  };
  setInterval(() => { if (state.me && !["family", "district"].includes(state.me.role)) syncClock().catch(() => {}); }, 60000);
  applyLanguage();
  if (tokens.access) startSession().catch(() => show("login")); else show("login");
});
