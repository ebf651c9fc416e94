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
    check_fields: "Periksa kolom yang ditandai merah.", decommission: "Nonaktifkan perangkat…",
    decom_title: "Nonaktifkan {id} untuk selamanya", decom_reason: "Alasan",
    decom_confirm: "Ketik id perangkat untuk memastikan", decom_go: "Nonaktifkan sekarang",
    decom_cancel: "Batal", decom_help: "Kredensialnya dicabut dan tidak bisa diaktifkan lagi.",
    decommissioned: "{id} dinonaktifkan.", kind_from_id: "Jenis dari label: {kind}",
    offline: "Luring", outbox_title: "Menunggu sinyal", sync_now: "Kirim sekarang",
    waiting: "menunggu sinyal", queued: "Tidak ada sinyal: {what} {id} disimpan di ponsel dan dikirim saat sinyal kembali.",
    synced: "{n} perubahan terkirim.", conflict: "Konflik: {id} diubah orang lain sementara itu.",
    rejected: "Ditolak", keep_mine: "Kirim punya saya", take_server: "Pakai data server",
    drop: "Hapus", "what.register": "pendaftaran", "what.update": "perubahan", "what.status": "status",
    "what.note": "catatan", "what.order": "tugas", found_offline: "{id} dari salinan di ponsel (luring).",
    not_registered_offline: "{id} belum ada di ponsel: isi formulir; dikirim saat ada sinyal.",
    bad_id_offline: "bukan label yang sah: pakai 1-64 huruf, angka, '.', '_' atau '-'",
    server_has: "server", mine: "saya", no_meta_offline: "Belum pernah tersambung: buka halaman ini sekali dengan sinyal.",
    photo: "Foto perangkat", photo_added: "Foto tersimpan.", "what.photo": "foto", "act.photo": "foto",
    enrolled: "Ponsel ini terdaftar untuk {name}.", enrol_failed: "Pendaftaran ponsel gagal: {error}",
    signed_out: "Kunci ponsel ini dicabut atau tidak dikenal; minta tautan pendaftaran baru ke admin.",
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
    check_fields: "Check the fields marked in red.", decommission: "Decommission device…",
    decom_title: "Decommission {id} for good", decom_reason: "Reason",
    decom_confirm: "Type the device id to confirm", decom_go: "Decommission now",
    decom_cancel: "Cancel", decom_help: "Its credentials are revoked; it cannot be reactivated.",
    decommissioned: "{id} decommissioned.", kind_from_id: "Kind from the label: {kind}",
    offline: "Offline", outbox_title: "Waiting for signal", sync_now: "Send now",
    waiting: "waiting for signal", queued: "No signal: {what} of {id} kept on the phone, sent when the signal returns.",
    synced: "{n} changes sent.", conflict: "Conflict: {id} was changed by someone else meanwhile.",
    rejected: "Refused", keep_mine: "Send mine", take_server: "Use the server's",
    drop: "Delete", "what.register": "registration", "what.update": "change", "what.status": "status",
    "what.note": "note", "what.order": "task", found_offline: "{id} from the copy on this phone (offline).",
    not_registered_offline: "{id} is not on this phone: fill in the form; it is sent when there is signal.",
    bad_id_offline: "not a valid label: use 1-64 letters, digits, '.', '_' or '-'",
    server_has: "server", mine: "mine", no_meta_offline: "Never connected yet: open this page once with signal.",
    photo: "Device photo", photo_added: "Photo saved.", "what.photo": "photo", "act.photo": "photo",
    enrolled: "This phone is enrolled for {name}.", enrol_failed: "Enrolling this phone failed: {error}",
    signed_out: "This phone's key is revoked or unknown; ask the admin for a new enrolment link.",
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
  if (fieldErrors.length) showFieldErrors(fieldErrors, false);
  if (typeof Tasks !== "undefined" && meta !== null) Tasks.render();
}

