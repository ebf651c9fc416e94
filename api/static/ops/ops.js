/* Citysense live operations page. Plain JS, no build step.
 *
 * Loads GET /state, GET /alerts?status=open and the river levels (GET /readings), then follows
 * GET /stream (Server-Sent Events, read with fetch so the API key can be sent and a dropped
 * stream is noticed at once). Devices are canvas circle markers, so 10,000 stay responsive.
 */
(function () {
  "use strict";

  const STORE = { key: "citysense.apiKey", lang: "citysense.lang", tiles: "citysense.tiles" };
  const STALL_MS = 40000; // the stream sends a keep-alive every 15 s
  const FEED_MAX = 15;
  const GAUGES_MAX = 12;
  const ZONE = "Asia/Jakarta";
  const COLOURS = {
    ok: "#2e7d32", WASPADA: "#1e88e5", SIAGA: "#f9a825", AWAS: "#e53935",
    failed: "#ff1744", offline: "#8e24aa", stale: "#9e9e9e", nodata: "#607080",
  };
  const ORDER = ["AWAS", "failed", "SIAGA", "WASPADA", "offline", "stale", "ok", "nodata"];

  const TEXT = {
    id: {
      title: "Ruang Operasi Citysense", connecting: "menghubungkan…", live: "langsung",
      disconnected: "terputus — mencoba lagi", alerts: "Peringatan terbuka",
      no_alerts: "Tidak ada peringatan terbuka.", rivers: "Tinggi muka air sungai",
      feed: "Data terbaru", settings: "Pengaturan", api_key: "Kunci API operator",
      api_key_help: "Disimpan hanya di peramban ini; diperlukan untuk mengakui peringatan.",
      tiles: "Sumber peta (URL ubin, kosong = tanpa ubin)", save: "Simpan", cancel: "Batal",
      ack: "Akui", acked: "diakui oleh", need_key: "Masukkan kunci API operator dulu.",
      ok: "normal", failed: "rusak", offline: "terputus", stale: "data lama",
      nodata: "belum ada data", WASPADA: "WASPADA", SIAGA: "SIAGA", AWAS: "AWAS",
      NORMAL: "NORMAL", no_gauges: "Belum ada pos duga air.", devices: "perangkat",
      critical: "kritis", warning: "peringatan", info: "info",
    },
    en: {
      title: "Citysense operations room", connecting: "connecting…", live: "live",
      disconnected: "disconnected — retrying", alerts: "Open alerts",
      no_alerts: "No open alerts.", rivers: "River levels", feed: "Latest readings",
      settings: "Settings", api_key: "Operator API key",
      api_key_help: "Kept in this browser only; needed to acknowledge alerts.",
      tiles: "Map tiles (tile URL, empty = no tiles)", save: "Save", cancel: "Cancel",
      ack: "Acknowledge", acked: "acknowledged by", need_key: "Enter an operator API key first.",
      ok: "normal", failed: "failed", offline: "disconnected", stale: "stale",
      nodata: "no data yet", WASPADA: "WASPADA (alert)", SIAGA: "SIAGA (standby)",
      AWAS: "AWAS (danger)", NORMAL: "NORMAL", no_gauges: "No flood gauges yet.",
      devices: "devices", critical: "critical", warning: "warning", info: "info",
    },
  };

  const params = new URLSearchParams(location.search);
  const app = {
    lang: params.get("lang") || localStorage.getItem(STORE.lang) || "id",
    devices: new Map(), // device_id -> {d, marker}
    alerts: new Map(),
    bands: {},
    history: new Map(), // gauge id -> [[ms, cm], ...]
    lastId: null,
    conn: "connecting",
    ready: false,
    readings: 0,
    renderMs: null,
    map: null,
  };
  window.citysenseOps = app;

  const t = (key) => (TEXT[app.lang] || TEXT.id)[key] || key;
  const $ = (id) => document.getElementById(id);
  const fmtTime = (iso) =>
    iso ? new Intl.DateTimeFormat(app.lang === "en" ? "en-GB" : "id-ID", {
      timeZone: ZONE, hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).format(new Date(iso)) : "–";
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

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
    renderCounts();
    renderAlerts();
    renderGauges();
  }

  // ---- connection state -----------------------------------------------------------------
  function setConn(state) {
    app.conn = state;
    document.body.dataset.conn = state;
    $("conn").textContent = t(state);
  }

  // ---- map ------------------------------------------------------------------------------
  function category(d) {
    if (!d.time) return "nodata";
    if (!d.online) return "offline";
    const v = d.values || {};
    // Failure flags are the kinds' boolean fields named *_failure (see core/kinds.py).
    if (Object.keys(v).some((k) => k.endsWith("_failure") && v[k] === true)) return "failed";
    const level = levelOf(d);
    if (level && level !== "NORMAL") return level;
    if (d.stale) return "stale";
    return "ok";
  }

  // The evaluator's level (with hysteresis) when there is one, else the station's bands.
  function levelOf(d) {
    if (d.level) return d.level;
    const cm = (d.values || {}).water_level;
    const b = app.bands[d.device_id];
    if (d.kind !== "flood_gauge" || cm == null || !b) return null;
    return cm >= b.AWAS ? "AWAS" : cm >= b.SIAGA ? "SIAGA" : cm >= b.WASPADA ? "WASPADA" : "NORMAL";
  }

  function tooltip(d) {
    const vals = Object.entries(d.values || {}).slice(0, 6)
      .map(([k, v]) => `${esc(k)}: ${esc(v)}`).join("<br>");
    return `<b>${esc(d.name || d.device_id)}</b> (${esc(d.device_id)})<br>` +
      `${esc(d.kind)} · ${esc(d.district || "-")}<br>${esc(t(category(d)))} · ` +
      `${fmtTime(d.time)}<br>${vals}`;
  }

  function initMap(geo) {
    const renderer = L.canvas({ padding: 0.3, tolerance: 3 });
    const map = L.map("map", { preferCanvas: true, renderer, zoomSnap: 0.5, worldCopyJump: false });
    app.map = map;
    app.renderer = renderer;
    const b = geo.bbox;
    map.fitBounds([[b.min_lat, b.min_lon], [b.max_lat, b.max_lon]]);
    const tiles = params.get("tiles") ?? localStorage.getItem(STORE.tiles) ?? "";
    if (tiles) {
      L.tileLayer(tiles, { maxZoom: 19, attribution: "© OpenStreetMap contributors" }).addTo(map);
    } else {
      // Offline network: a plain background with the regency's extent and district centres.
      $("map").classList.add("offline-map");
      L.rectangle([[b.min_lat, b.min_lon], [b.max_lat, b.max_lon]], {
        renderer, color: "#3b5168", weight: 1, fill: false, dashArray: "4 4", interactive: false,
      }).addTo(map);
      for (const dist of geo.districts) {
        L.circleMarker([dist.lat, dist.lon], {
          renderer, radius: 14, color: "#3b5168", weight: 1, fillOpacity: 0.08, interactive: false,
        }).bindTooltip(dist.name, { permanent: true, direction: "center", className: "district-label" })
          .addTo(map);
      }
    }
    app.layer = L.layerGroup();
  }

  function style(d) {
    const c = category(d);
    return { fillColor: COLOURS[c], color: c === "nodata" ? COLOURS.nodata : "#0b1118" };
  }

  function upsertDevice(d) {
    let entry = app.devices.get(d.device_id);
    if (!entry) {
      entry = { d, marker: null };
      app.devices.set(d.device_id, entry);
    } else {
      entry.d = d;
    }
    if (d.latitude != null && d.longitude != null) {
      if (!entry.marker) {
        entry.marker = L.circleMarker([d.latitude, d.longitude], Object.assign({
          renderer: app.renderer, radius: 5, weight: 1, fillOpacity: 0.9,
        }, style(d)));
        entry.marker.bindTooltip(() => tooltip(entry.d));
        app.layer.addLayer(entry.marker);
      } else {
        entry.marker.setStyle(style(d));
      }
    }
    return entry;
  }

  async function loadState() {
    const started = performance.now();
    const list = await getJSON("/state");
    const seen = new Set();
    if (app.map.hasLayer(app.layer)) app.map.removeLayer(app.layer);
    for (const d of list) { upsertDevice(d); seen.add(d.device_id); }
    for (const [id, entry] of app.devices) {
      if (!seen.has(id)) { if (entry.marker) app.layer.removeLayer(entry.marker); app.devices.delete(id); }
    }
    app.map.addLayer(app.layer);
    renderCounts();
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    app.renderMs = performance.now() - started;
  }

  function renderCounts() {
    const n = {};
    for (const { d } of app.devices.values()) { const c = category(d); n[c] = (n[c] || 0) + 1; }
    $("counts").innerHTML = `<span>${app.devices.size} ${esc(t("devices"))}</span>` + ORDER
      .filter((c) => n[c])
      .map((c) => `<span data-cat="${c}"><i style="background:${COLOURS[c]}"></i>${esc(t(c))}: ${n[c]}</span>`)
      .join("");
  }
  let countsQueued = false;
  function queueCounts() {
    if (countsQueued) return;
    countsQueued = true;
    requestAnimationFrame(() => { countsQueued = false; renderCounts(); });
  }

  // ---- alerts ---------------------------------------------------------------------------
  async function loadAlerts() {
    const list = await getJSON("/alerts?status=open");
    app.alerts.clear();
    for (const a of list) app.alerts.set(a.id, a);
    renderAlerts();
  }

  function upsertAlert(a) {
    if (a.status === "resolved") app.alerts.delete(a.id);
    else app.alerts.set(a.id, a);
    renderAlerts();
  }

  function renderAlerts() {
    const ul = $("alerts");
    const list = [...app.alerts.values()].sort((x, y) => (y.opened_at > x.opened_at ? 1 : -1));
    ul.innerHTML = list.map((a) => `
      <li class="${esc(a.severity)} ${esc(a.status)}" data-alert-id="${a.id}">
        <div class="msg">${esc(a.message)}</div>
        <div class="meta"><span>${esc(t(a.severity))}</span><span>${fmtTime(a.opened_at)}</span>
          <span>${esc(a.subject)}</span>
          ${a.status === "acknowledged"
            ? `<span class="acked">${esc(t("acked"))} ${esc(a.acknowledged_by)}</span>`
            : `<button type="button" class="ack" data-ack="${a.id}">${esc(t("ack"))}</button>`}
        </div><div class="error" hidden></div>
      </li>`).join("");
    $("alert-count").textContent = String(list.filter((a) => a.status === "open").length);
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

  function sparkline(id, current) {
    const W = 300, H = 60, now = Date.now(), from = now - 24 * 3600e3;
    const pts = (app.history.get(id) || []).filter(([ms]) => ms >= from);
    const bands = app.bands[id];
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
      const level = levelOf(d) || "NORMAL";
      return `<div class="gauge" data-gauge="${esc(d.device_id)}">
        <div class="head"><span>${esc(d.name || d.device_id)} <span class="muted">${esc(d.district || "")}</span></span>
        <span><span class="level">${cm != null ? esc(Math.round(cm)) + " cm" : "–"}</span>
        <span class="lvl lvl-${esc(level)}">${esc(t(level))}</span></span></div>
        ${sparkline(d.device_id, cm)}</div>`;
    }).join("");
  }
  let gaugesQueued = false;
  function queueGauges() {
    if (gaugesQueued) return;
    gaugesQueued = true;
    setTimeout(() => { gaugesQueued = false; renderGauges(); }, 250);
  }

  // ---- live stream ----------------------------------------------------------------------
  function onReading(r) {
    app.readings += 1;
    const entry = app.devices.get(r.device_id);
    if (entry) {
      const d = Object.assign({}, entry.d, {
        time: r.time, received_at: r.received_at, online: true, stale: false,
        values: Object.assign({}, entry.d.values, r.values),
      });
      upsertDevice(d);
      queueCounts();
      if (d.kind === "flood_gauge" && r.values.water_level != null) {
        if (!app.history.has(d.device_id)) app.history.set(d.device_id, []);
        app.history.get(d.device_id).push([Date.parse(r.time), r.values.water_level]);
        queueGauges();
      }
    }
    const li = document.createElement("li");
    li.className = "fresh";
    li.dataset.device = r.device_id;
    const name = entry ? entry.d.name || r.device_id : r.device_id;
    li.textContent = `${fmtTime(r.time)} ${r.device_id} ${name !== r.device_id ? "(" + name + ") " : ""}` +
      Object.entries(r.values || {}).map(([k, v]) => `${k}=${v}`).join(" ");
    const feed = $("feed");
    feed.prepend(li);
    while (feed.children.length > FEED_MAX) feed.lastChild.remove();
  }

  function onState(s) {
    const entry = app.devices.get(s.device_id);
    if (!entry) return;
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
      refreshing = Promise.all([loadState(), loadAlerts()])
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
      if (btn) acknowledge(btn.dataset.ack, btn.closest("li"));
    });
    const tick = () => { $("clock").textContent = fmtTime(new Date().toISOString()) + " WIB"; };
    tick();
    setInterval(tick, 1000);
  }

  async function main() {
    wire();
    applyLang();
    const geo = await fetch("/ops/districts.json").then((r) => r.json());
    initMap(geo);
    follow(); // subscribe first, so nothing between the snapshot and the stream is lost
    try {
      app.bands = await getJSON("/ops/bands.json").catch(() => ({}));
      await loadState();
      await loadAlerts();
      renderGauges();
      app.ready = true;
      document.body.dataset.ready = "true";
      await loadHistory();
    } catch (err) {
      console.error(err);
      setConn("disconnected");
    }
  }

  main();
})();
