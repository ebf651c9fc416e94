// Citysense technician page: find (type or scan), register/update, GPS, status, notes.
// Bahasa Indonesia by default (UU 24/2009), English on the button; same pattern as /ops.
"use strict";
const $ = (id) => document.getElementById(id);
const KEY = "citysense.apiKey";
const LANG = "citysense.lang";
const ZONE = "Asia/Jakarta";
let meta = null;
let current = null; // the device being edited, or null when registering a new one
let journal = []; // the last journal entries fetched, kept to redraw on a language switch
let commands = { id: null, items: [] }; // the device's last commands, for the same reason
let lastSay = null; // the last message, kept to redraw on a language switch

// Values sent to the API stay as they are; only what the technician reads is translated.
// Kind, mounting-field and journal-action names the table does not know show the API's text.
const TEXT = {
  id: {
    title: "Citysense · Teknisi", api_key: "Kunci API",
    api_key_help: "Masukkan kunci API dari admin Anda. Kunci hanya disimpan di ponsel ini.",
    save_key: "Simpan kunci", device_label: "Label perangkat", device_placeholder: "mis. PJU-LK-0001",
    find: "Cari", scan: "Pindai label QR",
    scan_note: "Pemindaian kamera tidak tersedia di peramban ini; ketik labelnya.",
    cred_title: "Kredensial MQTT (hanya ditampilkan sekali)", cred_user: "nama pengguna",
    cred_pass: "kata sandi", cred_topic: "topik",
    cred_hint: "Tulis ke perangkat sekarang; kredensial ini tidak bisa ditampilkan lagi.",
    kind: "Jenis", name: "Nama", district: "Kecamatan", village: "Desa", latitude: "Lintang",
    longitude: "Bujur", gps: "Pakai posisi GPS saya", install_date: "Tanggal pasang",
    uplink_id: "Melapor lewat (id node uplink)", mounting: "Pemasangan",
    thresholds: "Ambang banjir (cm)", status: "Status", save: "Simpan", change_status: "Ubah status",
    note_title: "Catatan jurnal", note_placeholder: "Apa yang Anda kerjakan atau lihat?",
    add_note: "Tambah catatan", journal: "Jurnal", register_title: "Daftarkan {id}",
    no_more_status: "Tidak ada perubahan status lagi.",
    need_label: "Ketik atau pindai labelnya dulu.", found: "{id} ditemukan.",
    not_registered: "{id} belum terdaftar: isi formulir untuk mendaftarkannya.",
    registered: "{id} terdaftar.", saved: "{id} tersimpan.", status_now: "Status sekarang {status}.",
    need_note: "Tulis catatannya dulu.", note_added: "Catatan ditambahkan.",
    no_gps: "Ponsel ini tidak memberi posisi GPS; ketik koordinatnya.",
    getting_gps: "Mengambil posisi GPS…", gps_taken: "Posisi diambil; tekan Simpan untuk menyimpannya.",
    gps_failed: "Tidak ada posisi GPS ({error}); izinkan akses lokasi atau ketik koordinatnya.",
    no_camera: "Kamera tidak tersedia ({error}); ketik labelnya.",
    no_code: "Tidak ada label terbaca; ketik saja.", need_key: "Tempel kuncinya dulu.",
    key_saved: "Kunci disimpan di ponsel ini.",
    no_registry: "Registri tidak bisa dimuat: {error}", enter_key: " (masukkan kunci API Anda)",
    "st.planned": "direncanakan", "st.installed": "terpasang", "st.active": "aktif",
    "st.maintenance": "perawatan", "st.decommissioned": "dinonaktifkan",
    "kind.streetlight": "Lampu jalan (PJU)", "kind.flood_gauge": "Pos duga air banjir (AWLR)",
    "kind.network_node": "Node jaringan desa",
    "field.pole_number": "Nomor tiang", "field.feeder": "Penyulang", "field.cabinet": "Panel / lemari",
    "field.station": "Nama pos", "field.river": "Sungai",
    "field.gauge_zero_m": "Nol papan duga (m di atas permukaan laut)", "field.uplink": "Uplink (backhaul)",
    "act.registered": "didaftarkan", "act.imported": "diimpor", "act.claimed": "diklaim",
    "act.updated": "diubah", "act.moved": "dipindah", "act.status": "status", "act.note": "catatan",
    "act.credentials_rotated": "kredensial diganti", "act.credentials_revoked": "kredensial dicabut",
    "act.command": "perintah", commands: "Perintah", "cmd.queued": "antre", "cmd.sent": "terkirim",
    "cmd.delivered": "diterima perangkat", "cmd.done": "selesai", "cmd.failed": "gagal",
    "cmd.expired": "kedaluwarsa", "field.dev_eui": "DevEUI LoRaWAN (16 digit heksadesimal)",
  },
  en: {
    commands: "Commands", "cmd.queued": "queued", "cmd.sent": "sent", "cmd.delivered": "delivered",
    "cmd.done": "done", "cmd.failed": "failed", "cmd.expired": "expired",
    title: "Citysense · Technician", api_key: "API key",
    api_key_help: "Enter the API key your admin gave you. It is kept on this phone only.",
    save_key: "Save key", device_label: "Device label", device_placeholder: "e.g. PJU-LK-0001",
    find: "Find", scan: "Scan QR label",
    scan_note: "Camera scanning is not available in this browser; type the label.",
    cred_title: "MQTT credentials (shown once)", cred_user: "username", cred_pass: "password",
    cred_topic: "topics", cred_hint: "Write them into the device now; they cannot be shown again.",
    kind: "Kind", name: "Name", district: "District (kecamatan)", village: "Village (desa)",
    latitude: "Latitude", longitude: "Longitude", gps: "Use my GPS position",
    install_date: "Installed on", uplink_id: "Reports through (uplink node id)",
    mounting: "Mounting", thresholds: "Flood thresholds (cm)", status: "Status", save: "Save",
    change_status: "Change status", note_title: "Journal note",
    note_placeholder: "What did you do or see?", add_note: "Add note", journal: "Journal",
    register_title: "Register {id}", no_more_status: "No further status changes.",
    need_label: "Type or scan the label first.", found: "Found {id}.",
    not_registered: "{id} is not registered yet: fill in the form to register it.",
    registered: "Registered {id}.", saved: "Saved {id}.", status_now: "Status is now {status}.",
    need_note: "Write the note first.", note_added: "Note added.",
    no_gps: "This phone gives no GPS position; type the coordinates.",
    getting_gps: "Getting GPS position…", gps_taken: "Position taken; press Save to keep it.",
    gps_failed: "No GPS position ({error}); allow location access or type it.",
    no_camera: "Camera not available ({error}); type the label.",
    no_code: "No label seen; type it instead.", need_key: "Paste the key first.",
    key_saved: "Key saved on this phone.",
    no_registry: "Cannot load the registry: {error}", enter_key: " (enter your API key)",
    "st.planned": "planned", "st.installed": "installed", "st.active": "active",
    "st.maintenance": "maintenance", "st.decommissioned": "decommissioned",
  },
};