// extra: {key: Idempotency-Key, ifMatch: the updated_at the change is based on}.
// A network failure throws an error with .offline set: the caller queues the write.
async function api(method, path, body, extra) {
  const headers = { Accept: "application/json" };
  const key = localStorage.getItem(KEY);
  if (key) headers.Authorization = "Bearer " + key;
  const binary = body instanceof Blob; // a photo: sent as it is
  if (body !== undefined) headers["Content-Type"] = binary ? body.type : "application/json";
  if (extra && extra.key) headers["Idempotency-Key"] = extra.key;
  if (extra && extra.ifMatch) headers["If-Match"] = '"' + extra.ifMatch + '"';
  let r;
  try {
    r = await fetch(path, { method, headers, body: body === undefined || binary ? body : JSON.stringify(body) });
  } catch (e) {
    const err = new Error(t("offline"));
    err.offline = true;
    throw err;
  }
  const data = r.headers.get("content-type")?.includes("json") ? await r.json() : null;
  if (!r.ok) {
    let detail = data && data.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => (d.loc || []).slice(1).join(".") + ": " + d.msg).join("; ");
    const err = new Error((lang === "id" && data && data.pesan) || detail || r.status + " " + r.statusText);
    err.status = r.status;
    err.retry = !!(data && data.retry); // the same write is still being handled: try later
    if (r.status === 401 && localStorage.getItem(KEY) && !path.startsWith("/enrol")) signedOut();
    err.errors = (data && Array.isArray(data.errors) && data.errors.length && data.errors[0].field) ? data.errors : [];
    throw err;
  }
  return data;
}

// Server field names to the input that holds them (mounting details are "m-<name>").
const FIELD_INPUT = { id: "device-id", status: "initial-status", reason: "decom-reason", confirm_id: "decom-confirm" };
function inputFor(field) {
  const name = field.replace(/^mounting\./, "");
  return $(FIELD_INPUT[name] || name) || $("m-" + name);
}

let fieldErrors = []; // kept to redraw on a language switch
function clearFieldErrors() {
  fieldErrors = [];
  document.querySelectorAll(".field-error").forEach((e) => e.remove());
  document.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
}

// Each error goes under its own field; the first field is scrolled to and focused, so the
// technician sees what to fix where the thumb is, not in a message above the fold.
function showFieldErrors(errors, focus) {
  clearFieldErrors();
  fieldErrors = errors;
  let first = null;
  for (const e of errors) {
    const input = inputFor(e.field);
    if (!input) continue;
    const p = document.createElement("p");
    p.className = "field-error";
    p.dataset.for = e.field;
    p.textContent = lang === "id" ? e.pesan : e.message;
    input.setAttribute("aria-invalid", "true");
    input.insertAdjacentElement("afterend", p);
    if (first === null || (first.compareDocumentPosition(input) & Node.DOCUMENT_POSITION_PRECEDING)) first = input;
  }
  if (first && focus !== false) {
    first.scrollIntoView({ block: "center" });
    first.focus({ preventScroll: true });
  }
  return first !== null;
}

// An API error: on the fields when it names them, else as the page message.
function fail(e) {
  if (e.errors && e.errors.length && showFieldErrors(e.errors)) say("check_fields", null, "error");
  else sayRaw(e.message, "error");
}

function signedOut() {
  localStorage.removeItem(KEY);
  showKeyForm(true);
  setTimeout(() => say("signed_out", null, "error"), 0);
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
  if (device && !device.pending) Offline.putDevice(device).catch(() => {});
  current = device;
  const isNew = device === null;
  $("device-section").hidden = false;
  $("kind").disabled = !isNew;
  $("initial-status-label").hidden = !isNew;
  $("current-status").hidden = isNew;
  $("status-section").hidden = isNew || !!(device && device.pending);
  $("note-section").hidden = isNew || !!(device && device.pending);
  $("decom-panel").hidden = true;
  if (isNew) $("decom-open").hidden = true;
  const d = device || {};
  $("kind").value = d.kind || $("kind").value;
  for (const f of ["name", "village", "latitude", "longitude", "install_date", "uplink_id", "waspada_cm", "siaga_cm", "awas_cm"]) {
    $(f).value = d[f] != null ? d[f] : "";
  }
  $("district").value = d.district || "";
  renderMounting($("kind").value, d.mounting);
  renderDevice();
  if (!isNew && !device.pending) loadJournal();
}

