// One alarm's whole story: what was detected and why (both languages), every action with who, when
// and note, escalation, notifications and their delivery, the home's last hour, the resident card,
// and the care centre's protocol step by step (each attempt logged with its outcome).
"use strict";

const incident = { id: null, alert: null, resident: null, devices: [] };

async function openIncident(id) {
  if (incident.id !== id) { $("#inc-outcome").value = ""; $("#inc-note").value = ""; $("#inc-comment").value = ""; }
  $("#inc-confirm").hidden = true;
  $("#inc-resolve-error").textContent = "";
  incident.id = id;
  show("incident");
}

async function loadIncident() {
  if (incident.id == null) return;
  const alert = await api(`/api/v1/alerts/${incident.id}`);
  setServerClock(alert.server_now, clock.speed);
  incident.alert = alert;
  if (alert.resident_id != null && incident.resident?.id !== alert.resident_id) {
    [incident.resident, incident.devices] = await Promise.all([api(`/api/v1/residents/${alert.resident_id}`), api(`/api/v1/devices?home_id=${encodeURIComponent(alert.home_id)}`)]);
  } else if (alert.resident_id == null) {
    incident.resident = null;
    incident.devices = await api(`/api/v1/devices?home_id=${encodeURIComponent(alert.home_id)}`);
  }
  renderIncident();
}

function renderIncident() {
  const a = incident.alert;
  $("#incident-view").dataset.status = a.status;
  $("#incident-view").dataset.severity = a.severity;
  sevBadge($("#inc-sev"), a.severity);
  $("#inc-kind").textContent = named("kinds", a.kind);
  $("#inc-who").textContent = a.resident_name || a.home_id;
  $("#inc-state").textContent = [catalogueStatus(a.status), a.assigned_to_name ? `${t("claimed_by")}${a.assigned_to_name}` : t("unclaimed")].join(" · ");
  tickIncident();
  $("#inc-explanation").textContent = zh() ? a.explanation_zh : a.explanation_en;
  $("#inc-explanation-other").textContent = zh() ? a.explanation_en : a.explanation_zh;
  $("#inc-evidence").textContent = JSON.stringify(a.evidence, null, 2);
  renderWork(a);
  renderHistory(a.history);
  renderNotifications(a.notifications);
  $("#inc-activity").replaceChildren(...a.activity.slice(0, 60).map((x) => el("li", {}, el("time", { textContent: clockTime(x.at) }), ` ${activityName(x.what)}`, x.room ? ` · ${x.room}` : "")));
  if (!a.activity.length) $("#inc-activity").replaceChildren(el("li", { className: "muted", textContent: t("none") }));
  $("#inc-card").replaceChildren(...residentCard(incident.resident, incident.devices, { editable: false }));
}

// A reading or an event in the home; an event that is also an alert kind (fall, sos) is named by the catalogue.
const activityName = (what) => (I18N[state.lang][`m_${what}`] ?? (catalogue.kinds.has(what) ? named("kinds", what) : what));
const catalogueStatus = (status) => named("statuses", status);

function tickIncident() {
  const a = incident.alert;
  if (!a || state.view !== "incident") return;
  const waited = a.acknowledged_at ? (Date.parse(a.acknowledged_at) - Date.parse(a.opened_at)) / 1000 : since(a.opened_at);
  $("#inc-clock").textContent = [`${t("opened")} ${dateTime(a.opened_at)}`, `${a.acknowledged_at ? t("ack_time") : t("waited")} ${duration(waited)}`, escalationText(a)].filter(Boolean).join(" · ");
}

function renderWork(a) {
  const open = a.status === "open", done = a.status === "resolved";
  $("#inc-work").hidden = done || !state.me || state.me.role === "family";
  $("#inc-claim-row").hidden = !open;
  // Live re-rendering (the stream, a language switch) keeps what the worker chose and typed.
  const chosen = $("#inc-outcome").value;
  $("#inc-outcome").replaceChildren(el("option", { value: "", textContent: "—" }), ...staffOutcomes().map((k) => el("option", { value: k, textContent: named("outcomes", k) })));
  $("#inc-outcome").value = chosen;
  $("#inc-note").placeholder = t("resolve_note_placeholder");
  $("#inc-comment").placeholder = t("note_placeholder");
  $("#inc-steps").replaceChildren(...protocolSteps(a).map((step) => renderStep(step, a)));
  $("#inc-steps").classList.toggle("locked", open);
}

// The protocol in order: the resident, each emergency contact in their order, then someone to the door.
function protocolSteps(a) {
  const r = incident.resident;
  const steps = [{ step: "call_resident", who: r?.full_name || a.home_id, phone: r?.phone }];
  (r?.emergency_contacts || []).forEach((c, i) => steps.push({ step: "call_contact", index: i, who: `${t("contact_n", { n: i + 1 })}: ${c.name}${c.relation ? ` (${c.relation})` : ""}`, phone: c.phone }));
  steps.push({ step: "dispatch", who: [r?.address, r?.access_notes].filter(Boolean).join(" · ") });
  return steps;
}

const RESULTS = { call_resident: ["answered_ok", "answered_needs_help", "no_answer", "busy", "wrong_number"], call_contact: ["answered_ok", "answered_needs_help", "no_answer", "busy", "wrong_number"], dispatch: ["dispatched", "on_site"] };