const params = new URLSearchParams(location.search);
let lang = [params.get("lang"), localStorage.getItem(LANG)].find((l) => l in TEXT) || "id";

// vars may be a function, so a message redrawn in the other language re-translates its parts.
function t(key, vars) {
  if (typeof vars === "function") vars = vars();
  const text = (TEXT[lang] || TEXT.id)[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (vars && vars[k] != null ? vars[k] : ""));
}

// A translated name if the table has one, else the API's own text.
function tOr(key, fallback) {
  const table = TEXT[lang] || TEXT.id;
  return table[key] ?? fallback;
}

const statusLabel = (s) => tOr("st." + s, s);

function fmtWhen(iso) {
  return new Intl.DateTimeFormat(lang === "en" ? "en-GB" : "id-ID", {
    timeZone: ZONE, dateStyle: "medium", timeStyle: "short",
  }).format(new Date(iso));
}

// say(key, vars, kind) shows a message of the page's own; sayRaw shows text from the API as is.
function say(key, vars, kind) {
  lastSay = { key, vars, kind };
  showMessage(t(key, vars), kind);
}

function sayRaw(text, kind) {
  lastSay = { text, kind };
  showMessage(text, kind);
}

function showMessage(text, kind) {
  const m = $("message");
  m.textContent = text;
  m.className = kind || "";
}