// The parts of the device section whose text depends on the language.
function renderDevice() {
  const device = current;
  $("device-title").textContent = device === null ? t("register_title", { id: $("device-id").value.trim() }) : device.id;
  if (device === null) return;
  const badge = $("current-status");
  badge.dataset.status = device.status;
  badge.dataset.pending = device.pending ? "1" : "";
  badge.textContent = statusLabel(device.status) + (device.pending ? " · " + t("waiting") : "");
  const box = $("status-buttons");
  box.textContent = "";
  const moves = meta.transitions[device.status].filter((s) => s !== "decommissioned");
  for (const next of moves) {
    const b = document.createElement("button");
    b.className = "status-btn";
    b.dataset.status = next;
    b.textContent = "→ " + statusLabel(next);
    b.addEventListener("click", () => changeStatus(next));
    box.appendChild(b);
  }
  if (!moves.length) box.textContent = t("no_more_status");
  $("decom-open").hidden = !!device.pending || !meta.transitions[device.status].includes("decommissioned");
  $("decom-title").textContent = t("decom_title", { id: device.id });
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

// The label is checked first (format, registered in any letter case), before any form.
async function find() {
  let id = $("device-id").value.trim();
  $("credentials").hidden = true;
  clearFieldErrors();
  if (!id) { say("need_label", null, "error"); return; }
  try {
    const check = await api("GET", "/registry/id-check?id=" + encodeURIComponent(id));
    if (!check.valid) {
      $("device-section").hidden = true;
      fail({ errors: check.errors, message: check.errors[0].message });
      return;
    }
    id = check.id;
    $("device-id").value = id;
    if (check.registered) {
      fill(await api("GET", "/devices/" + encodeURIComponent(id)));
      say("found", { id }, "ok");
    } else {
      if (check.kind) $("kind").value = check.kind;
      fill(null);
      say("not_registered", { id }, "ok");
    }
  } catch (e) {
    if (e.offline) await findOffline(id);
    else fail(e);
  }
}

// Without signal: the same checks from what the phone keeps (the id pattern and the kinds'
// prefixes come with the registry data), the device from the phone's copy.
async function findOffline(raw) {
  const id = raw.trim().toUpperCase();
  if (!new RegExp(meta.id_pattern).test(id)) {
    $("device-section").hidden = true;
    const msg = t("bad_id_offline");
    fail({ errors: [{ field: "id", pesan: TEXT.id.bad_id_offline, message: TEXT.en.bad_id_offline }], message: msg });
    return;
  }
  $("device-id").value = id;
  const kept = await Offline.getDevice(id);
  if (kept) {
    fill(kept);
    say("found_offline", { id }, "ok");
    return;
  }
  const kind = kindForId(id);
  if (kind) $("kind").value = kind;
  fill(null);
  say("not_registered_offline", { id }, "ok");
}

function kindForId(id) {
  const parts = id.toUpperCase().split(/[-_.]/);
  const found = new Set(meta.kinds.filter((k) => k.id_prefixes.some((p) => parts.includes(p))).map((k) => k.name));
  return found.size === 1 ? [...found][0] : null;
}

// A write: sent now when there is signal, else (or when the signal drops on the way)
// kept in the outbox with its Idempotency-Key and sent later. Returns {data} or {queued}.
async function write(op) {
  const key = Offline.newKey();
  if (navigator.onLine) {
    try {
      return { data: await api(op.method, op.path, op.body, { key, ifMatch: op.ifMatch }) };
    } catch (e) {
      if (!e.offline) throw e;
    }
  }
  const queued = await Offline.enqueue({ ...op, key });
  await renderOutbox();
  say("queued", () => ({ what: t("what." + op.what), id: op.deviceId }), "ok");
  return { queued };
}

let flushing = false;
async function flush() {
  if (flushing || !navigator.onLine || !localStorage.getItem(KEY)) return;
  flushing = true;
  let sent = 0;
  try {
    for (const op of await Offline.outbox()) {
      if (op.state !== "pending") continue;
      try {
        const data = await api(op.method, op.path, op.body, { key: op.key, ifMatch: op.ifMatch });
        await Offline.remove(op.key);
        sent += 1;
        synced(data);
      } catch (e) {
        if (e.offline || e.status === 401 || e.retry) break;
        const conflict = e.status === 409 && e.errors.some((x) => x.field === "updated_at");
        op.state = conflict ? "conflict" : "rejected";
        op.error = e.message;
        op.errors = e.errors;
        if (conflict) op.server = await api("GET", "/devices/" + encodeURIComponent(op.deviceId)).catch(() => null);
        await Offline.save(op);
      }
    }
  } finally {
    flushing = false;
    await renderOutbox();
    if (sent) {
      say("synced", { n: sent }, "ok");
      if (typeof Tasks !== "undefined") Tasks.load();
    }
  }
}

// What the server answered a queued write: the device as stored now, maybe credentials.
function synced(data) {
  const device = data && data.device ? data.device : data && data.id && data.status ? data : null;
  if (!device || !device.kind) return;
  Offline.putDevice(device).catch(() => {});
  if (current && current.id === device.id) fill(device);
  if (data.credentials && data.credentials.password) showCredentials(data.credentials);
}

function showCredentials(c) {
  $("cred-user").textContent = c.username;
  $("cred-pass").textContent = c.password;
  $("cred-topic").textContent = c.topic_prefix + "#";
  $("credentials").hidden = false;
}

async function renderOutbox() {
  const ops = await Offline.outbox();
  $("outbox-section").hidden = ops.length === 0;
  $("outbox-count").textContent = String(ops.length);
  const list = $("outbox");
  list.textContent = "";
  for (const op of ops) {
    const li = document.createElement("li");
    li.dataset.state = op.state;
    li.dataset.key = op.key;
    const head = document.createElement("div");
    head.textContent = t("what." + op.what) + " · " + op.deviceId + " · " +
      (op.state === "pending" ? t("waiting") : op.state === "conflict" ? t("conflict", { id: op.deviceId }) : t("rejected") + ": " + op.error);
    li.appendChild(head);
    if (op.state === "conflict") {
      li.appendChild(conflictTable(op));
      li.appendChild(smallButton("keep_mine", "keep-mine", () => keepMine(op)));
      li.appendChild(smallButton("take_server", "take-server", () => takeServer(op)));
    }
    if (op.state === "rejected") li.appendChild(smallButton("drop", "drop", async () => { await Offline.remove(op.key); renderOutbox(); }));
    list.appendChild(li);
  }
}

// Mine against the server's, for each field the queued change sets.
function conflictTable(op) {
  const table = document.createElement("table");
  table.className = "conflict";
  const server = op.server || {};
  for (const [k, v] of Object.entries(op.body || {})) {
    if (k === "note" || v === null || typeof v === "object") continue;
    const tr = document.createElement("tr");
    for (const text of [k, t("mine") + ": " + v, t("server_has") + ": " + (server[k] ?? "—")]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    table.appendChild(tr);
  }
  return table;
}

function smallButton(textKey, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.textContent = t(textKey);
  b.addEventListener("click", onClick);
  return b;
}

// The technician chose their own change: sent again against the server's current copy,
// under a new key (the old key's answer is the conflict).
async function keepMine(op) {
  await Offline.remove(op.key);
  const again = { ...op, key: Offline.newKey(), state: "pending", ifMatch: op.server ? op.server.updated_at : null };
  delete again.server; delete again.error; delete again.errors;
  await Offline.save(again);
  await flush();
}

async function takeServer(op) {
  await Offline.remove(op.key);
  if (op.server) {
    await Offline.putDevice(op.server);
    if (current && current.id === op.server.id) fill(op.server);
  }
  renderOutbox();
}

function netState() {
  $("net-state").hidden = navigator.onLine;
  document.body.dataset.online = navigator.onLine ? "1" : "0";
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
      const r = await write({ method: "POST", path: "/devices", body, deviceId: body.id, what: "register" });
      clearFieldErrors();
      if (r.queued) {
        const local = { ...body, id: body.id.toUpperCase(), pending: true, updated_at: null };
        await Offline.putDevice(local);
        fill(local);
        return;
      }
      showCredentials(r.data.credentials);
      fill(r.data.device);
      say("registered", { id: r.data.device.id }, "ok");
    } else {
      for (const k of Object.keys(body.mounting)) if (body.mounting[k] === null) delete body.mounting[k];
      const r = await write({
        method: "PATCH", path: "/devices/" + encodeURIComponent(current.id), body,
        ifMatch: current.updated_at, deviceId: current.id, what: "update",
      });
      clearFieldErrors();
      if (r.queued) {
        const local = { ...current, ...body, mounting: { ...current.mounting, ...body.mounting }, pending: !!current.pending };
        await Offline.putDevice(local);
        fill(local);
        return;
      }
      fill(r.data);
      say("saved", { id: current.id }, "ok");
    }
  } catch (e) { fail(e); }
}

