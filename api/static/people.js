// The people: the resident board, the resident card (editable by the centre's staff), a resident's
// page, and the family page in plain words.
"use strict";

// ---- the resident card -------------------------------------------------------------------------
const telLink = (phone) => (phone ? el("a", { href: `tel:${phone.replace(/[^\d+]/g, "")}`, className: "tel", textContent: `☎ ${phone}` }) : el("span", { className: "warn", textContent: t("no_phone") }));

function ageOf(r) {
  const now = new Date(serverNow());
  if (r.date_of_birth) {
    const born = new Date(`${r.date_of_birth}T00:00:00Z`);
    let age = now.getUTCFullYear() - born.getUTCFullYear();
    if (now.getUTCMonth() < born.getUTCMonth() || (now.getUTCMonth() === born.getUTCMonth() && now.getUTCDate() < born.getUTCDate())) age -= 1;
    return age;
  }
  return r.birth_year ? now.getUTCFullYear() - r.birth_year : null;
}

// The learned routine in words: "usually up by 07:40 (weekends 08:10)".
function usualUp(wake) {
  if (!wake || wake.weekday == null) return t("fam_no_data");
  const hhmm = (s) => `${String(Math.floor(s / 3600)).padStart(2, "0")}:${String(Math.floor(s / 60) % 60).padStart(2, "0")}`;
  return t("usual_up_text", { time: hhmm(wake.weekday) }) + (wake.weekend != null && wake.weekend !== wake.weekday ? t("usual_up_weekend", { time: hhmm(wake.weekend) }) : "");
}

function fact(label, value, cls = "") {
  return [el("dt", { textContent: t(label) }), el("dd", { className: cls }, ...(Array.isArray(value) ? value : [value ?? "–"]))];
}

function residentCard(r, devices, { editable }) {
  if (!r) return [el("h3", { textContent: t("card_title") }), el("p", { className: "muted", textContent: t("none") })];
  const age = ageOf(r);
  const facts = el("dl", { className: "facts" },
    ...fact("usual_up", usualUp(r.usual_wake_s)),
    ...fact("age", age != null ? `${age} ${t("years")}${r.date_of_birth ? ` (${t("born")} ${r.date_of_birth})` : ""}` : null),
    ...fact("phone", telLink(r.phone)),
    ...fact("address", r.address), ...fact("access", r.access_notes, "access"),
    ...fact("conditions", r.conditions), ...fact("allergies", r.allergies, r.allergies ? "allergy" : ""), ...fact("medication", r.medication_notes),
    ...fact("centre_phone", [r.care_centre_name, " ", telLink(r.care_centre_phone)]));
  const contacts = el("ol", { className: "contacts", dataset: { testid: "contacts" } }, ...r.emergency_contacts.map((c) => el("li", {},
    el("span", { className: "name", textContent: `${c.name}${c.relation ? ` (${c.relation})` : ""}` }), " ", telLink(c.phone))));
  const deviceList = el("ul", { className: "devices" }, ...(devices || []).map((d) => el("li", { className: d.status !== "ok" ? "warn" : "" },
    `${d.kind}${d.room ? ` · ${d.room}` : ""} · ${t("battery")} ${d.battery_pct != null ? `${Math.round(d.battery_pct)}%` : "–"} · ${t("last_seen")} ${ago(d.last_seen_at)}`)));
  const nodes = [el("h3", { textContent: t("card_title") }), el("p", { className: "name card-name", textContent: r.full_name, title: r.full_name }), facts,
    el("h4", { textContent: t("contacts") }), contacts, el("h4", { textContent: t("devices") }), deviceList];
  if (editable) nodes.push(editButton(r));
  return nodes;
}

const EDITABLE = [["phone", "phone"], ["date_of_birth", "born"], ["address", "address"], ["access_notes", "access"], ["conditions", "conditions"], ["allergies", "allergies"], ["medication_notes", "medication"]];