function renderStep(s, a) {
  const tries = a.history.filter((h) => h.action === "attempted" && h.details.step === s.step && (s.index == null || h.details.contact_index === s.index));
  const li = el("li", { className: "step", dataset: { step: s.step, ...(s.index != null ? { contact: String(s.index) } : {}), tries: String(tries.length) } });
  li.append(el("strong", { textContent: named("steps", s.step) }), " ", el("span", { className: "name", textContent: s.who || "" }), " ");
  if (s.step !== "dispatch") li.append(s.phone ? el("a", { href: `tel:${s.phone.replace(/[^\d+]/g, "")}`, className: "tel", textContent: `☎ ${s.phone}` }) : el("span", { className: "warn", textContent: t("no_phone") }));
  const buttons = el("div", { className: "results" }, ...RESULTS[s.step].map((result) => el("button", {
    textContent: named("attempt_results", result), dataset: { result }, disabled: a.status !== "acknowledged",
    onclick: () => logAttempt(s, result),
  })));
  li.append(buttons, el("ul", { className: "tries" }, ...tries.map((h) => el("li", { textContent: `${clockTime(h.at)} ${named("attempt_results", h.details.result)} · ${h.actor_name || t("system")}${h.note ? ` · ${h.note}` : ""}` }))));
  return li;
}

async function logAttempt(s, result) {
  const body = { step: s.step, result, ...(s.index != null ? { contact_index: s.index } : {}), note: $("#inc-comment").value.trim() || null };
  try { incident.alert = await post(`/api/v1/alerts/${incident.id}/attempts`, body); $("#inc-comment").value = ""; renderIncident(); } catch (e) { $("#inc-resolve-error").textContent = e.status === 409 ? t("claim_first") : e.detail || e.message; }
}

function renderHistory(history) {
  $("#inc-history").replaceChildren(...history.map((h) => {
    const detail = h.action === "attempted" ? `${named("steps", h.details.step)}${h.details.contact_name ? ` (${h.details.contact_name})` : ""}: ${named("attempt_results", h.details.result)}`
      : h.action === "resolved" ? named("outcomes", h.details.outcome) : h.action === "escalated" ? `${t("escalation_level")} ${h.details.level}` : "";
    return el("li", { dataset: { action: h.action } }, el("time", { textContent: dateTime(h.at) }), " ",
      el("strong", { textContent: named("actions", h.action) }), detail ? ` — ${detail}` : "", ` · ${h.actor_name || t("system")}`,
      h.note ? el("blockquote", { textContent: h.note }) : null);
  }));
}

function renderNotifications(list) {
  $("#inc-notifications").replaceChildren(...list.map((n) => el("tr", { dataset: { status: n.status } },
    el("td", { textContent: dateTime(n.created_at) }), el("td", { textContent: t(`p_${n.purpose}`) }),
    el("td", { textContent: n.channel_name ? `${n.channel_name} (${n.channel_kind})` : n.recipient_name || "" }),
    el("td", { className: `n-${n.status}`, textContent: `${t(`n_${n.status}`)}${n.attempts > 1 ? ` ×${n.attempts}` : ""}` }))));
  if (!list.length) $("#inc-notifications").replaceChildren(el("tr", {}, el("td", { className: "muted", textContent: t("none") })));
}

async function claimIncident() {
  try { incident.alert = await post(`/api/v1/alerts/${incident.id}/acknowledge`, { note: null }); renderIncident(); } catch (e) { $("#inc-resolve-error").textContent = e.detail || e.message; await loadIncident(); }
}

// Resolving asks for an outcome, a note when the alarm is critical, and a confirmation.
function askResolve() {
  const a = incident.alert, outcome = $("#inc-outcome").value, note = $("#inc-note").value.trim();
  $("#inc-resolve-error").textContent = "";
  if (!outcome) { $("#inc-resolve-error").textContent = `${t("outcome")}?`; return; }
  if (catalogue.severities.get(a.severity)?.note_required && !note) { $("#inc-resolve-error").textContent = t("note_required"); return; }
  $("#inc-confirm-text").textContent = t("confirm_text", { outcome: named("outcomes", outcome) });
  $("#inc-confirm").hidden = false;
}

async function resolveIncident() {
  const body = { outcome: $("#inc-outcome").value, note: $("#inc-note").value.trim() || null };
  try { incident.alert = await post(`/api/v1/alerts/${incident.id}/resolve`, body); state.alerts.delete(incident.id); $("#inc-note").value = ""; $("#inc-confirm").hidden = true; renderIncident(); renderQueues(); } catch (e) { $("#inc-resolve-error").textContent = e.detail || e.message; }
}

async function addComment() {
  const note = $("#inc-comment").value.trim();
  if (!note) return;
  try { incident.alert = await post(`/api/v1/alerts/${incident.id}/comments`, { note }); $("#inc-comment").value = ""; renderIncident(); } catch (e) { $("#inc-resolve-error").textContent = e.detail || e.message; }
}

onShow.incident = () => loadIncident().catch((e) => console.warn(e.message));
streamHandlers.push((name, payload) => {
  // Someone else claimed it, an escalation, a note: the open incident follows the stream.
  if (state.view === "incident" && payload.id === incident.id && (name === "alert" || name === "gone")) loadIncident().catch(() => {});
});
document.addEventListener("DOMContentLoaded", () => {
  $("#inc-claim").onclick = claimIncident;
  $("#inc-resolve").onclick = askResolve;
  $("#inc-confirm-yes").onclick = resolveIncident;
  $("#inc-confirm-no").onclick = () => { $("#inc-confirm").hidden = true; };
  $("#inc-comment-add").onclick = addComment;
  setInterval(tickIncident, 1000);
});