async function decommission() {
  try {
    const body = { reason: $("decom-reason").value.trim(), confirm_id: $("decom-confirm").value.trim() };
    fill(await api("POST", "/devices/" + encodeURIComponent(current.id) + "/decommission", body));
    clearFieldErrors();
    $("decom-panel").hidden = true;
    say("decommissioned", { id: current.id }, "ok");
  } catch (e) { fail(e); }
}

function openDecommission(open) {
  $("decom-panel").hidden = !open;
  $("decom-reason").value = "";
  $("decom-confirm").value = "";
  $("decom-go").disabled = true;
  if (open) { $("decom-panel").scrollIntoView({ block: "center" }); $("decom-reason").focus(); }
}

async function changeStatus(next) {
  const note = $("note").value.trim() || null;
  try {
    const r = await write({
      method: "POST", path: "/devices/" + encodeURIComponent(current.id) + "/status",
      body: { status: next, note }, ifMatch: current.updated_at, deviceId: current.id, what: "status",
    });
    $("note").value = "";
    clearFieldErrors();
    if (r.queued) {
      // Shown as changed, marked as waiting; the server's answer replaces it on sync.
      const local = { ...current, status: next };
      await Offline.putDevice(local);
      fill(local);
      $("current-status").textContent = statusLabel(next) + " · " + t("waiting");
      return;
    }
    fill(r.data);
    say("status_now", () => ({ status: statusLabel(next) }), "ok");
  } catch (e) { fail(e); }
}