// The emergency contacts in the order they are called: rows to fill in, move up or down, remove, add.
// What the form does not show (a contact's e-mail, its notification address) travels along unchanged.
function contactRow(c = {}) {
  const input = (key, label, attrs = {}) => el("input", { name: `contact_${key}`, value: c[key] || "", placeholder: t(label), ...attrs });
  const row = el("li", { className: "contact-edit", dataset: { testid: "contact-edit" } },
    input("name", "contact_name", { maxLength: 200 }), input("relation", "contact_relation", { maxLength: 200 }),
    input("phone", "phone", { maxLength: 40, type: "tel" }));
  row.extra = Object.fromEntries(Object.entries(c).filter(([key]) => !["name", "relation", "phone"].includes(key)));
  const move = (delta) => {
    const list = row.parentNode;
    if (delta < 0 && row.previousElementSibling) list.insertBefore(row, row.previousElementSibling);
    if (delta > 0 && row.nextElementSibling) list.insertBefore(row.nextElementSibling, row);
  };
  row.append(el("button", { type: "button", textContent: "↑", title: t("move_up"), ariaLabel: t("move_up"), onclick: () => move(-1) }),
    el("button", { type: "button", textContent: "↓", title: t("move_down"), ariaLabel: t("move_down"), onclick: () => move(1) }),
    el("button", { type: "button", textContent: "✕", title: t("remove"), ariaLabel: t("remove"), onclick: () => row.remove() }));
  return row;
}

function contactsOf(list) {
  return [...list.children].map((row) => {
    const value = (key) => row.querySelector(`[name="contact_${key}"]`).value.trim() || null;
    return { ...row.extra, name: value("name"), relation: value("relation"), phone: value("phone") };
  }).filter((c) => c.name || c.phone).map((c) => Object.fromEntries(Object.entries(c).filter(([, v]) => v != null)));
}

function editButton(r) {
  const contacts = el("ol", { className: "contacts-edit", dataset: { testid: "contacts-edit" } }, ...r.emergency_contacts.map((c) => contactRow(c)));
  const form = el("form", { className: "card-edit", hidden: true, dataset: { testid: "card-edit" } },
    ...EDITABLE.map(([key, label]) => el("label", {}, el("span", { textContent: t(label) }),
      el(key === "date_of_birth" ? "input" : "textarea", { name: key, value: r[key] || "", ...(key === "date_of_birth" ? { type: "date" } : { rows: 1, maxLength: 2000 }) }))),
    el("h4", { textContent: t("contacts") }), contacts,
    el("button", { type: "button", textContent: `+ ${t("add_contact")}`, dataset: { testid: "add-contact" }, onclick: () => { contacts.append(contactRow()); contacts.lastChild.querySelector("input").focus(); } }),
    el("button", { type: "submit", textContent: t("save") }), el("span", { className: "saved muted", role: "status" }),
    el("h4", { textContent: t("card_changes") }), el("ol", { className: "changes muted", dataset: { testid: "card-changes" } }));
  form.onsubmit = async (event) => {
    event.preventDefault();
    // Only what changed: the audit then names exactly the fields someone touched.
    const body = Object.fromEntries(EDITABLE.map(([key]) => [key, form.elements[key].value.trim() || null]).filter(([key, value]) => value !== (r[key] || null)));
    const edited = contactsOf(contacts);
    if (JSON.stringify(edited) !== JSON.stringify(r.emergency_contacts)) body.emergency_contacts = edited;
    try { await send("PATCH", `/api/v1/residents/${r.id}`, body); form.querySelector(".saved").textContent = t("saved"); loadResident(r.id); } catch (e) { form.querySelector(".saved").textContent = Array.isArray(e.detail) ? e.detail.map((d) => `${d.loc.slice(1).join(".")}: ${d.msg}`).join("; ") : e.detail || e.message; }
  };
  const loadChanges = async () => {
    const changes = await api(`/api/v1/residents/${r.id}/changes`);
    form.querySelector(".changes").replaceChildren(...changes.slice(0, 10).map((c) => el("li", { textContent: `${dateTime(c.at)} ${c.actor}${colon()}${c.fields.map((f) => t(EDITABLE.find(([key]) => key === f)?.[1] || f)).join(zh() ? "、" : ", ")}` })));
  };
  const button = el("button", { textContent: t("edit"), dataset: { testid: "card-edit-button" }, onclick: () => { form.hidden = !form.hidden; if (!form.hidden) loadChanges().catch(() => {}); } });
  return el("div", {}, button, form);
}

