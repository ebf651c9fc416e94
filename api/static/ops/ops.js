/* Citysense live operations page. Plain JS, no build step.
 *
 * Loads GET /state, GET /alerts (standing ones, highest priority first) and the river levels
 * (GET /readings), then follows GET /stream (Server-Sent Events, read with fetch so the API
 * key can be sent and a dropped stream is noticed at once). Devices are canvas circle
 * markers, co-located ones drawn as one larger marker in the worst state among them, so
 * 10,000 stay responsive. Words for alert states, priorities and levels come from
 * /ops/vocabulary.json (alerts/vocabulary.py); field labels and units from /ops/fields.json
 * (core/kinds.py). Times are shown in WIB; every value shows its age. Live work orders
 * (GET /work-orders, with who holds each) and last night's street-light energy per district
 * with the dimming schedules' saving (GET /energy) are re-read on a timer.
 */
(function () {
  "use strict";

  const STORE = { key: "citysense.apiKey", lang: "citysense.lang", tiles: "citysense.tiles" };
  const STALL_MS = 40000; // the stream sends a keep-alive every 15 s
  const FEED_MAX = 12;
  const GAUGES_MAX = 8;
  const DEAD_MAX = 8;
  const ZONE = "Asia/Jakarta";
  const RESYNC_MS = 60000;
  const ORDERS_MS = 10000;
  const ORDERS_MAX = 30;
  const ENERGY_MS = 10 * 60000;
  const COLOURS = {
    ok: "#2e7d32", WASPADA: "#f9a825", SIAGA: "#ef6c00", AWAS: "#e53935",
    failed: "#ff1744", offline: "#8e24aa", stale: "#9e9e9e", nodata: "#607080",
  };
  // Worst first: the order of the header counts and of a cluster's colour.
  const ORDER = ["AWAS", "failed", "SIAGA", "WASPADA", "offline", "stale", "ok", "nodata"];
  const PRIORITIES = ["urgent", "high", "medium", "low"];

  const TEXT = {
    id: {
      title: "Ruang Operasi Citysense", connecting: "menghubungkan…", live: "langsung",
      disconnected: "terputus — mencoba lagi", alerts: "Alarm",
      no_alerts: "Tidak ada alarm.", rivers: "Tinggi muka air sungai",
      feed: "Data terbaru", settings: "Pengaturan", api_key: "Kunci API operator",
      api_key_help: "Disimpan hanya di peramban ini; diperlukan untuk mengakui alarm.",
      tiles: "Sumber peta (URL ubin, kosong = tanpa ubin)", save: "Simpan", cancel: "Batal",
      ack: "Akui", acked: "diakui oleh", need_key: "Masukkan kunci API operator dulu.",
      ok: "normal", failed: "rusak", offline: "terputus", stale: "data lama",
      nodata: "belum ada data", WASPADA: "WASPADA", SIAGA: "SIAGA", AWAS: "AWAS",
      NORMAL: "NORMAL", no_gauges: "Belum ada pos duga air.", devices: "perangkat",
      shelved_n: "ditunda", ago_s: "baru saja", ago_m: "menit lalu", ago_h: "jam lalu",
      ago_d: "hari lalu", timeline: "Riwayat episode", peak: "Puncak", close: "Tutup",
      opened: "mulai", dead: "Pesan ditolak (terbaru per perangkat)",
      no_dead: "Tidak ada pesan ditolak.", outages: "Gangguan per kecamatan",
      no_outages: "Tidak ada perangkat terputus atau lampu rusak.",
      approx: "batas kecamatan perkiraan (Voronoi)", history: "Riwayat 24 jam",
      shelve: "Tunda", shelve_for: "Tunda selama", reason: "alasan (wajib)", minutes: "menit",
      hours: "jam", unshelve: "Kembalikan sekarang", shelved_until: "Ditunda sampai",
      orders: "Tugas perbaikan terbuka", no_orders: "Tidak ada tugas perbaikan terbuka.",
      held_by: "dipegang", unheld: "belum diambil", more_orders: "tugas lagi",
      order_open: "terbuka", order_accepted: "dikerjakan", order_done: "selesai, menunggu verifikasi",
      prio_urgent: "mendesak", prio_high: "tinggi", prio_normal: "biasa", prio_low: "rendah",
      energy: "Energi lampu semalam", night_of: "malam", district: "Kecamatan",
      kwh: "kWh", saving: "Hemat jadwal", lights: "Lampu", total: "Jumlah",
      no_energy: "Belum ada data energi untuk malam tadi.",
      unavailable: "tidak dapat dimuat",
      events: {
        raise: "muncul", escalate: "naik", deescalate: "turun", update: "diperbarui",
        acknowledge: "diakui", shelve: "ditunda", unshelve: "kembali dari tunda",
        clear: "kembali normal", resolve: "diselesaikan",
      },
    },
    en: {
      title: "Citysense operations room", connecting: "connecting…", live: "live",
      disconnected: "disconnected — retrying", alerts: "Alarms",
      no_alerts: "No alarms.", rivers: "River levels", feed: "Latest readings",
      settings: "Settings", api_key: "Operator API key",
      api_key_help: "Kept in this browser only; needed to acknowledge alarms.",
      tiles: "Map tiles (tile URL, empty = no tiles)", save: "Save", cancel: "Cancel",
      ack: "Acknowledge", acked: "acknowledged by", need_key: "Enter an operator API key first.",
      ok: "normal", failed: "failed", offline: "disconnected", stale: "stale",
      nodata: "no data yet", WASPADA: "WASPADA (alert)", SIAGA: "SIAGA (standby)",
      AWAS: "AWAS (danger)", NORMAL: "NORMAL", no_gauges: "No flood gauges yet.",
      devices: "devices", shelved_n: "shelved", ago_s: "just now", ago_m: "min ago",
      ago_h: "h ago", ago_d: "days ago", timeline: "Episode timeline", peak: "Peak",
      close: "Close", opened: "opened", dead: "Refused messages (newest per device)",
      no_dead: "No refused messages.", outages: "Outages by district",
      no_outages: "No disconnected devices or failed lights.",
      approx: "approximate district borders (Voronoi)", history: "Last 24 h",
      shelve: "Shelve", shelve_for: "Shelve for", reason: "reason (required)", minutes: "min",
      hours: "h", unshelve: "Bring back now", shelved_until: "Shelved until",
      orders: "Open work orders", no_orders: "No open work orders.",
      held_by: "held by", unheld: "not taken yet", more_orders: "more orders",
      order_open: "open", order_accepted: "in progress", order_done: "done, awaiting verification",
      prio_urgent: "urgent", prio_high: "high", prio_normal: "normal", prio_low: "low",
      energy: "Street-light energy last night", night_of: "night of", district: "District",
      kwh: "kWh", saving: "Schedule saving", lights: "Lights", total: "Total",
      no_energy: "No energy figures for last night yet.",
      unavailable: "could not be loaded",
      events: {
        raise: "raised", escalate: "escalated", deescalate: "de-escalated", update: "updated",
        acknowledge: "acknowledged", shelve: "shelved", unshelve: "back from shelf",
        clear: "back to normal", resolve: "resolved",
      },
    },
  };

  const params = new URLSearchParams(location.search);
  const app = {
    lang: params.get("lang") || localStorage.getItem(STORE.lang) || "id",
    devices: new Map(), // device_id -> {d, key, marker}
    groups: new Map(), // "lat,lon" -> {ids: Set, marker}
    alerts: new Map(),
    bands: {},
    vocab: {},
    fields: {},
    history: new Map(), // gauge id -> [[ms, cm], ...]
    dead: [],
    orders: [], // GET /work-orders; null when it could not be read
    energy: null, // {night, rows} of GET /energy?group=district; null before the first read
    detail: null,
    lastId: null,
    conn: "connecting",
    ready: false,
    readings: 0,
    renderMs: null,
    map: null,
  };
  window.citysenseOps = app;

  const t = (key) => (TEXT[app.lang] || TEXT.id)[key] ?? key;
  const $ = (id) => document.getElementById(id);
  const locale = () => (app.lang === "en" ? "en-GB" : "id-ID");
  const fmtTime = (iso) =>
    iso ? new Intl.DateTimeFormat(locale(), {
      timeZone: ZONE, hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).format(new Date(iso)) : "–";
  // "06/12 01.45 WIB": the day and the time, always with the zone.
  const fmtWhen = (iso) =>
    iso ? new Intl.DateTimeFormat(locale(), {
      timeZone: ZONE, day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit",
    }).format(new Date(iso)).replace(",", "") + " WIB" : "–";
  const fmtNum = (v, digits) =>
    typeof v === "number"
      ? new Intl.NumberFormat(locale(), { maximumFractionDigits: digits ?? 2 }).format(v)
      : String(v);
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  function age(iso) {
    if (!iso) return "";
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (s < 90) return t("ago_s");
    if (s < 5400) return `${Math.round(s / 60)} ${t("ago_m")}`;
    if (s < 48 * 3600) return `${Math.round(s / 3600)} ${t("ago_h")}`;
    return `${Math.round(s / 86400)} ${t("ago_d")}`;
  }

  function vocab(group, value) {
    const v = ((app.vocab || {})[group] || {})[value];
    return v ? (app.lang === "en" ? v.en : v.id) : value;
  }

  function fieldLabel(kind, name) {
    const f = ((app.fields || {})[kind] || {})[name];
    if (!f) return { label: name, unit: "" };
    return { label: app.lang === "en" ? f.en : f.id, unit: f.unit || "" };
  }

  function fmtValue(kind, name, v) {
    const { label, unit } = fieldLabel(kind, name);
    const shown = typeof v === "boolean" ? (v ? (app.lang === "en" ? "yes" : "ya") : (app.lang === "en" ? "no" : "tidak")) : fmtNum(v);
    return `${label} ${shown}${unit ? " " + unit : ""}`;
  }

  function headers(extra) {
    const h = Object.assign({}, extra || {});
    const key = localStorage.getItem(STORE.key);
    if (key) h.Authorization = "Bearer " + key;
    return h;
  }

  async function getJSON(url) {
    const r = await fetch(url, { headers: headers(), cache: "no-store" });
    if (r.status === 401 && !$("settings").open) openSettings(); // reads need a key here
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    return r.json();
  }

  // ---- language -------------------------------------------------------------------------
  function applyLang() {
    document.documentElement.lang = app.lang;
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    $("lang-btn").textContent = app.lang === "id" ? "EN" : "ID";
    document.title = t("title");
    setConn(app.conn);
    renderAll();
  }

  function renderAll() {
    renderCounts();
    renderAlerts();
    renderGauges();
    renderOutages();
    renderDead();
    renderOrders();
    renderEnergy();
    if (app.detail) renderDetail(app.detail);
  }

  // ---- connection state -----------------------------------------------------------------
  function setConn(state) {
    app.conn = state;
    document.body.dataset.conn = state;
    $("conn").textContent = t(state);
  }

  // ---- device states --------------------------------------------------------------------
  // Stale data is never drawn or counted as a current level: it is "data lama", grey.
  function category(d) {
    if (!d.time) return "nodata";
    if (!d.online) return "offline";
    const v = d.values || {};
    // Failure flags are the kinds' boolean fields named *_failure (see core/kinds.py).
    if (Object.keys(v).some((k) => k.endsWith("_failure") && v[k] === true)) return "failed";
    if (d.stale) return "stale";
    const level = levelOf(d);
    if (level && level !== "NORMAL") return level;
    return "ok";
  }

  // The evaluator's level (with deadband and dwell) when there is one, else the bands.
  function levelOf(d) {
    if (d.level) return d.level;
    const cm = (d.values || {}).water_level;
    const b = app.bands[d.device_id];
    if (d.kind !== "flood_gauge" || cm == null || !b) return null;
    return cm >= b.AWAS ? "AWAS" : cm >= b.SIAGA ? "SIAGA" : cm >= b.WASPADA ? "WASPADA" : "NORMAL";
  }

  function deviceLine(d) {
    const vals = Object.entries(d.values || {}).slice(0, 6)
      .map(([k, v]) => esc(fmtValue(d.kind, k, v))).join("<br>");
    const when = d.time ? `${fmtWhen(d.time)} (${esc(age(d.time))})` : esc(t("nodata"));
    return `<b>${esc(d.name || d.device_id)}</b> (${esc(d.device_id)})<br>` +
      `${esc(d.kind)} · ${esc(d.district || "-")}<br>${esc(t(category(d)))} · ${when}<br>${vals}`;
  }

  // ---- map ------------------------------------------------------------------------------
  function initMap(geo, outlines) {
    const renderer = L.canvas({ padding: 0.3, tolerance: 4 });
    const map = L.map("map", { preferCanvas: true, renderer, zoomSnap: 0.5, worldCopyJump: false });
    app.map = map;
    app.renderer = renderer;
    const b = geo.bbox;
    map.fitBounds([[b.min_lat, b.min_lon], [b.max_lat, b.max_lon]]);
    const tiles = params.get("tiles") ?? localStorage.getItem(STORE.tiles) ?? "";
    if (tiles) {
      L.tileLayer(tiles, { maxZoom: 19, attribution: "© OpenStreetMap contributors" }).addTo(map);
    } else {
      // Offline network: approximate district outlines (Voronoi cells of the kecamatan
      // centres, computed by the server) with their names; no tile server needed.
      $("map").classList.add("offline-map");
      if (outlines && outlines.features) {
        L.geoJSON(outlines, {
          renderer, interactive: false,
          style: { color: "#4a6582", weight: 1.5, fillColor: "#1f3042", fillOpacity: 0.35 },
        }).addTo(map);
      }
      for (const dist of geo.districts) {
        L.tooltip({ permanent: true, direction: "center", className: "district-label" })
          .setLatLng([dist.lat, dist.lon]).setContent(esc(dist.name)).addTo(map);
      }
      const note = L.control({ position: "bottomleft" });
      note.onAdd = () => {
        const div = L.DomUtil.create("div", "map-note");
        div.dataset.i18n = "approx";
        div.textContent = t("approx");
        return div;
      };
      note.addTo(map);
    }
    app.layer = L.layerGroup();
  }

  // Co-located devices (same spot to ~100 m) share one marker in their worst state.
  const spot = (d) => `${d.latitude.toFixed(3)},${d.longitude.toFixed(3)}`;

  function groupStyle(g) {
    let worst = "nodata";
    for (const id of g.ids) {
      const e = app.devices.get(id);
      if (!e) continue;
      const c = category(e.d);
      if (ORDER.indexOf(c) < ORDER.indexOf(worst)) worst = c;
    }
    const n = g.ids.size;
    return {
      fillColor: COLOURS[worst],
      color: n > 1 ? "#ffffff" : "#0b1118",
      weight: n > 1 ? 2 : 1,
      radius: n > 1 ? Math.min(9 + 2.5 * Math.log2(n), 20) : 8,
    };
  }

  function groupTooltip(g) {
    const ds = [...g.ids].map((id) => app.devices.get(id)).filter(Boolean).map((e) => e.d);
    if (ds.length === 1) return deviceLine(ds[0]);
    return `<b>${ds.length} ${esc(t("devices"))}</b><br>` + ds.slice(0, 12)
      .map((d) => `<i class="dot" style="background:${COLOURS[category(d)]}"></i>${esc(d.name || d.device_id)} · ${esc(t(category(d)))}`)
      .join("<br>");
  }

  function placeDevice(entry) {
    const d = entry.d;
    const key = d.latitude != null && d.longitude != null ? spot(d) : null;
    if (entry.key && entry.key !== key) {
      const old = app.groups.get(entry.key);
      if (old) {
        old.ids.delete(d.device_id);
        if (!old.ids.size) { app.layer.removeLayer(old.marker); app.groups.delete(entry.key); }
        else old.marker.setStyle(groupStyle(old)).setRadius(groupStyle(old).radius);
      }
    }
    entry.key = key;
    entry.marker = null;
    if (!key) return;
    let g = app.groups.get(key);
    if (!g) {
      g = { ids: new Set([d.device_id]), marker: null };
      app.groups.set(key, g);
      const s = groupStyle(g);
      g.marker = L.circleMarker([d.latitude, d.longitude], Object.assign({
        renderer: app.renderer, fillOpacity: 0.92,
      }, s));
      g.marker.bindTooltip(() => groupTooltip(g));
      g.marker.on("click", () => showDevice([...g.ids][0]));
      app.layer.addLayer(g.marker);
      entry.marker = g.marker;
      return;
    }
    g.ids.add(d.device_id);
    entry.marker = g.marker; // the marker the device is drawn in (shared when co-located)
    const s = groupStyle(g);
    g.marker.setStyle(s);
    g.marker.setRadius(s.radius);
  }

  function upsertDevice(d) {
    let entry = app.devices.get(d.device_id);
    if (!entry) {
      entry = { d, key: null, marker: null };
      app.devices.set(d.device_id, entry);
    } else {
      entry.d = d;
    }
    placeDevice(entry);
    return entry;
  }

  function removeDevice(id) {
    const entry = app.devices.get(id);
    if (!entry) return;
    entry.d = Object.assign({}, entry.d, { latitude: null, longitude: null });
    placeDevice(entry);
    app.devices.delete(id);
  }

  async function loadState() {
    const started = performance.now();
    const list = await getJSON("/state");
    const seen = new Set();
    if (app.map.hasLayer(app.layer)) app.map.removeLayer(app.layer);
    for (const d of list) { upsertDevice(d); seen.add(d.device_id); }
    for (const id of [...app.devices.keys()]) if (!seen.has(id)) removeDevice(id);
    app.map.addLayer(app.layer);
    renderCounts();
    renderOutages();
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    app.renderMs = performance.now() - started;
  }

  function renderCounts() {
    const n = {};
    for (const { d } of app.devices.values()) { const c = category(d); n[c] = (n[c] || 0) + 1; }
    $("counts").innerHTML = `<span data-cat="devices">${app.devices.size} ${esc(t("devices"))}</span>` + ORDER
      .filter((c) => n[c])
      .map((c) => `<span data-cat="${c}"><i style="background:${COLOURS[c]}"></i>${esc(t(c))}: ${n[c]}</span>`)
      .join("");
  }
  let countsQueued = false;
  function queueCounts() {
    if (countsQueued) return;
    countsQueued = true;
    requestAnimationFrame(() => { countsQueued = false; renderCounts(); renderOutages(); });
  }

  // ---- alerts ---------------------------------------------------------------------------
  async function loadAlerts() {
    const list = await getJSON("/alerts?limit=2000");
    app.alerts.clear();
    for (const a of list) if (a.status !== "resolved") app.alerts.set(a.id, a);
    renderAlerts();
  }

  function upsertAlert(a) {
    if (a.status === "resolved") app.alerts.delete(a.id);
    else app.alerts.set(a.id, a);
    renderAlerts();
    // Re-draw an open episode only when it moved (not on every refreshed value: the
    // operator may be typing a reason to shelve it).
    const d = app.detail;
    if (d && d.id === a.id && (d.status !== a.status || d.level !== a.level || d.peak_value !== a.peak_value)) {
      loadDetail(a.id);
    }
  }

  const alertText = (a) => (app.lang === "en" && a.message_en ? a.message_en : a.message);

  function renderAlerts() {
    const ul = $("alerts");
    const all = [...app.alerts.values()];
    const list = all.filter((a) => a.status !== "shelved")
      .sort((x, y) => (y.rank - x.rank) || (y.opened_at > x.opened_at ? 1 : -1));
    const counts = Object.fromEntries(PRIORITIES.map((p) => [p, 0]));
    for (const a of list) counts[a.priority] = (counts[a.priority] || 0) + 1;
    const shelved = all.length - list.length;
    $("alert-counts").innerHTML = PRIORITIES.map((p) =>
      `<span class="chip prio-${p}" data-priority="${p}">${esc(vocab("Priority", p))} ${counts[p]}</span>`,
    ).join("") + (shelved ? `<span class="chip shelved">${esc(t("shelved_n"))} ${shelved}</span>` : "");
    ul.innerHTML = list.map((a) => `
      <li class="${esc(a.severity)} ${esc(a.status)} prio-${esc(a.priority)}" data-alert-id="${a.id}" data-priority="${esc(a.priority)}">
        <div class="msg"><span class="chip prio-${esc(a.priority)}">${esc(vocab("Priority", a.priority))}</span>
          ${a.level ? `<span class="lvl lvl-${esc(a.level)}">${esc(t(a.level))}</span>` : ""}
          ${esc(alertText(a))}</div>
        <div class="meta"><span>${esc(vocab("Rule", a.rule))}</span>
          <span>${esc(t("opened"))} ${esc(fmtWhen(a.opened_at))}</span>
          <span>${esc(vocab("AlertState", a.status))}</span>
          ${a.status === "acknowledged"
            ? `<span class="acked">${esc(t("acked"))} ${esc(a.acknowledged_by)}</span>`
            : `<button type="button" class="ack" data-ack="${a.id}">${esc(t("ack"))}</button>`}
        </div><div class="error" hidden></div>
      </li>`).join("");
    $("alert-count").textContent = String(list.filter((a) => a.status !== "acknowledged").length);
    $("alerts-empty").hidden = list.length > 0;
  }

  async function acknowledge(id, li) {
    const showError = (msg) => { const e = li.querySelector(".error"); e.textContent = msg; e.hidden = false; };
    if (!localStorage.getItem(STORE.key)) { showError(t("need_key")); openSettings(); return; }
    const r = await fetch(`/alerts/${id}/acknowledge`, { method: "POST", headers: headers() });
    if (r.ok) { upsertAlert(await r.json()); return; }
    let detail = `HTTP ${r.status}`;
    try { detail = (await r.json()).detail || detail; } catch (_) { /* not JSON */ }
    showError(detail);
  }

  // ---- one alarm's episode --------------------------------------------------------------
  async function loadDetail(id) {
    try {
      app.detail = await getJSON(`/alerts/${id}`);
      renderDetail(app.detail);
    } catch (err) {
      console.error(err);
    }
  }

  function renderDetail(a) {
    const box = $("alert-detail");
    const peak = a.peak_value != null
      ? `<p class="peak" data-peak="${a.peak_value}">${esc(t("peak"))}: <b>${esc(fmtNum(a.peak_value, 0))} cm</b> · ${esc(fmtWhen(a.peak_at))}</p>`
      : "";
    const rows = (a.timeline || []).map((e) => `
      <li data-event="${esc(e.event)}"><span class="when">${esc(fmtWhen(e.observed_at || e.at))}</span>
        <span class="ev">${esc((t("events") || {})[e.event] || e.event)}</span>
        ${e.level ? `<span class="lvl lvl-${esc(e.level)}">${esc(t(e.level))}</span>` : ""}
        ${e.value != null ? `<span>${esc(fmtNum(e.value, 0))} cm</span>` : ""}
        ${e.by !== "system" ? `<span class="muted">${esc(e.by)}</span>` : ""}
        ${e.note ? `<span class="muted">${esc(e.note)}</span>` : ""}</li>`).join("");
    const standing = a.status !== "resolved";
    const shelf = !standing ? "" : a.status === "shelved"
      ? `<p class="muted">${esc(t("shelved_until"))} ${esc(fmtWhen(a.shelved_until))}: ${esc(a.shelve_reason)}</p>
         <button type="button" id="unshelve">${esc(t("unshelve"))}</button>`
      : `<form id="shelve" class="shelve"><label>${esc(t("shelve_for"))}
           <select name="minutes"><option value="30">30 ${esc(t("minutes"))}</option>
             <option value="60">1 ${esc(t("hours"))}</option><option value="240">4 ${esc(t("hours"))}</option>
             <option value="720">12 ${esc(t("hours"))}</option></select></label>
         <input name="reason" required minlength="3" maxlength="500" placeholder="${esc(t("reason"))}">
         <button type="submit">${esc(t("shelve"))}</button></form>`;
    box.innerHTML = `<h2><span>${esc(t("timeline"))}</span>
        <button type="button" id="detail-close">${esc(t("close"))}</button></h2>
      <p>${esc(alertText(a))}</p>${peak}<ol class="timeline">${rows}</ol>${shelf}
      <div class="error" hidden></div>`;
    box.hidden = false;
    box.dataset.alertId = String(a.id);
    $("detail-close").addEventListener("click", () => { app.detail = null; box.hidden = true; });
    const form = $("shelve");
    if (form) {
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        const data = new FormData(form);
        move(a.id, "shelve", { minutes: Number(data.get("minutes")), reason: String(data.get("reason")) });
      });
    }
    const back = $("unshelve");
    if (back) back.addEventListener("click", () => move(a.id, "unshelve"));
  }

  // Shelve (for a stated time, with a reason) or bring back; the server journals both.
  async function move(id, action, body) {
    const box = $("alert-detail");
    const showError = (msg) => { const e = box.querySelector(".error"); e.textContent = msg; e.hidden = false; };
    if (!localStorage.getItem(STORE.key)) { showError(t("need_key")); openSettings(); return; }
    const r = await fetch(`/alerts/${id}/${action}`, {
      method: "POST",
      headers: headers(body ? { "Content-Type": "application/json" } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    if (r.ok) { upsertAlert(await r.json()); return; }
    let detail = `HTTP ${r.status}`;
    try { detail = (await r.json()).detail || detail; } catch (_) { /* not JSON */ }
    showError(detail);
  }

  // ---- one device's last day ------------------------------------------------------------
  async function showDevice(id) {
    const entry = app.devices.get(id);
    if (!entry) return;
    const d = entry.d;
    const box = $("alert-detail");
    const first = Object.keys((app.fields || {})[d.kind] || {})[0];
    let chart = "";
    if (first) {
      try {
        const h = await getJSON(`/readings?device=${encodeURIComponent(id)}&bucket=1h&field=${first}&agg=avg`);
        const pts = (h.rows || []).map((r) => {
          const v = r.values && r.values[first];
          return [Date.parse(r.time), v && typeof v === "object" ? v.avg : v];
        }).filter((p) => p[1] != null);
        chart = `<p class="muted">${esc(t("history"))}: ${esc(fieldLabel(d.kind, first).label)}</p>` + sparklinePoints(pts, null, null);
      } catch (_) { /* no history */ }
    }
    app.detail = null;
    delete box.dataset.alertId;
    box.innerHTML = `<h2><span>${esc(d.name || id)}</span>
        <button type="button" id="detail-close">${esc(t("close"))}</button></h2>
      <p data-device-detail="${esc(id)}">${deviceLine(d)}</p>${chart}`;
    box.hidden = false;
    $("detail-close").addEventListener("click", () => { box.hidden = true; });
  }

  // ---- outages by district --------------------------------------------------------------
  function renderOutages() {
    const by = new Map();
    for (const { d } of app.devices.values()) {
      const c = category(d);
      if (c !== "offline" && c !== "failed") continue;
      const k = d.district || "–";
      if (!by.has(k)) by.set(k, { offline: [], failed: [] });
      by.get(k)[c].push(d);
    }
    const box = $("outages");
    if (!by.size) { box.innerHTML = `<p class="muted">${esc(t("no_outages"))}</p>`; return; }
    box.innerHTML = [...by.entries()]
      .sort((a, b) => (b[1].offline.length + b[1].failed.length) - (a[1].offline.length + a[1].failed.length))
      .map(([dist, g]) => `<div class="outage" data-district="${esc(dist)}"><b>${esc(dist)}</b>
        ${g.offline.length ? `<span class="chip cat-offline">${esc(t("offline"))} ${g.offline.length}</span>` : ""}
        ${g.failed.length ? `<span class="chip cat-failed">${esc(t("failed"))} ${g.failed.length}</span>` : ""}
        <div class="muted">${[...g.offline, ...g.failed].slice(0, 6).map((d) =>
          `<a href="#" data-show="${esc(d.device_id)}">${esc(d.name || d.device_id)}</a>`).join(", ")}</div></div>`)
      .join("");
  }

  // ---- dead letters ---------------------------------------------------------------------
  async function loadDead() {
    try {
      const r = await getJSON(`/dead-letters/latest?limit=${DEAD_MAX}`);
      app.dead = r.items || [];
    } catch (_) { app.dead = []; }
    renderDead();
  }

  function renderDead() {
    const box = $("dead");
    if (!app.dead.length) { box.innerHTML = `<p class="muted">${esc(t("no_dead"))}</p>`; return; }
    box.innerHTML = app.dead.map((x) => `<li data-dead="${esc(x.device_id || "")}">
      <b>${esc(x.device_id || "?")}</b> <span class="muted">${esc(fmtWhen(x.received_at))} · ${esc(x.count)}×</span>
      <div>${esc(x.code)}: ${esc(x.reason)}</div></li>`).join("");
  }

  // ---- work orders ---------------------------------------------------------------------
  async function loadOrders() {
    try { app.orders = await getJSON("/work-orders"); } catch (_) { app.orders = null; }
    renderOrders();
  }

  function renderOrders() {
    const box = $("orders");
    const list = app.orders || [];
    $("order-count").textContent = String(list.length);
    if (app.orders === null) { box.innerHTML = `<p class="muted">${esc(t("unavailable"))}</p>`; return; }
    if (!list.length) { box.innerHTML = `<p class="muted">${esc(t("no_orders"))}</p>`; return; }
    const more = list.length - ORDERS_MAX;
    box.innerHTML = list.slice(0, ORDERS_MAX).map((o) => {
      const who = o.holder
        ? `${esc(t("held_by"))} <span class="holder" data-holder>${esc(o.holder)}</span>`
        : `<span class="unheld" data-holder>${esc(t("unheld"))}</span>`;
      return `<li data-order-id="${esc(o.id)}" data-status="${esc(o.status)}" class="prio-${esc(o.priority)}">
        <b>#${esc(o.id)}</b> <span class="muted">${esc(t("prio_" + o.priority))}</span> ${esc(o.title)}
        <div>${who} · <span data-order-status>${esc(t("order_" + o.status))}</span>
        <span class="muted">· ${esc(o.place || o.device_id || "")} · ${esc(fmtWhen(o.updated_at))}</span></div></li>`;
    }).join("") + (more > 0 ? `<li class="muted">+${more} ${esc(t("more_orders"))}</li>` : "");
  }

  // ---- energy ---------------------------------------------------------------------------
  // "Last night" is the most recent night whose lights are off: nights run 12:00-12:00 WIB
  // and are named by their first date; the lights go off by 06:00 WIB the next morning.
  function lastNight() {
    const d = new Date(Date.now() + (7 - 6) * 3600e3); // WIB is UTC+7; minus the 6 h
    d.setUTCDate(d.getUTCDate() - 1);
    return d.toISOString().slice(0, 10);
  }

  async function loadEnergy() {
    const night = lastNight();
    try {
      const r = await getJSON(`/energy?from=${night}&group=district`);
      app.energy = { night, rows: (r.nights || []).slice().sort((a, b) => b.kwh - a.kwh) };
    } catch (_) { app.energy = { night, rows: null }; }
    renderEnergy();
  }

  function renderEnergy() {
    const box = $("energy");
    if (!app.energy) { box.innerHTML = ""; return; }
    const day = new Date(app.energy.night + "T00:00:00Z");
    $("energy-night").textContent = `${t("night_of")} ${new Intl.DateTimeFormat(locale(), {
      timeZone: "UTC", day: "numeric", month: "short" }).format(day)}`;
    const rows = app.energy.rows;
    if (rows === null) { box.innerHTML = `<caption class="muted">${esc(t("unavailable"))}</caption>`; return; }
    if (!rows.length) { box.innerHTML = `<caption class="muted">${esc(t("no_energy"))}</caption>`; return; }
    const pct = (v) => (v == null ? "–" : `${fmtNum(v, 1)} %`);
    const kwh = rows.reduce((s, r) => s + r.kwh, 0);
    const full = rows.reduce((s, r) => s + r.kwh_full, 0);
    const lights = rows.reduce((s, r) => s + r.lights, 0);
    const total = full > 0 ? Math.round(1000 * (1 - kwh / full)) / 10 : null;
    const line = (cls, attr, name, r) => `<tr class="${cls}" ${attr}><td>${esc(name)}</td>
      <td data-kwh>${esc(fmtNum(r.kwh, 2))}</td><td data-saving>${esc(pct(r.saving_pct))}</td>
      <td>${esc(fmtNum(r.lights, 0))}</td></tr>`;
    box.innerHTML = `<thead><tr><th>${esc(t("district"))}</th><th>${esc(t("kwh"))}</th>
      <th>${esc(t("saving"))}</th><th>${esc(t("lights"))}</th></tr></thead><tbody>` +
      rows.map((r) => line("", `data-district="${esc(r.key)}"`, r.key, r)).join("") +
      line("total", "data-total", t("total"), { kwh, saving_pct: total, lights }) + "</tbody>";
  }

  // ---- rivers ---------------------------------------------------------------------------
  function gaugeList() {
    const rank = (d) => ORDER.indexOf(category(d));
    return [...app.devices.values()].map((e) => e.d).filter((d) => d.kind === "flood_gauge")
      .sort((a, b) => rank(a) - rank(b) || ((b.values || {}).water_level ?? -1e9) - ((a.values || {}).water_level ?? -1e9))
      .slice(0, GAUGES_MAX);
  }

  async function loadHistory() {
    const ids = gaugeList().map((d) => d.device_id);
    app.bands = await getJSON("/ops/bands.json").catch(() => ({}));
    if (!ids.length) { renderGauges(); return; }
    const q = ids.map((id) => "device=" + encodeURIComponent(id)).join("&");
    const h = await getJSON(`/readings?${q}&bucket=15m&field=water_level&agg=avg`).catch(() => ({ rows: [] }));
    app.history.clear();
    for (const row of h.rows || []) {
      const v = row.values && row.values.water_level;
      const cm = v && typeof v === "object" ? v.avg : v;
      if (cm == null) continue;
      if (!app.history.has(row.device_id)) app.history.set(row.device_id, []);
      app.history.get(row.device_id).push([Date.parse(row.time), cm]);
    }
    renderGauges();
  }

  function sparklinePoints(points, current, bands) {
    const W = 300, H = 56, now = Date.now(), from = now - 24 * 3600e3;
    const pts = points.filter(([ms]) => ms >= from);
    const vals = pts.map((p) => p[1]).concat(current != null ? [current] : []);
    let lo = Math.min(...vals, bands ? bands.WASPADA * 0.6 : Infinity);
    let hi = Math.max(...vals, bands ? bands.AWAS * 1.1 : -Infinity);
    if (!isFinite(lo) || !isFinite(hi)) return `<svg viewBox="0 0 ${W} ${H}"></svg>`;
    if (hi - lo < 1) { hi += 1; lo -= 1; }
    const y = (v) => H - ((v - lo) / (hi - lo)) * H;
    const x = (ms) => ((ms - from) / (now - from)) * W;
    let svg = `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img">`;
    if (bands) {
      const rows = [["WASPADA", bands.WASPADA, bands.SIAGA], ["SIAGA", bands.SIAGA, bands.AWAS], ["AWAS", bands.AWAS, hi]];
      for (const [name, a, b] of rows) {
        const top = y(Math.min(Math.max(b, lo), hi)), bottom = y(Math.min(Math.max(a, lo), hi));
        if (bottom > top) svg += `<rect class="band-${name}" x="0" y="${top}" width="${W}" height="${bottom - top}" fill="${COLOURS[name]}" opacity="0.22"/>`;
        svg += `<line x1="0" x2="${W}" y1="${y(a)}" y2="${y(a)}" stroke="${COLOURS[name]}" stroke-dasharray="4 3"/>`;
      }
    }
    const line = pts.map(([ms, v]) => `${x(ms).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    if (line) svg += `<polyline fill="none" stroke="#e6edf3" stroke-width="1.5" points="${line}"/>`;
    if (current != null) svg += `<circle cx="${W - 2}" cy="${y(current)}" r="3" fill="#fff"/>`;
    return svg + "</svg>";
  }

  function renderGauges() {
    const box = $("gauges");
    const list = gaugeList();
    if (!list.length) { box.innerHTML = `<p class="muted">${esc(t("no_gauges"))}</p>`; return; }
    box.innerHTML = list.map((d) => {
      const cm = (d.values || {}).water_level;
      const cat = category(d);
      const fresh = cat !== "stale" && cat !== "offline" && cat !== "nodata";
      const level = fresh ? levelOf(d) || "NORMAL" : null;
      const badge = level
        ? `<span class="lvl lvl-${esc(level)}">${esc(t(level))}</span>`
        : `<span class="lvl lvl-${esc(cat)}">${esc(t(cat))}</span>`;
      const value = cm != null ? esc(fmtNum(Math.round(cm), 0)) + " cm" : "–";
      return `<div class="gauge ${fresh ? "" : "is-" + esc(cat)}" data-gauge="${esc(d.device_id)}" data-state="${esc(cat)}">
        <div class="head"><span>${esc(d.name || d.device_id)} <span class="muted">${esc(d.district || "")}</span></span>
        <span><span class="level">${value}</span> ${badge}</span></div>
        <div class="age muted" data-age>${d.time ? esc(fmtWhen(d.time)) + " · " + esc(age(d.time)) : esc(t("nodata"))}</div>
        ${sparklinePoints(app.history.get(d.device_id) || [], fresh ? cm : null, app.bands[d.device_id])}</div>`;
    }).join("");
  }
  let gaugesQueued = false;
  function queueGauges() {
    if (gaugesQueued) return;
    gaugesQueued = true;
    setTimeout(() => { gaugesQueued = false; renderGauges(); }, 250);
  }

  // ---- live stream ----------------------------------------------------------------------
  let resyncQueued = null;
  function queueResync() {
    // A device the page does not know yet (just registered): fetch the fleet again, once.
    if (resyncQueued) return;
    resyncQueued = setTimeout(() => { resyncQueued = null; loadState().then(renderGauges).catch(() => {}); }, 300);
  }

  function onReading(r) {
    app.readings += 1;
    const entry = app.devices.get(r.device_id);
    if (entry) {
      const d = Object.assign({}, entry.d, {
        time: r.time, received_at: r.received_at, online: true,
        stale: Date.now() - Date.parse(r.time) > 3 * 3600e3 ? entry.d.stale : false,
        values: Object.assign({}, entry.d.values, r.values),
      });
      upsertDevice(d);
      queueCounts();
      if (d.kind === "flood_gauge" && r.values.water_level != null) {
        if (!app.history.has(d.device_id)) app.history.set(d.device_id, []);
        app.history.get(d.device_id).push([Date.parse(r.time), r.values.water_level]);
        queueGauges();
      }
    } else {
      queueResync();
    }
    const li = document.createElement("li");
    li.className = "fresh";
    li.dataset.device = r.device_id;
    const name = entry ? entry.d.name || r.device_id : r.device_id;
    const kind = entry ? entry.d.kind : r.kind;
    li.textContent = `${fmtTime(r.time)} WIB ${name}${name !== r.device_id ? " (" + r.device_id + ")" : ""}: ` +
      Object.entries(r.values || {}).map(([k, v]) => fmtValue(kind, k, v)).join(" · ");
    const feed = $("feed");
    feed.prepend(li);
    while (feed.children.length > FEED_MAX) feed.lastChild.remove();
  }

  function onState(s) {
    if (s.registry) { queueResync(); return; } // registered, re-statused or decommissioned
    const entry = app.devices.get(s.device_id);
    if (!entry) { queueResync(); return; }
    upsertDevice(Object.assign({}, entry.d, s));
    queueCounts();
    if (entry.d.kind === "flood_gauge") queueGauges();
  }

  function dispatch(type, data) {
    let body;
    try { body = JSON.parse(data); } catch (_) { return; }
    if (type === "reading") onReading(body);
    else if (type === "state") onState(body);
    else if (type === "alert") upsertAlert(body);
    else if (type === "reset") refresh();
  }

  function handleBlock(block) {
    let type = "message", id = null;
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (!line || line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "event") type = value;
      else if (field === "data") data.push(value);
    }
    if (id !== null) app.lastId = id;
    if (data.length) dispatch(type, data.join("\n"));
  }

  async function follow() {
    let backoff = 500;
    for (;;) {
      const ctrl = new AbortController();
      let stall = null;
      const kick = () => { clearTimeout(stall); stall = setTimeout(() => ctrl.abort(), STALL_MS); };
      try {
        const h = headers({ Accept: "text/event-stream" });
        if (app.lastId) h["Last-Event-ID"] = app.lastId;
        const res = await fetch("/stream", { headers: h, signal: ctrl.signal, cache: "no-store" });
        if (!res.ok || !res.body) throw new Error("HTTP " + res.status);
        const wasDown = app.conn === "disconnected";
        setConn("live");
        backoff = 500;
        if (wasDown) refresh(); // what changed while away (the stream also replays events)
        kick();
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          kick();
          buf += decoder.decode(value, { stream: true });
          let cut;
          while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut).replace(/^\r?\n\r?\n/, "");
            handleBlock(block);
          }
        }
      } catch (_) {
        /* dropped, refused or stalled: shown below, retried */
      }
      clearTimeout(stall);
      setConn("disconnected");
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 5000);
    }
  }

  let refreshing = null;
  function refresh() {
    if (!refreshing) {
      refreshing = Promise.all([loadState(), loadAlerts(), loadDead()])
        .then(() => { renderGauges(); return loadHistory(); })
        .catch(() => {})
        .finally(() => { refreshing = null; });
    }
    return refreshing;
  }

  // ---- settings -------------------------------------------------------------------------
  function openSettings() {
    $("api-key").value = localStorage.getItem(STORE.key) || "";
    $("tiles").value = localStorage.getItem(STORE.tiles) || "";
    $("settings").showModal();
  }

  function wire() {
    $("lang-btn").addEventListener("click", () => {
      app.lang = app.lang === "id" ? "en" : "id";
      localStorage.setItem(STORE.lang, app.lang);
      applyLang();
    });
    $("settings-btn").addEventListener("click", openSettings);
    $("settings").addEventListener("close", () => {
      if ($("settings").returnValue !== "save") return;
      const key = $("api-key").value.trim();
      const keyChanged = key !== (localStorage.getItem(STORE.key) || "");
      if (key) localStorage.setItem(STORE.key, key); else localStorage.removeItem(STORE.key);
      if (keyChanged && !app.ready) location.reload(); // the first load was refused
      const tiles = $("tiles").value.trim();
      const changed = tiles !== (localStorage.getItem(STORE.tiles) || "");
      if (tiles) localStorage.setItem(STORE.tiles, tiles); else localStorage.removeItem(STORE.tiles);
      if (changed) location.reload();
    });
    $("alerts").addEventListener("click", (ev) => {
      const btn = ev.target.closest("[data-ack]");
      if (btn) { acknowledge(btn.dataset.ack, btn.closest("li")); return; }
      const li = ev.target.closest("[data-alert-id]");
      if (li) loadDetail(li.dataset.alertId);
    });
    $("outages").addEventListener("click", (ev) => {
      const a = ev.target.closest("[data-show]");
      if (a) { ev.preventDefault(); showDevice(a.dataset.show); }
    });
    const tick = () => { $("clock").textContent = fmtTime(new Date().toISOString()) + " WIB"; };
    tick();
    setInterval(tick, 1000);
    // Ages move on even when nothing arrives; the fleet is re-read now and then as well.
    setInterval(() => { renderGauges(); renderCounts(); }, 30000);
    setInterval(() => { if (app.ready) refresh(); }, RESYNC_MS);
    setInterval(() => { if (app.ready) loadOrders(); }, ORDERS_MS);
    setInterval(() => { if (app.ready) loadEnergy(); }, ENERGY_MS);
  }

  async function main() {
    wire();
    applyLang();
    const [geo, outlines] = await Promise.all([
      fetch("/ops/districts.json").then((r) => r.json()),
      fetch("/ops/districts.geojson").then((r) => (r.ok ? r.json() : null)).catch(() => null),
    ]);
    initMap(geo, outlines);
    follow(); // subscribe first, so nothing between the snapshot and the stream is lost
    try {
      const [vocabulary, fields, bands] = await Promise.all([
        getJSON("/ops/vocabulary.json").catch(() => ({})),
        getJSON("/ops/fields.json").catch(() => ({})),
        getJSON("/ops/bands.json").catch(() => ({})),
      ]);
      Object.assign(app, { vocab: vocabulary, fields, bands });
      await loadState();
      await loadAlerts();
      renderGauges();
      app.ready = true;
      document.body.dataset.ready = "true";
      await Promise.all([loadHistory(), loadDead(), loadOrders(), loadEnergy()]);
    } catch (err) {
      console.error(err);
      setConn("disconnected");
    }
  }

  main();
})();