function applyLang() {
  document.documentElement.lang = lang;
  document.title = t("title");
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  });
  $("lang-btn").textContent = lang === "id" ? "EN" : "ID";
  if (meta !== null) {
    $("kind").querySelectorAll("option").forEach((o) => { o.textContent = tOr("kind." + o.value, kindMeta(o.value).label); });
    $("initial-status").querySelectorAll("option").forEach((o) => { o.textContent = statusLabel(o.value); });
    if (!$("device-section").hidden) {
      const values = {};
      $("mounting").querySelectorAll("[data-field]").forEach((i) => { values[i.dataset.field] = i.value; });
      renderMounting($("kind").value, values);
      renderDevice();
    }
  }
  if (lastSay) showMessage(lastSay.key ? t(lastSay.key, lastSay.vars) : lastSay.text, lastSay.kind);
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const key = localStorage.getItem(KEY);
  if (key) headers.Authorization = "Bearer " + key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = r.headers.get("content-type")?.includes("json") ? await r.json() : null;
  if (!r.ok) {
    let detail = data && data.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => (d.loc || []).slice(1).join(".") + ": " + d.msg).join("; ");
    const err = new Error(detail || r.status + " " + r.statusText);
    err.status = r.status;
    throw err;
  }
  return data;
}

function showKeyForm(show) {
  $("key-section").hidden = !show;
  $("change-key").hidden = show;
}

function option(select, value, label) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label || value;
  select.appendChild(o);
}

function kindMeta(name) {
  return meta.kinds.find((k) => k.name === name);
}

function renderMounting(kind, values) {
  const box = $("mounting");
  box.querySelectorAll("label").forEach((l) => l.remove());
  const k = kindMeta(kind);
  for (const f of (k ? k.mounting : [])) {
    const label = document.createElement("label");
    label.textContent = tOr("field." + f.name, f.label) + " ";
    let input;
    if (f.choices.length) {
      input = document.createElement("select");
      option(input, "", "—");
      f.choices.forEach((c) => option(input, c));
    } else {
      input = document.createElement("input");
      if (f.numeric) input.inputMode = "decimal";
    }
    input.id = "m-" + f.name;
    input.dataset.field = f.name;
    input.value = values && values[f.name] != null ? values[f.name] : "";
    label.appendChild(input);
    box.appendChild(label);
  }
  box.hidden = !(k && k.mounting.length);
  $("thresholds").hidden = !(k && k.thresholds);
}

function fill(device) {
  if (!device || !current || current.id !== device.id) journal = [];
  current = device;
  const isNew = device === null;
  $("device-section").hidden = false;
  $("kind").disabled = !isNew;
  $("initial-status-label").hidden = !isNew;
  $("current-status").hidden = isNew;
  $("status-section").hidden = isNew;
  $("note-section").hidden = isNew;
  const d = device || {};
  $("kind").value = d.kind || $("kind").value;
  for (const f of ["name", "village", "latitude", "longitude", "install_date", "uplink_id", "waspada_cm", "siaga_cm", "awas_cm"]) {
    $(f).value = d[f] != null ? d[f] : "";
  }
  $("district").value = d.district || "";
  renderMounting($("kind").value, d.mounting);
  renderDevice();
  if (!isNew) loadJournal();
}

