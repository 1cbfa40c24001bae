// The supervisor's screen: alarms first, the site plan, wind and crane panels, charts, devices.
// Loaded once from the API, then kept current by the live stream (GET /api/v1/events); no polling.
"use strict";
const API = "/api/v1";
const S = {
  site: null, me: null, channels: new Map(), alarms: new Map(), devices: new Map(), cycles: [],
  chart: {channel: null, points: []}, lastEventId: null, live: false, planUrl: null, trends: new Map(),
};
const $ = id => document.getElementById(id);
const esc = s => String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));

// --- the API -------------------------------------------------------------------------------------
function token() { return localStorage.getItem("smartsite-token") || ""; }
function authHeaders() { return token() ? {Authorization: "Bearer " + token()} : {}; }
class ApiError extends Error {
  constructor(status, detail) { super(`${status}: ${detail}`); this.status = status; this.detail = detail; }
}
async function api(path, options = {}) {
  const headers = {...authHeaders(), ...(options.body ? {"Content-Type": "application/json"} : {})};
  const r = await fetch(API + path, {...options, headers});
  if (!r.ok) {
    let detail = r.statusText;
    try { const body = await r.json(); detail = typeof body.detail === "string" ? body.detail : body.detail.map(d => d.msg).join("; "); } catch (_) { /* not JSON */ }
    throw new ApiError(r.status, detail);
  }
  return r.headers.get("content-type")?.includes("json") ? r.json() : r.blob();
}

// --- formatting ----------------------------------------------------------------------------------
function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  const pad = n => String(n).padStart(2, "0");
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function channelInfo(id) { return S.site?.channels.find(c => c.id === id); }
function decimals(res) { const s = String(res); return s.includes(".") ? s.split(".")[1].length : 0; }
function num(v, channel) {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  const info = channelInfo(channel);
  // The API rounded to the channel's resolution; without one, two decimals (a wind level: none).
  const places = info?.resolution ? decimals(info.resolution) : info?.quantity === "wind_level" ? 0 : 2;
  return Number(v).toFixed(Math.min(6, places));
}
function withUnit(v, unit, channel) { return `${num(v, channel)}${unit ? " " + unit : ""}`; }
function deviceOf(id) { return S.site?.devices.find(d => d.id === id); }
function deviceName(id) { const d = deviceOf(id); return d ? d.name : id; }
function gradeName(g) { return t("grade" + (g || 0)); }

// --- alarms --------------------------------------------------------------------------------------
function sortedAlarms() {
  const showClosed = $("show-closed").checked;
  const rank = a => (a.active ? 0 : a.status !== "closed" ? 1 : 2);
  return [...S.alarms.values()]
    .filter(a => showClosed || a.status !== "closed")
    .sort((a, b) => rank(a) - rank(b) || (b.active ? b.grade : 0) - (a.active ? a.grade : 0) ||
      String(b.updated_at).localeCompare(String(a.updated_at)));
}
function alarmCard(a) {
  const grade = a.active ? a.grade : 0;
  const where = [deviceName(a.device), a.position].filter(Boolean).join(" · ");
  const forecast = a.forecast && a.forecast.time_to_limit_s != null
    ? ` · ${t("forecast")} ${t("minutes", {n: Math.max(0, Math.round(a.forecast.time_to_limit_s / 60))})}` : "";
  return `<li><a class="card g${grade}${a.active ? "" : " inactive"}${a.status === "closed" ? " closed" : ""}"
      href="#/alarms/${encodeURIComponent(a.id)}" data-alarm="${esc(a.id)}">
    <div class="top"><span class="chip g${grade}">${esc(a.active ? gradeName(a.grade) : t("cleared"))}</span>
      <span class="what">${esc(what(a))}</span></div>
    <div class="meta">${esc(where)}</div>
    <div class="meta">${esc(t("value"))} <b>${esc(withUnit(a.value, a.unit, a.channel))}</b> / ${esc(t("limit"))} ${esc(withUnit(a.limit, a.unit, a.channel))}${esc(forecast)}</div>
    <div class="meta">${esc(when(a.updated_at))} · ${esc(t(a.status))}${a.assignee ? " · " + esc(a.assignee) : ""}</div>
  </a></li>`;
}
function what(a) {
  // What is wrong, in the screen's language: the quantity of the channel, and the rule that judged it.
  const info = channelInfo(a.channel);
  return `${info ? quantityName(info.quantity) : a.channel} · ${a.rule}`;
}
function renderAlarms() {
  const list = sortedAlarms();
  const active = list.filter(a => a.active).length;
  $("alarm-summary").textContent = active ? t("active_n", {n: active}) : t("none_active");
  $("alarm-list").innerHTML = list.length ? list.map(alarmCard).join("") : `<li class="small">${esc(t("no_alarms"))}</li>`;
}
function takeAlarmEvent(e) {
  // An alarm event from the data: the record changes at once; the desk's full record follows.
  const known = S.alarms.get(e.alarm_id);
  const record = known || {id: e.alarm_id, status: "open", channel: e.channel, rule: e.rule,
    device: (channelInfo(e.channel) || {}).device, raised_at: e.ts, max_grade: e.grade};
  Object.assign(record, {grade: e.grade, state: e.state, active: e.state !== "cleared", value: e.value,
    limit: e.limit, unit: e.unit, message: e.message, updated_at: e.ts, forecast: e.forecast || record.forecast});
  S.alarms.set(record.id, record);
  if (!known) setTimeout(() => refreshAlarm(record.id), 400);
}
async function refreshAlarm(id) {
  try { const a = await api(`/alarms/${encodeURIComponent(id)}`); delete a.audit; S.alarms.set(a.id, a); schedule(); }
  catch (_) { /* it may be kept off the desk (maintenance): the event shows it meanwhile */ }
}

