// Citysense technician page, "Tugas": the work orders near the technician, nearest first
// (from the last known position, so it works offline from the last sync), taken and
// finished in two taps. Actions go through write() (app.js): queued when there is no signal.
"use strict";
Object.assign(TEXT.id, {
  tasks: "Tugas", refresh: "Muat ulang", accept: "Ambil", done_btn: "Selesai",
  done_note: "Apa yang dikerjakan? (boleh kosong)", no_tasks: "Tidak ada tugas terbuka.",
  awaiting_verify: "menunggu alarm pulih", held_by: "dipegang {who}", returned: "dikembalikan: {why}",
  accepted_msg: "Tugas {id} diambil.", done_msg: "Tugas {id} selesai; diverifikasi saat alarm pulih.",
  "prio.urgent": "SEGERA", "prio.high": "tinggi", "prio.normal": "biasa", "prio.low": "rendah",
  "rule.lamp_failure": "Lampu mati", "rule.feeder_outage": "Penyulang padam",
  "rule.node_down": "Node mati", "rule.refused_data": "Data ditolak", "rule.device_offline": "Perangkat diam",
  tasks_offline: "Tugas dari sinkron terakhir (luring).", km: "{d} km", m: "{d} m",
});
Object.assign(TEXT.en, {
  tasks: "Tasks", refresh: "Reload", accept: "Take", done_btn: "Done",
  done_note: "What was done? (optional)", no_tasks: "No open tasks.",
  awaiting_verify: "waiting for the alarm to clear", held_by: "held by {who}", returned: "returned: {why}",
  accepted_msg: "Task {id} taken.", done_msg: "Task {id} done; verified when the alarm clears.",
  "prio.urgent": "URGENT", "prio.high": "high", "prio.normal": "normal", "prio.low": "low",
  "rule.lamp_failure": "Lamp failure", "rule.feeder_outage": "Feeder outage",
  "rule.node_down": "Node down", "rule.refused_data": "Refused data", "rule.device_offline": "Device silent",
  tasks_offline: "Tasks from the last sync (offline).", km: "{d} km", m: "{d} m",
});

const Tasks = (() => {
  const POS = "citysense.lastPos";
  let orders = [];

  function here() {
    try { return JSON.parse(localStorage.getItem(POS)); } catch (e) { return null; }
  }

  function remember(lat, lon) {
    localStorage.setItem(POS, JSON.stringify({ lat, lon, at: new Date().toISOString() }));
  }

  function metres(a, b) {
    const R = 6371000, rad = Math.PI / 180;
    const dLat = (b.lat - a.lat) * rad, dLon = (b.lon - a.lon) * rad;
    const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
    return 2 * R * Math.asin(Math.sqrt(h));
  }

  function distance(o) {
    const p = here();
    if (!p || o.latitude == null) return Infinity;
    return metres(p, { lat: o.latitude, lon: o.longitude });
  }

  function fmtDistance(d) {
    if (!isFinite(d)) return "";
    return d < 1000 ? t("m", { d: Math.round(d) }) : t("km", { d: (d / 1000).toFixed(1).replace(".", lang === "id" ? "," : ".") });
  }

  function render() {
    const list = $("tasks");
    list.textContent = "";
    const live = orders.filter((o) => ["open", "accepted", "done"].includes(o.status));
    live.sort((a, b) => distance(a) - distance(b));
    $("tasks-empty").hidden = live.length > 0;
    for (const o of live) {
      const li = document.createElement("li");
      li.className = "task";
      li.dataset.id = o.id;
      li.dataset.status = o.status;
      li.dataset.priority = o.priority;
      const head = document.createElement("div");
      head.className = "task-head";
      const what = o.alert_rule ? tOr("rule." + o.alert_rule, o.alert_rule) : o.title;
      head.textContent = tOr("prio." + o.priority, o.priority) + " · " + what + " · " + (o.device_id || "");
      const where = document.createElement("div");
      where.className = "hint";
      where.textContent = [o.place, fmtDistance(distance(o))].filter(Boolean).join(" · ");
      li.append(head, where);
      if (o.returned_reason && o.status === "open") {
        const back = document.createElement("div");
        back.className = "hint";
        back.textContent = t("returned", { why: o.returned_reason });
        li.appendChild(back);
      }
      if (o.status === "open") li.appendChild(smallButton("accept", "accept", () => act(o, "accept")));
      if (o.status === "accepted") {
        const who = document.createElement("div");
        who.className = "hint";
        who.textContent = t("held_by", { who: o.holder || "" });
        const note = document.createElement("input");
        note.className = "done-note";
        note.placeholder = t("done_note");
        li.append(who, note, smallButton("done_btn", "done", () => act(o, "done", note.value.trim())));
      }
      if (o.status === "done") {
        const wait = document.createElement("div");
        wait.className = "hint";
        wait.textContent = t("awaiting_verify");
        li.appendChild(wait);
      }
      if (o.pending) li.dataset.pending = "1";
      list.appendChild(li);
    }
  }

  async function act(o, action, note) {
    const body = action === "done" ? { note: note || "" } : undefined;
    try {
      const r = await write({ method: "POST", path: "/work-orders/" + o.id + "/" + action, body, deviceId: o.device_id || "#" + o.id, what: "order" });
      const next = r.queued ? { ...o, status: action === "accept" ? "accepted" : "done", pending: true } : r.data;
      orders = orders.map((x) => (x.id === o.id ? next : x));
      await Offline.putMeta("orders", orders);
      render();
      if (!r.queued) say(action === "accept" ? "accepted_msg" : "done_msg", { id: o.id }, "ok");
    } catch (e) { fail(e); }
  }

  async function load() {
    try {
      orders = await api("GET", "/work-orders");
      await Offline.putMeta("orders", orders);
      // The devices of the technician's tasks are kept on the phone for offline work.
      for (const o of orders) {
        if (o.device_id && !(await Offline.getDevice(o.device_id))) {
          api("GET", "/devices/" + encodeURIComponent(o.device_id)).then((d) => Offline.putDevice(d)).catch(() => {});
        }
      }
    } catch (e) {
      orders = (await Offline.getMeta("orders")) || [];
      if (!e.offline) { fail(e); }
    }
    render();
    document.body.dataset.tasks = "1";
    if (navigator.geolocation && navigator.onLine) {
      navigator.geolocation.getCurrentPosition((p) => { remember(p.coords.latitude, p.coords.longitude); render(); }, () => {}, { maximumAge: 300000, timeout: 10000 });
    }
  }

  return { load, render, remember };
})();