// The parts of the device section whose text depends on the language.
function renderDevice() {
  const device = current;
  $("device-title").textContent = device === null ? t("register_title", { id: $("device-id").value.trim() }) : device.id;
  if (device === null) return;
  const badge = $("current-status");
  badge.dataset.status = device.status;
  badge.textContent = statusLabel(device.status);
  const box = $("status-buttons");
  box.textContent = "";
  for (const next of meta.transitions[device.status]) {
    const b = document.createElement("button");
    b.className = "status-btn";
    b.dataset.status = next;
    b.textContent = "→ " + statusLabel(next);
    b.addEventListener("click", () => changeStatus(next));
    box.appendChild(b);
  }
  if (!meta.transitions[device.status].length) box.textContent = t("no_more_status");
  renderJournal();
}

function formBody() {
  const body = {};
  for (const f of ["name", "district", "village", "latitude", "longitude", "install_date", "uplink_id"]) {
    body[f] = $(f).value.trim() || null;
  }
  const mounting = {};
  $("mounting").querySelectorAll("[data-field]").forEach((i) => { mounting[i.dataset.field] = i.value.trim() || null; });
  body.mounting = mounting;
  if (!$("thresholds").hidden) {
    for (const f of ["waspada_cm", "siaga_cm", "awas_cm"]) body[f] = $(f).value.trim() || null;
  }
  return body;
}

async function find() {
  const id = $("device-id").value.trim();
  $("credentials").hidden = true;
  if (!id) { say("need_label", null, "error"); return; }
  try {
    fill(await api("GET", "/devices/" + encodeURIComponent(id)));
    say("found", { id }, "ok");
  } catch (e) {
    if (e.status === 404) {
      fill(null);
      say("not_registered", { id }, "ok");
    } else sayRaw(e.message, "error");
  }
}

async function save(ev) {
  ev.preventDefault();
  const body = formBody();
  try {
    if (current === null) {
      body.id = $("device-id").value.trim();
      body.kind = $("kind").value;
      body.status = $("initial-status").value;
      for (const k of Object.keys(body.mounting)) if (body.mounting[k] === null) delete body.mounting[k];
      const r = await api("POST", "/devices", body);
      $("cred-user").textContent = r.credentials.username;
      $("cred-pass").textContent = r.credentials.password;
      $("cred-topic").textContent = r.credentials.topic_prefix + "#";
      $("credentials").hidden = false;
      fill(r.device);
      say("registered", { id: r.device.id }, "ok");
    } else {
      for (const k of Object.keys(body.mounting)) if (body.mounting[k] === null) delete body.mounting[k];
      fill(await api("PATCH", "/devices/" + encodeURIComponent(current.id), body));
      say("saved", { id: current.id }, "ok");
    }
  } catch (e) {
    sayRaw(e.message, "error");
  }
}

async function changeStatus(next) {
  const note = $("note").value.trim() || null;
  try {
    fill(await api("POST", "/devices/" + encodeURIComponent(current.id) + "/status", { status: next, note }));
    $("note").value = "";
    say("status_now", () => ({ status: statusLabel(next) }), "ok");
  } catch (e) { sayRaw(e.message, "error"); }
}

async function addNote() {
  const note = $("note").value.trim();
  if (!note) { say("need_note", null, "error"); return; }
  try {
    await api("POST", "/devices/" + encodeURIComponent(current.id) + "/notes", { note });
    $("note").value = "";
    say("note_added", null, "ok");
    loadJournal();
  } catch (e) { sayRaw(e.message, "error"); }
}

async function loadJournal() {
  journal = await api("GET", "/devices/" + encodeURIComponent(current.id) + "/journal");
  renderJournal();
  const id = current.id;
  const items = await api("GET", "/devices/" + encodeURIComponent(id) + "/commands?limit=20");
  commands = { id, items };
  renderCommands();
}

// Each command sent to the device (by an operator or a dimming schedule) and where it stands.
function renderCommands() {
  const list = $("commands");
  list.textContent = "";
  const mine = current && commands.id === current.id ? commands.items : [];
  $("commands-title").hidden = mine.length === 0;
  for (const c of mine) {
    const li = document.createElement("li");
    li.dataset.status = c.status;
    li.textContent = fmtWhen(c.created_at) + " · " + c.command + " " + JSON.stringify(c.args) +
      " · " + tOr("cmd." + c.status, c.status) + (c.detail ? " · " + c.detail : "") + " · " + c.actor;
    list.appendChild(li);
  }
}