async function addNote() {
  const note = $("note").value.trim();
  if (!note) { say("need_note", null, "error"); return; }
  try {
    const r = await write({
      method: "POST", path: "/devices/" + encodeURIComponent(current.id) + "/notes",
      body: { note }, deviceId: current.id, what: "note",
    });
    $("note").value = "";
    if (r.queued) return;
    say("note_added", null, "ok");
    loadJournal();
  } catch (e) { fail(e); }
}

// A photo is shrunk on the phone (longest side 1600 px, JPEG) before it is sent or queued.
async function shrink(file) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, 1600 / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.8));
}

async function addPhoto() {
  const file = $("photo").files[0];
  if (!file || !current) return;
  try {
    const blob = await shrink(file);
    const r = await write({
      method: "POST", path: "/devices/" + encodeURIComponent(current.id) + "/photos",
      body: blob, deviceId: current.id, what: "photo",
    });
    $("photo").value = "";
    if (r.queued) return;
    say("photo_added", null, "ok");
    loadJournal();
  } catch (e) { fail(e); }
}

async function loadJournal() {
  try {
    journal = await api("GET", "/devices/" + encodeURIComponent(current.id) + "/journal");
  } catch (e) {
    journal = []; // offline: the journal is the server's; it shows again with signal
  }
  renderJournal();
  const id = current.id;
  try {
    const items = await api("GET", "/devices/" + encodeURIComponent(id) + "/commands?limit=20");
    commands = { id, items };
  } catch (e) {
    commands = { id, items: [] }; // offline, like the journal
  }
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
      if (typeof Tasks !== "undefined") Tasks.remember(p.coords.latitude, p.coords.longitude);
      // The kecamatan whose centre is nearest, unless the technician chose one already.
      if (!$("district").value && meta) {
        const near = (d) => (d.lat - p.coords.latitude) ** 2 + ((d.lon - p.coords.longitude) * Math.cos(d.lat * Math.PI / 180)) ** 2;
        $("district").value = meta.districts.reduce((a, b) => (near(b) < near(a) ? b : a)).name;
      }
      say("gps_taken", null, "ok");
    },
    (err) => say("gps_failed", { error: err.message }, "error"),
    { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 },
  );
}