// --- the alarm dialog (deep links #/alarms/<id>) --------------------------------------------------
let openAlarm = null;
async function route() {
  const m = location.hash.match(/^#\/alarms\/(.+)$/);
  const dialog = $("alarm-dialog");
  if (!m) { openAlarm = null; if (dialog.open) dialog.close(); return; }
  openAlarm = decodeURIComponent(m[1]);
  $("action-error").hidden = true;
  try {
    const a = await api(`/alarms/${encodeURIComponent(openAlarm)}`);
    renderDialog(a);
    if (!dialog.open) dialog.showModal();
  } catch (err) {
    renderDialog({id: openAlarm, message: err.status === 404 ? "404" : err.message, audit: []});
    if (!dialog.open) dialog.showModal();
  }
}
function renderDialog(a) {
  const grade = a.active ? a.grade : 0;
  $("alarm-title").innerHTML = `<span class="chip g${grade}">${esc(a.active ? gradeName(a.grade) : t("cleared"))}</span> ${esc(a.channel ? what(a) : a.message || a.id)}`;
  const facts = [
    [t("where"), [deviceName(a.device), a.position].filter(Boolean).join(" · ")],
    [t("value"), withUnit(a.value, a.unit, a.channel)], [t("limit"), withUnit(a.limit, a.unit, a.channel)],
    [t("rule"), a.rule], [t("status"), a.status ? t(a.status) + (a.assignee ? ` → ${a.assignee}` : "") : "–"],
    [t("raised"), when(a.raised_at)], [t("updated"), when(a.updated_at)],
  ];
  if (a.rectify_deadline) facts.push([t("deadline"), when(a.rectify_deadline)]);
  $("alarm-message").textContent = a.message || "";
  $("alarm-facts").innerHTML = facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("");
  const status = a.status;
  $("ack-form").hidden = status !== "open";
  $("assign-form").hidden = !status || status === "closed";
  $("close-form").hidden = !status || status === "closed";
  $("override-field").hidden = !a.active;
  $("close-form").elements.override_reason.required = !!a.active;
  $("alarm-audit").innerHTML = (a.audit || []).map(x =>
    `<li>${esc(when(x.ts))} · <b>${esc(x.action)}</b> · ${esc(x.actor)}${x.note ? " · " + esc(x.note) : ""}</li>`).join("");
}
function localIso(value) {
  // <input type=datetime-local> gives local wall time without an offset: add this device's offset.
  const d = new Date(value);
  const off = -d.getTimezoneOffset(), sign = off >= 0 ? "+" : "-", abs = Math.abs(off);
  const pad = n => String(n).padStart(2, "0");
  return `${value.length === 16 ? value + ":00" : value}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}
async function act(action, form) {
  const data = Object.fromEntries(new FormData(form).entries());
  const body = {};
  for (const [k, v] of Object.entries(data)) if (String(v).trim()) body[k] = k === "deadline" ? localIso(v) : String(v).trim();
  const error = $("action-error");
  error.hidden = true;
  try {
    const record = await api(`/alarms/${encodeURIComponent(openAlarm)}/${action}`, {method: "POST", body: JSON.stringify(body)});
    S.alarms.set(record.id, record);
    form.reset();
    schedule();
    await route();
  } catch (err) {
    error.textContent = err.status === 401 ? t("not_signed_in") : err.status === 403 ? t("needs_role") : err.detail || err.message;
    error.hidden = false;
  }
}

// --- plan, wind, crane, devices ------------------------------------------------------------------
function deviceGrade(id) {
  let g = 0;
  for (const a of S.alarms.values()) if (a.active && a.device === id) g = Math.max(g, a.grade);
  return g;
}
function isStale(id) { const d = S.devices.get(id); return !d || ["stale", "no_data", "failing"].includes(d.state); }
function renderPlan() {
  const box = $("plan-box");
  if (!S.site.plan) { box.innerHTML = `<p class="none small">${esc(t("no_plan"))}</p>`; }
  else {
    const markers = S.site.devices.filter(d => d.plan_xy).map(d => {
      const stale = isStale(d.id), g = deviceGrade(d.id);
      const label = `${d.name} · ${t(S.devices.get(d.id)?.state || "no_data")}${g ? " · " + gradeName(g) : ""}`;
      return `<button type="button" class="marker g${g}${stale ? " stale" : ""}" data-device="${esc(d.id)}"
        style="left:${(d.plan_xy[0] * 100).toFixed(2)}%;top:${(d.plan_xy[1] * 100).toFixed(2)}%"
        title="${esc(label)}" aria-label="${esc(label)}"><span>${esc(d.name)}</span></button>`;
    }).join("");
    box.innerHTML = `${S.planUrl ? `<img src="${S.planUrl}" alt="${esc(t("plan"))}">` : ""}${markers}`;
  }
  $("plan-legend").innerHTML = [0, 1, 2, 3].map(g => `<span class="dot chip g${g}"></span>${esc(gradeName(g))}`).join("") +
    `<span class="dot" style="background:#9aa0a6"></span>${esc(t("legend_stale"))}`;
}
function value(id) { return S.channels.get(id)?.value ?? null; }
function tile(label, v, unit, channel) { return `<div class="tile"><small>${esc(label)}</small><b>${esc(withUnit(v, unit, channel))}</b></div>`; }
function renderWind() {
  const winds = S.site.winds || [];
  $("wind").hidden = !winds.length;
  $("wind-body").innerHTML = winds.map(w => {
    const level = value(w.level);
    const banner = level === null ? "" : level >= w.stop_lifting_level
      ? `<div class="banner stop">${esc(t("stop_lifting", {n: w.stop_lifting_level}))}</div>`
      : level >= w.watch_level ? `<div class="banner watch">${esc(t("watch", {n: w.watch_level}))}</div>`
      : `<div class="banner go">${esc(t("lifting_ok"))}</div>`;
    return `<h3>${esc(deviceName(w.device))}</h3>${banner}<div class="tiles">` +
      ["wind_3s", "wind_2min", "wind_10min", "gust"].map(q => tile(t(q), value(w.means[q]), "m/s", w.means[q])).join("") +
      tile(t("level"), level, "", w.level) + `</div>`;
  }).join("");
}
function rated(chart, radius) {
  if (radius === null || !chart.length) return null;
  if (radius <= chart[0][0]) return chart[0][1];
  for (let i = 1; i < chart.length; i++) {
    const [r0, l0] = chart[i - 1], [r1, l1] = chart[i];
    if (radius <= r1) return l0 + (l1 - l0) * (radius - r0) / (r1 - r0);
  }
  return chart[chart.length - 1][1];
}
function renderCrane() {
  const cranes = S.site.cranes || [];
  $("crane").hidden = !cranes.length;
  $("crane-body").innerHTML = cranes.map(c => {
    const load = value(c.load), radius = value(c.radius), ratedLoad = rated(c.chart, radius);
    const moment = value(c.moment_ratio);
    const share = load !== null && ratedLoad ? load / ratedLoad : null;
    const g = share === null ? 0 : share >= c.ratios.red ? 3 : share >= c.ratios.orange ? 2 : share >= c.ratios.yellow ? 1 : 0;
    const colour = ["#2e9d4f", "#e6c229", "#f08a24", "#d7263d"][g];
    const cycles = S.cycles.filter(x => x.crane === c.device).slice(0, 5);
    return `<h3>${esc(deviceName(c.device))}</h3>
      <div class="small">${esc(t("load"))} ${esc(withUnit(load, "t", c.load))} / ${esc(t("rated"))} ${esc(withUnit(ratedLoad, "t"))} @ ${esc(withUnit(radius, "m", c.radius))}</div>
      <div class="bar-meter" role="meter" aria-valuemin="0" aria-valuemax="120" aria-valuenow="${share === null ? 0 : Math.round(share * 100)}" aria-label="${esc(t("load"))}"><i style="width:${Math.min(100, (share || 0) * 100).toFixed(1)}%;background:${colour}"></i></div>
      <div class="tiles">${tile(t("moment"), moment === null ? null : moment * 100, "%")}${tile(t("radius"), radius, "m", c.radius)}
      ${c.height ? tile(t("height"), value(c.height), "m", c.height) : ""}${c.slew ? tile(t("slew"), value(c.slew), "°", c.slew) : ""}</div>
      <h3>${esc(t("cycles"))}</h3><ul class="rows small">${cycles.length ? cycles.map(x =>
        `<li><span>${esc(when(x.start))}</span><span>${esc(withUnit(x.peak_load_t, "t"))} · ${esc(withUnit(x.peak_load_ratio === null ? null : x.peak_load_ratio * 100, "%"))}</span></li>`).join("")
        : `<li>${esc(t("no_cycles"))}</li>`}</ul>`;
  }).join("");
}
// --- pit and formwork: each monitoring point against its limits, with its trend and forecast --------
const TREND_CHANNELS = 6;  // charts on the panel; the channel chart below shows any other
function valueLimits(info) {
  const limits = [];
  for (const l of info.limits.filter(l => l.of === "value")) {
    for (const side of ["upper", "lower"]) for (const g of ["yellow", "orange", "red"]) {
      if (l[side] && l[side][g] !== null && l[side][g] !== undefined) limits.push({value: l[side][g], grade: g});
    }
  }
  return limits;
}
function trendChannels() {
  // The monitoring points: channels judged against value limits that are no crane's or anemometer's.
  const panels = new Set([...(S.site.cranes || []).map(c => c.device), ...(S.site.winds || []).map(w => w.device)]);
  return S.site.channels.filter(c => !panels.has(c.device) && !c.derived_by && valueLimits(c).length).slice(0, TREND_CHANNELS);
}
function forecastOf(channel) {
  // The soonest forecast of an active alarm on the channel (rate, time-to-limit, failure rules).
  let best = null;
  for (const a of S.alarms.values()) {
    const ttl = a.active && a.channel === channel && a.forecast ? a.forecast.time_to_limit_s : null;
    if (ttl !== null && ttl !== undefined && (best === null || ttl < best)) best = ttl;
  }
  return best;
}
async function loadTrends() {
  for (const c of trendChannels()) {
    try {
      const h = await api(`/channels/${encodeURIComponent(c.id)}/history?step=60s`);
      S.trends.set(c.id, h.points.map(p => [Date.parse(p.ts), p.mean]));
    } catch (_) { S.trends.set(c.id, []); /* no store: the live readings alone */ }
  }
  schedule();
}
function renderTrends() {
  const channels = trendChannels();
  $("trends").hidden = !channels.length;
  $("trends-body").replaceChildren(...channels.map(c => {
    const limits = valueLimits(c), v = value(c.id);
    const red = Math.max(...limits.map(l => l.value));
    const active = [...S.alarms.values()].filter(a => a.active && a.channel === c.id);
    const grade = active.reduce((g, a) => Math.max(g, a.grade), 0);
    const ttl = forecastOf(c.id);
    const box = document.createElement("div");
    box.className = "trend";
    box.innerHTML = `<h3>${esc(deviceName(c.device))} · ${esc(quantityName(c.quantity))}</h3>
      <div class="small"><span class="chip g${grade}">${esc(gradeName(grade))}</span>
        ${esc(withUnit(v, c.unit, c.id))} / ${esc(t("limit"))} ${esc(withUnit(red, c.unit, c.id))} ·
        ${ttl === null ? esc(t("no_forecast")) : `${esc(t("time_to_limit"))} ${esc(t("minutes", {n: Math.max(0, Math.round(ttl / 60))}))}`}</div>`;
    box.append(lineChart((S.trends.get(c.id) || []).slice(-600), limits, c.unit, x => num(x, c.id)));
    return box;
  }));
}
function renderDevices() {
  $("device-list").innerHTML = S.site.devices.map(d => {
    const v = S.devices.get(d.id) || {};
    const link = v.link ? (v.link.connected ? t("link_up") : t("link_down")) : "";
    const good = v.last_good ? `${t("last_good")} ${when(v.last_good.ts)}` : "";
    return `<li><span>${esc(d.name)}<br><small class="small">${esc([d.position, good, link].filter(Boolean).join(" · "))}</small></span>
      <span class="state ${esc(v.state || "no_data")}">${esc(t(v.state || "no_data"))}</span></li>`;
  }).join("");
}

// --- charts --------------------------------------------------------------------------------------
async function loadChart(id) {
  S.chart = {channel: id, points: []};
  try {
    const h = await api(`/channels/${encodeURIComponent(id)}/history?step=30s`);
    if (S.chart.channel === id) S.chart.points = h.points.map(p => [Date.parse(p.ts), p.mean]);
  } catch (_) { /* no store: the live readings alone */ }
  renderChart();
}
function renderChart() {
  const id = S.chart.channel, info = channelInfo(id);
  if (!info) { $("chart").innerHTML = ""; return; }
  $("chart").replaceChildren(lineChart(S.chart.points.slice(-600), valueLimits(info), info.unit, v => num(v, id)));
}

// --- rendering, batched to one frame -------------------------------------------------------------
let pending = false;
function schedule() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; renderAll(); });
}
function renderAll() {
  if (!S.site) return;
  renderAlarms(); renderPlan(); renderWind(); renderCrane(); renderTrends(); renderDevices(); renderChart();
}
function renderWho() {
  $("who").textContent = S.me && S.me.person ? `${S.me.person}` : S.me && token() ? S.me.role : t("sign_in");
}

// --- loading and the live stream -----------------------------------------------------------------
async function loadAll() {
  const [site, me, channels, alarms, devices] = await Promise.all([
    api("/site"), api("/me"), api("/channels"), api("/alarms?limit=500"), api("/devices")]);
  S.site = site; S.me = me;
  S.channels = new Map(channels.map(c => [c.id, c]));
  S.alarms = new Map(alarms.map(a => [a.id, a]));
  S.devices = new Map(devices.map(d => [d.id, d]));
  $("site-name").textContent = site.name;
  document.title = `${site.name} · smartsite`;
  const select = $("chart-channel");
  if (!select.options.length) {
    select.innerHTML = site.channels.map(c => `<option value="${esc(c.id)}">${esc(deviceName(c.device))} · ${esc(c.quantity)}${c.unit ? " (" + esc(c.unit) + ")" : ""}</option>`).join("");
  }
  if (site.plan && !S.planUrl) {
    try { S.planUrl = URL.createObjectURL(await api("/site/plan")); } catch (_) { /* shown without */ }
  }
  api("/cycles?limit=20").then(c => { S.cycles = c.cycles; schedule(); }).catch(() => {});
  loadTrends().catch(() => {});
  renderWho();
  if (!S.chart.channel && site.channels.length) loadChart(select.value);
  schedule();
}
function setLive(on) {
  S.live = on;
  const el = $("live");
  el.className = "live " + (on ? "on" : "off");
  el.textContent = on ? t("live") : t("offline");
}
function takeEvent(kind, data, id) {
  if (id) S.lastEventId = id;
  if (kind === "readings") {
    for (const r of data.readings) {
      const c = S.channels.get(r.channel);
      if (c) Object.assign(c, {value: r.value, ts: r.ts, quality: r.quality});
      if (r.channel === S.chart.channel && r.value !== null) S.chart.points.push([Date.parse(r.ts), r.value]);
      if (S.trends.has(r.channel) && r.value !== null) S.trends.get(r.channel).push([Date.parse(r.ts), r.value]);
    }
  } else if (kind === "alarm_event") takeAlarmEvent(data);
  else if (kind === "alarm") { S.alarms.set(data.id, data); if (openAlarm === data.id) route(); }
  else if (kind === "device") S.devices.set(data.id, {...S.devices.get(data.id), ...data});
  else if (kind === "cycle") S.cycles.unshift(data);
  else if (kind === "reset") { loadAll().catch(() => {}); }
  schedule();
}
async function stream() {
  // fetch rather than EventSource: EventSource cannot send the Authorization header.
  let backoff = 1000;
  for (;;) {
    try {
      const headers = {...authHeaders(), Accept: "text/event-stream", ...(S.lastEventId ? {"Last-Event-ID": S.lastEventId} : {})};
      const r = await fetch(`${API}/events?rate=1`, {headers, cache: "no-store"});
      if (!r.ok) throw new ApiError(r.status, r.statusText);
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "", retry = 3000, closed = false;
      for (;;) {
        const {value: chunk, done} = await reader.read();
        if (done) break;
        buffer += chunk;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
          let kind = "message", data = "", id = null;
          for (const line of block.split("\n")) {
            const [field, ...rest] = line.split(":"); const v = rest.join(":").replace(/^ /, "");
            if (field === "event") kind = v; else if (field === "data") data += v; else if (field === "id") id = v;
            else if (field === "retry") retry = Number(v);
          }
          if (!data) continue;
          if (kind === "hello") { setLive(true); backoff = 1000; }
          if (kind === "closed") { closed = true; setLive(false); }
          takeEvent(kind, JSON.parse(data), id);
        }
      }
      backoff = closed ? retry : backoff;
    } catch (_) { /* reconnect below */ }
    setLive(false);
    await new Promise(res => setTimeout(res, backoff));
    backoff = Math.min(backoff * 2, 30000);
  }
}

// --- wiring --------------------------------------------------------------------------------------
function wire() {
  $("lang").addEventListener("click", () => { setLang(LANG === "zh" ? "en" : "zh"); setLive(S.live); renderWho(); renderAll(); if (openAlarm) route(); });
  $("show-closed").addEventListener("change", renderAlarms);
  $("chart-channel").addEventListener("change", e => loadChart(e.target.value));
  $("ack-form").addEventListener("submit", e => { e.preventDefault(); act("ack", e.target); });
  $("assign-form").addEventListener("submit", e => { e.preventDefault(); act("assign", e.target); });
  $("close-form").addEventListener("submit", e => { e.preventDefault(); act("close", e.target); });
  $("alarm-dialog").addEventListener("close", () => { if (location.hash.startsWith("#/alarms/")) history.pushState(null, "", "#/"); openAlarm = null; });
  $("who").addEventListener("click", () => { $("token-error").hidden = true; $("token-dialog").showModal(); });
  $("token-cancel").addEventListener("click", () => $("token-dialog").close());
  $("sign-out").addEventListener("click", () => { localStorage.removeItem("smartsite-token"); location.reload(); });
  $("token-form").addEventListener("submit", async e => {
    e.preventDefault();
    const previous = token();
    localStorage.setItem("smartsite-token", e.target.elements.token.value.trim());
    try { S.me = await api("/me"); $("token-dialog").close(); location.reload(); }
    catch (err) {
      if (previous) localStorage.setItem("smartsite-token", previous); else localStorage.removeItem("smartsite-token");
      $("token-error").textContent = err.message; $("token-error").hidden = false;
    }
  });
  window.addEventListener("hashchange", route);
}
setLang(LANG);
wire();
setLive(false);
$("live").textContent = t("connecting");
loadAll().then(route).catch(err => {
  setLive(false);
  if (err.status === 401) $("token-dialog").showModal();
}).finally(stream);