function renderJournal() {
  renderCommands();
  const list = $("journal");
  list.textContent = "";
  for (const e of journal) {
    const li = document.createElement("li");
    const what = Object.entries(e.changes).map(([k, v]) => k + ": " + JSON.stringify(v[0]) + " → " + JSON.stringify(v[1])).join(", ");
    li.textContent = fmtWhen(e.at) + " · " + e.actor + " · " + tOr("act." + e.action, e.action) + (what ? " · " + what : "") + (e.note ? " · " + e.note : "");
    list.appendChild(li);
  }
}

function gps() {
  if (!navigator.geolocation) { say("no_gps", null, "error"); return; }
  say("getting_gps");
  navigator.geolocation.getCurrentPosition(
    (p) => {
      $("latitude").value = p.coords.latitude.toFixed(6);
      $("longitude").value = p.coords.longitude.toFixed(6);
      $("gps-accuracy").textContent = "± " + Math.round(p.coords.accuracy) + " m";
      say("gps_taken", null, "ok");
    },
    (err) => say("gps_failed", { error: err.message }, "error"),
    { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 },
  );
}

async function scan() {
  const video = $("scan-video");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch (e) {
    say("no_camera", { error: e.message }, "error");
    return;
  }
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  const detector = new BarcodeDetector({ formats: ["qr_code"] });
  const stop = () => { stream.getTracks().forEach((t) => t.stop()); video.hidden = true; };
  const deadline = Date.now() + 30000;
  const tick = async () => {
    try {
      const codes = await detector.detect(video);
      if (codes.length) { stop(); $("device-id").value = codes[0].rawValue.trim(); find(); return; }
    } catch (e) { /* frame not ready yet */ }
    if (Date.now() > deadline) { stop(); say("no_code", null, "error"); return; }
    requestAnimationFrame(tick);
  };
  tick();
}

async function start() {
  applyLang();
  $("lang-btn").addEventListener("click", () => {
    lang = lang === "id" ? "en" : "id";
    localStorage.setItem(LANG, lang);
    applyLang();
  });
  showKeyForm(!localStorage.getItem(KEY));
  $("save-key").addEventListener("click", () => {
    const k = $("api-key").value.trim();
    if (!k) { say("need_key", null, "error"); return; }
    localStorage.setItem(KEY, k);
    $("api-key").value = "";
    showKeyForm(false);
    say("key_saved", null, "ok");
    if (meta === null) loadMeta();
  });
  $("change-key").addEventListener("click", () => showKeyForm(true));
  $("find-btn").addEventListener("click", find);
  $("device-id").addEventListener("keydown", (e) => { if (e.key === "Enter") find(); });
  $("device-form").addEventListener("submit", save);
  $("gps-btn").addEventListener("click", gps);
  $("note-btn").addEventListener("click", addNote);
  $("kind").addEventListener("change", () => renderMounting($("kind").value, null));
  if ("BarcodeDetector" in window && navigator.mediaDevices) {
    $("scan-btn").hidden = false;
    $("scan-btn").addEventListener("click", scan);
  } else {
    $("scan-note").hidden = false;
  }
  await loadMeta();
}

async function loadMeta() {
  try {
    meta = await api("GET", "/registry/meta");
  } catch (e) {
    say("no_registry", () => ({ error: e.message + (e.status === 401 ? t("enter_key") : "") }), "error");
    return;
  }
  meta.kinds.forEach((k) => option($("kind"), k.name, tOr("kind." + k.name, k.label)));
  option($("district"), "", "—");
  meta.districts.forEach((d) => option($("district"), d.name));
  meta.initial_statuses.forEach((s) => option($("initial-status"), s, statusLabel(s)));
  const param = new URLSearchParams(location.search).get("id");
  if (param) { $("device-id").value = param; find(); }
  document.body.dataset.ready = "1";
}

start();