// The browser's own BarcodeDetector (Chrome on Android) where it has one; else the vendored
// jsQR decoder, loaded only then, reading frames of the camera video through a canvas.
async function qrReader(video) {
  if ("BarcodeDetector" in window) {
    const detector = new BarcodeDetector({ formats: ["qr_code"] });
    return async () => (await detector.detect(video)).map((c) => c.rawValue);
  }
  if (typeof jsQR === "undefined") {
    await new Promise((resolve, reject) => {
      const el = document.createElement("script");
      el.src = "/technician/jsqr.min.js";
      el.onload = resolve;
      el.onerror = reject;
      document.head.appendChild(el);
    });
  }
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  return async () => {
    if (!video.videoWidth) return [];
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    ctx.drawImage(video, 0, 0);
    const frame = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const found = jsQR(frame.data, canvas.width, canvas.height, { inversionAttempts: "dontInvert" });
    return found ? [found.data] : [];
  };
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
  const detect = await qrReader(video);
  const stop = () => { stream.getTracks().forEach((t) => t.stop()); video.hidden = true; };
  const deadline = Date.now() + 30000;
  const tick = async () => {
    try {
      const codes = await detect();
      if (codes.length) { stop(); $("device-id").value = codes[0].trim(); find(); return; }
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
  await enrolFromLink();
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
  $("photo").addEventListener("change", addPhoto);
  $("kind").addEventListener("change", () => renderMounting($("kind").value, null));
  $("decom-open").addEventListener("click", () => openDecommission(true));
  $("decom-cancel").addEventListener("click", () => openDecommission(false));
  $("decom-go").addEventListener("click", decommission);
  $("decom-confirm").addEventListener("input", () => {
    $("decom-go").disabled = !current || $("decom-confirm").value.trim().toUpperCase() !== current.id.toUpperCase();
  });
  $("sync-btn").addEventListener("click", flush);
  window.addEventListener("online", () => { netState(); flush(); });
  window.addEventListener("offline", netState);
  netState();
  setInterval(flush, 20000);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/technician/sw.js", { scope: "/technician/" }).catch(() => {});
  }
  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    $("scan-btn").hidden = false;
    $("scan-btn").addEventListener("click", scan);
  } else {
    $("scan-note").hidden = false;
  }
  await loadMeta();
}

// An enrolment link (/technician/#enrol=CODE, from the admin's QR code) is traded once for
// this technician's own key; the code leaves the address bar at once.
async function enrolFromLink() {
  const m = location.hash.match(/enrol=([A-Za-z0-9_-]+)/);
  if (!m) return;
  history.replaceState(null, "", location.pathname + location.search);
  try {
    const r = await api("POST", "/enrol", { code: m[1] });
    localStorage.setItem(KEY, r.api_key);
    localStorage.setItem(KEY + ".name", r.name);
    say("enrolled", { name: r.name }, "ok");
  } catch (e) {
    say("enrol_failed", { error: e.message }, "error");
  }
}

async function loadMeta() {
  try {
    meta = await api("GET", "/registry/meta");
    await Offline.putMeta("registry", meta);
  } catch (e) {
    meta = e.offline ? await Offline.getMeta("registry") : null;
    if (meta === null) {
      if (e.offline) say("no_meta_offline", null, "error");
      else say("no_registry", () => ({ error: e.message + (e.status === 401 ? t("enter_key") : "") }), "error");
      return;
    }
  }
  await renderOutbox();
  meta.kinds.forEach((k) => option($("kind"), k.name, tOr("kind." + k.name, k.label)));
  option($("district"), "", "—");
  meta.districts.forEach((d) => option($("district"), d.name));
  meta.initial_statuses.forEach((s) => option($("initial-status"), s, statusLabel(s)));
  // At the pole the device is usually up already, not merely planned.
  if (meta.initial_statuses.includes("installed")) $("initial-status").value = "installed";
  const param = new URLSearchParams(location.search).get("id");
  if (param) { $("device-id").value = param; find(); }
  document.body.dataset.ready = "1";
  $("tasks-refresh").addEventListener("click", () => Tasks.load());
  await flush();
  Tasks.load();
}

// tasks.js loads after this file; start once every script is in.
window.addEventListener("DOMContentLoaded", start);