// ---- the board and a resident's page -------------------------------------------------------------
async function loadBoard() {
  const rows = await api("/api/v1/board");
  $("#board-body").replaceChildren(...rows.map((r) => {
    const health = r.gateway_state === "offline" ? named("kinds", "gateway_offline") : r.low_battery ? `${r.low_battery} ${t("low_battery")}` : r.silent ? `${r.silent} ${t("silent")}` : t("ok");
    const tr = el("tr", { className: "row", dataset: { residentId: r.resident_id } },
      el("td", {}, el("span", { className: `dot ${r.status}`, title: r.status })),
      el("td", { className: "name", textContent: r.name, title: r.name }), el("td", { className: "name", textContent: r.home_label || r.home_id }),
      el("td", { textContent: ago(r.last_activity_at) }), el("td", { textContent: String(r.open_alerts) }), el("td", { textContent: `${r.devices} · ${health}` }));
    tr.onclick = () => { state.resident = r.resident_id; show("resident"); };
    return tr;
  }));
}

async function loadResident(id) {
  const now = new Date(serverNow()), weekAgo = new Date(now.getTime() - 7 * 86400000);
  const range = `from=${encodeURIComponent(weekAgo.toISOString())}&to=${encodeURIComponent(now.toISOString())}`;
  const [resident, timeline, summary, week, alerts] = await Promise.all([
    api(`/api/v1/residents/${id}`), api(`/api/v1/residents/${id}/activity?bucket=hour`), api(`/api/v1/residents/${id}/summary`),
    api(`/api/v1/residents/${id}/activity?bucket=day&${range}`), api(`/api/v1/alerts?resident_id=${id}&${range}&limit=200`),
  ]);
  drawTimeline($("#week"), week, 86400000, alerts.items);
  const devices = await api(`/api/v1/devices?home_id=${encodeURIComponent(resident.home_id)}`);
  $("#resident-name").textContent = resident.full_name;
  $("#resident-card").replaceChildren(...residentCard(resident, devices, { editable: state.me?.role !== "family" }));
  drawTimeline($("#timeline"), timeline);
  const usage = (u) => `${u.today} (${t("usual")} ${u.usual ?? "–"})`;
  const sleep = summary.sleep.hours == null ? t("none") : `${summary.sleep.hours} ${t("hours")}`;
  const entries = [["sleep", sleep], ["activity", usage(summary.activity)], ["kitchen", usage(summary.kitchen)], ["bathroom", usage(summary.bathroom)],
    ["alerts", summary.alerts.map((a) => named("kinds", a.kind)).join(", ") || t("none")]];
  $("#summary").replaceChildren(...entries.flatMap(([k, v]) => fact(k, v)));
}

// A bar per bucket (motion detections), drawn as SVG by hand (no charting library).
function drawTimeline(host, timeline, hourMs = 3600000, alerts = []) {
  const NS = "http://www.w3.org/2000/svg";
  const W = 960, H = 200, PAD = 28;
  const from = Date.parse(timeline.from), to = Date.parse(timeline.to);
  const slots = Math.max(1, Math.round((to - from) / hourMs));
  const max = Math.max(1, ...timeline.buckets.map((b) => b.motion));
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", t("timeline"));
  const add = (name, attrs, text) => { const e = document.createElementNS(NS, name); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text) e.textContent = text; svg.append(e); return e; };
  add("line", { x1: PAD, y1: H - PAD, x2: W, y2: H - PAD, stroke: "#999" });
  add("text", { x: 2, y: PAD, "font-size": 11, fill: "#667" }, String(max));
  const slot = (W - PAD) / slots;
  for (const b of timeline.buckets) {
    const i = Math.floor((Date.parse(b.start) - from) / hourMs);
    if (i < 0 || i >= slots) continue;
    const h = ((H - 2 * PAD) * b.motion) / max;
    const bar = add("rect", { x: PAD + i * slot + 1, y: H - PAD - h, width: Math.max(1, slot - 2), height: h, fill: "#457b9d" });
    const tip = document.createElementNS(NS, "title");
    tip.textContent = `${new Date(b.start).toLocaleString(state.lang, { timeZone: timeline.timezone })} · ${b.motion} ${t("motion")}`;
    bar.append(tip);
  }
  // Alerts marked on their slot: a red triangle (its kind in the tooltip).
  for (const a of alerts) {
    const i = Math.floor((Date.parse(a.opened_at) - from) / hourMs);
    if (i < 0 || i >= slots) continue;
    const x = PAD + (i + 0.5) * slot;
    const mark = add("polygon", { points: `${x - 7},${PAD + 2} ${x + 7},${PAD + 2} ${x},${PAD - 10}`, fill: "#c62828", class: "alert-mark" });
    const tip = document.createElementNS(NS, "title");
    tip.textContent = `${dateTime(a.opened_at)} · ${named("kinds", a.kind)}`;
    mark.append(tip);
  }
  const daily = hourMs > 3600000;
  for (let i = 0; i < slots; i += Math.max(1, Math.round(slots / 8))) {
    // The home's own clock, wherever the dashboard is opened.
    const at = new Date(from + i * hourMs);
    const label = daily ? at.toLocaleDateString(state.lang, { month: "2-digit", day: "2-digit", timeZone: timeline.timezone })
      : at.toLocaleTimeString(state.lang, { hour: "2-digit", minute: "2-digit", timeZone: timeline.timezone });
    add("text", { x: PAD + i * slot, y: H - 8, "font-size": 11, fill: "#667" }, label);
  }
  host.replaceChildren(svg);
}

