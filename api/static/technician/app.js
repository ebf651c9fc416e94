// Citysense technician page: find (type or scan), register/update, GPS, status, notes.
"use strict";
const $ = (id) => document.getElementById(id);
const KEY = "citysense.apiKey";
let meta = null;
let current = null; // the device being edited, or null when registering a new one

function say(text, kind) {
  const m = $("message");
  m.textContent = text;
  m.className = kind || "";
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
    label.textContent = f.label + " ";
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
  current = device;
  const isNew = device === null;
  $("device-section").hidden = false;
  $("device-title").textContent = isNew ? "Register " + $("device-id").value.trim() : device.id;
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
  if (!isNew) {
    $("current-status").textContent = device.status;
    const box = $("status-buttons");
    box.textContent = "";
    for (const next of meta.transitions[device.status]) {
      const b = document.createElement("button");
      b.className = "status-btn";
      b.dataset.status = next;
      b.textContent = "→ " + next;
      b.addEventListener("click", () => changeStatus(next));
      box.appendChild(b);
    }
    if (!meta.transitions[device.status].length) box.textContent = "No further status changes.";
    loadJournal();
  }
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
  if (!id) { say("Type or scan the label first.", "error"); return; }
  try {
    fill(await api("GET", "/devices/" + encodeURIComponent(id)));
    say("Found " + id + ".", "ok");
  } catch (e) {
    if (e.status === 404) {
      fill(null);
      say(id + " is not registered yet: fill in the form to register it.", "ok");
    } else say(e.message, "error");
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
      say("Registered " + r.device.id + ".", "ok");
    } else {
      for (const k of Object.keys(body.mounting)) if (body.mounting[k] === null) delete body.mounting[k];
      fill(await api("PATCH", "/devices/" + encodeURIComponent(current.id), body));
      say("Saved " + current.id + ".", "ok");
    }
  } catch (e) {
    say(e.message, "error");
  }
}

async function changeStatus(next) {
  const note = $("note").value.trim() || null;
  try {
    fill(await api("POST", "/devices/" + encodeURIComponent(current.id) + "/status", { status: next, note }));
    $("note").value = "";
    say("Status is now " + next + ".", "ok");
  } catch (e) { say(e.message, "error"); }
}

async function addNote() {
  const note = $("note").value.trim();
  if (!note) { say("Write the note first.", "error"); return; }
  try {
    await api("POST", "/devices/" + encodeURIComponent(current.id) + "/notes", { note });
    $("note").value = "";
    say("Note added.", "ok");
    loadJournal();
  } catch (e) { say(e.message, "error"); }
}

async function loadJournal() {
  const list = $("journal");
  const entries = await api("GET", "/devices/" + encodeURIComponent(current.id) + "/journal");
  list.textContent = "";
  for (const e of entries) {
    const li = document.createElement("li");
    const when = new Date(e.at).toLocaleString("id-ID", { timeZone: "Asia/Jakarta" });
    const what = Object.entries(e.changes).map(([k, v]) => k + ": " + JSON.stringify(v[0]) + " → " + JSON.stringify(v[1])).join(", ");
    li.textContent = when + " · " + e.actor + " · " + e.action + (what ? " · " + what : "") + (e.note ? " · " + e.note : "");
    list.appendChild(li);
  }
}

function gps() {
  if (!navigator.geolocation) { say("This phone gives no GPS position; type the coordinates.", "error"); return; }
  say("Getting GPS position…");
  navigator.geolocation.getCurrentPosition(
    (p) => {
      $("latitude").value = p.coords.latitude.toFixed(6);
      $("longitude").value = p.coords.longitude.toFixed(6);
      $("gps-accuracy").textContent = "± " + Math.round(p.coords.accuracy) + " m";
      say("Position taken; press Save to keep it.", "ok");
    },
    (err) => say("No GPS position (" + err.message + "); allow location access or type it.", "error"),
    { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 },
  );
}

async function scan() {
  const video = $("scan-video");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch (e) {
    say("Camera not available (" + e.message + "); type the label.", "error");
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
    if (Date.now() > deadline) { stop(); say("No label seen; type it instead.", "error"); return; }
    requestAnimationFrame(tick);
  };
  tick();
}

async function start() {
  showKeyForm(!localStorage.getItem(KEY));
  $("save-key").addEventListener("click", () => {
    const k = $("api-key").value.trim();
    if (!k) { say("Paste the key first.", "error"); return; }
    localStorage.setItem(KEY, k);
    $("api-key").value = "";
    showKeyForm(false);
    say("Key saved on this phone.", "ok");
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
    say("Cannot load the registry: " + e.message + (e.status === 401 ? " (enter your API key)" : ""), "error");
    return;
  }
  meta.kinds.forEach((k) => option($("kind"), k.name, k.label));
  option($("district"), "", "—");
  meta.districts.forEach((d) => option($("district"), d.name));
  meta.initial_statuses.forEach((s) => option($("initial-status"), s));
  const param = new URLSearchParams(location.search).get("id");
  if (param) { $("device-id").value = param; find(); }
  document.body.dataset.ready = "1";
}

start();
