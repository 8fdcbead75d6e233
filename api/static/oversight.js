// District oversight: figures across the care centres a district office oversees (admins see all):
// homes monitored, devices healthy, open and overdue alarms now; time to claim and to close
// (p50 / p90) over a range, per centre and per ISO week; the same as a CSV file.
"use strict";

const DAY_MS = 86400000;
// The range as the API reads it: from the first day's midnight to the end of the last day (browser time).
function oversightRange() {
  if (!$("#ov-to").value) { $("#ov-to").value = isoDay(serverNow()); $("#ov-from").value = isoDay(serverNow() - 27 * DAY_MS); }
  const from = new Date(`${$("#ov-from").value}T00:00:00`), to = new Date(new Date(`${$("#ov-to").value}T00:00:00`).getTime() + DAY_MS);
  return `from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;
}

const pair = (p50, p90) => (p50 == null ? "–" : `${duration(p50)} / ${duration(p90)}`);
const outOf = (n, total) => el("span", { className: total && n < total ? "warn" : "", textContent: `${n} / ${total}` });

function centreRow(c) {
  return el("tr", { dataset: { centreId: c.care_centre_id } },
    el("td", { className: "name", textContent: c.name, title: c.name }),
    el("td", { dataset: { figure: "homes" } }, outOf(c.homes_monitored, c.homes)),
    el("td", { dataset: { figure: "devices" } }, outOf(c.devices_healthy, c.devices)),
    el("td", { dataset: { figure: "open" }, textContent: `${c.open_alarms} (${c.unclaimed_alarms} ${t("ov_unclaimed")})` }),
    el("td", { dataset: { figure: "overdue" }, className: c.overdue_alarms ? "overdue" : "", textContent: String(c.overdue_alarms) }),
    el("td", { dataset: { figure: "alarms" }, textContent: String(c.period.alerts) }),
    el("td", { dataset: { figure: "claim" }, textContent: pair(c.period.ack_p50_s, c.period.ack_p90_s) }),
    el("td", { dataset: { figure: "close" }, textContent: pair(c.period.resolve_p50_s, c.period.resolve_p90_s) }));
}

async function loadOversight() {
  $("#ov-error").textContent = "";
  let data;
  try { data = await api(`/api/v1/oversight?${oversightRange()}`); } catch (e) { $("#ov-error").textContent = e.detail?.[0]?.msg || e.detail || e.message; return; }
  $("#ov-centres").replaceChildren(...data.centres.map(centreRow));
  $("#ov-empty").hidden = data.centres.length > 0;
  $("#ov-weeks").replaceChildren(...data.centres.flatMap((c) => c.weeks.map((w) => el("tr", { dataset: { centreId: c.care_centre_id, week: w.week } },
    el("td", { className: "name", textContent: c.name, title: c.name }), el("td", { textContent: w.week }), el("td", { textContent: String(w.alerts) }),
    el("td", { textContent: pair(w.ack_p50_s, w.ack_p90_s) }), el("td", { textContent: pair(w.resolve_p50_s, w.resolve_p90_s) })))));
}

onShow.oversight = () => loadOversight().catch((e) => console.warn(e.message));
document.addEventListener("DOMContentLoaded", () => {
  $("#ov-form").onsubmit = (event) => { event.preventDefault(); rendering(loadOversight()); };
  $("#ov-export").onclick = () => download(`/api/v1/oversight/export.csv?${oversightRange()}&lang=${encodeURIComponent(state.lang)}`).catch((e) => { $("#ov-error").textContent = e.message; });
});