// ---- the family page ----------------------------------------------------------------------------
function compared(u) {
  if (u.usual == null || u.ratio == null) return t("fam_no_data");
  return u.ratio > 1.3 ? t("fam_more") : u.ratio < 0.7 ? t("fam_less") : t("fam_usual");
}

function familyStatus(a) {
  if (a.status === "resolved") return `${t("fam_status_done")}${colon()}${named("outcomes", a.outcome)}`;
  return a.assigned_to_name ? t("fam_status_ack", { who: a.assigned_to_name }) : t("fam_status_open");
}

async function familyAlert(a) {
  const story = await api(`/api/v1/alerts/${a.id}`);
  const done = story.history.filter((h) => h.action === "attempted")
    .map((h) => `${named("steps", h.details.step)}${h.details.contact_name ? ` (${h.details.contact_name})` : ""}${colon()}${named("attempt_results", h.details.result)}`);
  return el("li", { className: "family-alert", dataset: { alertId: a.id, status: a.status } },
    el("p", {}, el("time", { textContent: dateTime(a.opened_at) }), " ", el("strong", { textContent: named("kinds", a.kind) }), " — ", familyStatus(a)),
    el("p", { className: "muted", textContent: zh() ? a.explanation_zh : a.explanation_en }),
    done.length ? el("p", { textContent: `${t("fam_what")}${done.join(zh() ? "；" : "; ")}` }) : null,
    a.resolution_note ? el("blockquote", { textContent: a.resolution_note }) : null);
}

async function familyResident(r) {
  const now = new Date(serverNow());
  const weekAgo = new Date(now.getTime() - 7 * 86400000);
  const [summary, week, alerts] = await Promise.all([
    api(`/api/v1/residents/${r.id}/summary`),
    api(`/api/v1/residents/${r.id}/activity?bucket=day&from=${encodeURIComponent(weekAgo.toISOString())}&to=${encodeURIComponent(now.toISOString())}`),
    api(`/api/v1/alerts?resident_id=${r.id}&limit=20`),
  ]);
  const chart = el("div", { className: "week" });
  drawTimeline(chart, week, 86400000, alerts.items);
  const today = el("dl", { className: "facts" },
    ...fact("fam_up_at", summary.sleep.up_at ? clockTime(summary.sleep.up_at, summary.timezone) : t("fam_no_data")),
    ...fact("fam_kitchen", compared(summary.kitchen)), ...fact("fam_active", compared(summary.activity)));
  return el("article", { className: "card family-card", dataset: { residentId: r.id } },
    el("h2", { className: "name", textContent: r.full_name, title: r.full_name }),
    el("p", { className: "call-centre" }, `${t("fam_call")}: ${r.care_centre_name} `, telLink(r.care_centre_phone)),
    el("h3", { textContent: t("fam_today") }), today,
    el("h3", { textContent: t("fam_week") }), chart,
    el("h3", { textContent: t("fam_alerts") }),
    alerts.items.length ? el("ol", { className: "family-alerts", dataset: { testid: "family-alerts" } }, ...(await Promise.all(alerts.items.map(familyAlert)))) : el("p", { className: "muted", textContent: t("fam_none") }));
}

async function loadFamily() {
  const residents = await api("/api/v1/residents");
  $("#family-view").replaceChildren(...(await Promise.all(residents.map(familyResident))));
}

onShow.board = () => loadBoard().catch((e) => console.warn(e.message));
onShow.resident = () => (state.resident ? loadResident(state.resident).catch((e) => console.warn(e.message)) : null);
onShow.family = () => loadFamily().catch((e) => console.warn(e.message));
