// Citysense technician page, offline half: the phone's own store (IndexedDB) of the
// registry data, the technician's devices and the outbox of writes waiting for a signal.
// Every queued write carries its own Idempotency-Key, made once when it is queued, so
// sending it again after a lost answer never does it twice on the server.
"use strict";
const Offline = (() => {
  const DB = "citysense-technician";
  let dbp = null;

  function db() {
    if (dbp) return dbp;
    dbp = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB, 1);
      req.onupgradeneeded = () => {
        const d = req.result;
        d.createObjectStore("outbox", { keyPath: "key" });
        d.createObjectStore("devices", { keyPath: "id" });
        d.createObjectStore("meta", { keyPath: "k" });
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    return dbp;
  }

  async function run(store, mode, fn) {
    const d = await db();
    return new Promise((resolve, reject) => {
      const tx = d.transaction(store, mode);
      const req = fn(tx.objectStore(store));
      tx.oncomplete = () => resolve(req ? req.result : undefined);
      tx.onerror = () => reject(tx.error);
    });
  }

  const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + "-" + Math.random().toString(16).slice(2));

  return {
    newKey,
    // op: {method, path, body, ifMatch, deviceId, what}; returns the stored op.
    async enqueue(op) {
      const stored = { key: newKey(), at: new Date().toISOString(), state: "pending", ...op };
      await run("outbox", "readwrite", (s) => s.put(stored));
      return stored;
    },
    async outbox() {
      const all = (await run("outbox", "readonly", (s) => s.getAll())) || [];
      return all.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    },
    save: (op) => run("outbox", "readwrite", (s) => s.put(op)),
    remove: (key) => run("outbox", "readwrite", (s) => s.delete(key)),
    putDevice: (d) => run("devices", "readwrite", (s) => s.put(d)),
    getDevice: (id) => run("devices", "readonly", (s) => s.get(id)),
    devices: () => run("devices", "readonly", (s) => s.getAll()),
    putMeta: (k, v) => run("meta", "readwrite", (s) => s.put({ k, v })),
    async getMeta(k) {
      const row = await run("meta", "readonly", (s) => s.get(k));
      return row ? row.v : null;
    },
  };
})();
