// Citysense technician page service worker: the page's files are kept so the page opens
// without a signal. Network first (an update shows at once), the kept copy when the network
// fails or takes longer than WAIT_MS. Data and the outbox live in IndexedDB (offline.js).
"use strict";
const SHELL = "citysense-technician-shell-v1";
const FILES = [
  "/technician/", "/technician/app.js", "/technician/offline.js", "/technician/tasks.js",
  "/technician/style.css", "/technician/manifest.webmanifest", "/technician/icon-192.png",
  "/technician/icon-512.png", "/technician/jsqr.min.js",
];
const WAIT_MS = 4000;

self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(SHELL).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (e) => {
  e.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== SHELL) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (!url.pathname.startsWith("/technician/") && url.pathname !== "/technician") return;
  e.respondWith((async () => {
    const cache = await caches.open(SHELL);
    const kept = () => cache.match(e.request, { ignoreSearch: true });
    try {
      const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("slow")), WAIT_MS));
      const r = await Promise.race([fetch(e.request), timeout]);
      if (r.ok) await cache.put(url.pathname, r.clone());
      return r;
    } catch (err) {
      return (await kept()) || Response.error();
    }
  })());
});
