// t2web's service worker: the page works offline after its first visit.
//
// The app shell (the page, its wasm, scripts, style, manifest and icons) is cached at
// install in a cache named after the build, "t2-shell-VERSION", and served cache-first;
// activating a new build deletes the old shell caches. The shell files the first page
// does not need (LATER: the trainer worker's) are cached once the page asks, when it has
// loaded ({type: 't2-warm'} posted by t2cache.warm), or when first fetched, whichever
// comes first. t2 site writes VERSION (a hash of the shell files' contents), SHELL and
// LATER (their names) into this file.
//
// Packs: every pack.json fetched in scope opens a cache "t2-pack:BASE" (BASE the pack's
// folder URL). Then, for a file under BASE:
//   - a shard listed in pack.json is served from the cache when the cached copy's sha256
//     is pack.json's; otherwise it is fetched and passed on as it arrives, untouched.
//     The engine worker, once it has the whole shard, sends it back through the page
//     ({type: 't2-store', href, body} posted here by t2cache.store), and it is stored if
//     its sha256 and size match pack.json's (a wrong one is never stored: the engine
//     reports it). Copying the download here as it streams (resp.clone()) would feed the
//     page a JavaScript stream of 64 KiB chunks: in Chromium a 64 MiB shard took 5.8 s
//     that way and 1.5 s untouched;
//   - pack.json, the tokenizer files and experts go to the network first and are stored,
//     and come from the cache when the network fails. A 404 is stored too: an optional
//     file (generation_config.json) is missing offline as it was online.
// Cross-origin isolation: GitHub Pages sends no COOP/COEP headers, and a page needs both
// to share memory between workers (the CPU engine's second worker, goworker.js). So the
// page and the worker scripts are answered with COOP same-origin and COEP require-corp
// added, unless the server sent its own COEP, or the page's address has ?workers=1. A
// first visit's page came from the network before this worker ran: t2cache.js reloads
// it once. The pack files need nothing: they are same-origin, or fetched with CORS.
//
// A storage quota error while storing is posted to every client as
// {type: 't2-cache', event: 'error', name, message, pack, bytes, packs}, and each stored
// file as {type: 't2-cache', event: 'stored', pack, file, bytes}: t2cache.js turns them
// into messages for the page.
'use strict';

const VERSION = '__T2_VERSION__';
const SHELL = __T2_SHELL__;
const LATER = __T2_LATER__;

const SHELL_CACHE = 't2-shell-' + VERSION;
const PACK_PREFIX = 't2-pack:';
const SCOPE = new URL('./', self.location.href).href;
const SHELL_URLS = new Set(SHELL.concat(LATER).map((f) => new URL(f, SCOPE).href));
const LATER_URLS = new Set(LATER.map((f) => new URL(f, SCOPE).href));

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL_CACHE);
    // cache: 'reload' skips the HTTP cache, so the shell is this build's.
    await cache.addAll(SHELL.map((f) => new Request(new URL(f, SCOPE), { cache: 'reload' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('t2-shell-') && name !== SHELL_CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || !url.href.startsWith(SCOPE)) return;
  url.hash = '';
  const search = url.search;
  url.search = '';
  // The page may have a query (?pack=…), which index.html reads itself.
  if (SHELL_URLS.has(url.href) && (search === '' || req.mode === 'navigate')) {
    const isolate = req.mode === 'navigate' ? new URLSearchParams(search).get('workers') !== '1' : req.destination === 'worker';
    event.respondWith(shell(event, url.href).then((resp) => (isolate ? isolated(resp) : resp)));
    return;
  }
  if (search !== '') return; // packs are plain folders
  event.respondWith(packFile(event, url.href));
});

// shell answers a request for the page or one of its files from the shell cache; a LATER
// file not cached yet is fetched and cached.
async function shell(event, href) {
  const cache = await caches.open(SHELL_CACHE);
  const hit = await cache.match(href);
  if (hit) return hit;
  const resp = await fetch(event.request);
  if (resp.ok && LATER_URLS.has(href)) event.waitUntil(cache.put(href, resp.clone()));
  return resp;
}

// isolated is resp with the headers that make a page (or a worker) cross-origin isolated,
// or resp itself when it cannot carry them (an opaque answer) or its server chose its own
// embedder policy.
function isolated(resp) {
  if (resp.type === 'opaque' || resp.type === 'opaqueredirect' || resp.headers.has('Cross-Origin-Embedder-Policy')) return resp;
  const headers = new Headers(resp.headers);
  headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
  return new Response(resp.body, { status: resp.status, statusText: resp.statusText, headers });
}

// cacheLater caches the LATER files not cached yet. Offline, or on an HTTP error, a file
// stays uncached until the next try: it is the page's to report when it needs the file.
async function cacheLater() {
  const cache = await caches.open(SHELL_CACHE);
  for (const href of LATER_URLS) {
    if (await cache.match(href)) continue;
    try {
      await cache.add(new Request(href, { cache: 'reload' }));
    } catch (err) {
      console.warn('t2web: caching ' + href + ' for offline use:', err);
    }
  }
}

// packFile answers a request for a file of a pack (or of anything else in scope, which
// goes to the network when it is under no pack).
async function packFile(event, href) {
  if (href.endsWith('/pack.json')) return manifestFile(event, href);
  const pk = await cachedPack(href);
  if (!pk) return fetch(event.request);
  if (pk.shard) {
    const hit = await storedShard(pk, href);
    return hit || fetch(event.request); // the engine hands it back to store (storeShard)
  }
  return networkFirst(event, pk.cache, pk.base, href);
}

// cachedPack is the cached pack whose folder holds href, {base, cache, shard}, shard
// being href's entry in its pack.json's shards (undefined for another file); null when
// no cached pack.json covers href.
async function cachedPack(href) {
  const base = await packBase(href);
  if (!base) return null;
  const cache = await caches.open(PACK_PREFIX + base);
  const manifest = await cachedManifest(cache, base);
  if (!manifest) return null;
  const rel = href.slice(base.length);
  const shard = Array.isArray(manifest.shards) ? manifest.shards.find((s) => s.file === rel) : undefined;
  return { base, cache, shard };
}

// storedShard is the stored copy of pk's shard at href when its sha256 is pack.json's.
async function storedShard(pk, href) {
  const hit = await pk.cache.match(href);
  return hit && hit.headers.get('x-t2-sha256') === pk.shard.sha256 ? hit : null;
}

// manifestFile fetches a pack.json, network first; a good one opens the pack's cache.
async function manifestFile(event, href) {
  const base = href.slice(0, href.length - 'pack.json'.length);
  const name = PACK_PREFIX + base;
  let resp;
  try {
    resp = await fetch(event.request);
  } catch (err) {
    if (await caches.has(name)) {
      const hit = await (await caches.open(name)).match(href);
      if (hit) return hit;
    }
    throw err;
  }
  // Stored before answering: the shards that follow are checked against it.
  if (resp.ok) await storeFile(await caches.open(name), base, href, resp.clone());
  return resp;
}

// networkFirst fetches a file of a pack and stores it, or answers from the cache when
// the network fails.
async function networkFirst(event, cache, base, href) {
  let resp;
  try {
    resp = await fetch(event.request);
  } catch (err) {
    const hit = await cache.match(href);
    if (hit) return hit;
    throw err;
  }
  if (resp.ok || resp.status === 404) event.waitUntil(storeFile(cache, base, href, resp.clone()));
  return resp;
}

// packBase is the folder of the cached pack that holds href (the longest), or ''.
async function packBase(href) {
  let best = '';
  for (const name of await caches.keys()) {
    if (!name.startsWith(PACK_PREFIX)) continue;
    const base = name.slice(PACK_PREFIX.length);
    if (href.startsWith(base) && base.length > best.length) best = base;
  }
  return best;
}

async function cachedManifest(cache, base) {
  const hit = await cache.match(base + 'pack.json');
  if (!hit) return null;
  try {
    return await hit.json();
  } catch {
    return null;
  }
}

// The engine's downloaded shards, handed back by the page (t2cache.store), and the page's
// word that it has loaded (t2cache.warm).
self.addEventListener('message', (event) => {
  const m = event.data;
  if (m && m.type === 't2-store' && typeof m.href === 'string' && m.body instanceof ArrayBuffer) {
    event.waitUntil(storeShard(m.href, m.body));
  } else if (m && m.type === 't2-warm') {
    event.waitUntil(cacheLater());
  }
});

// storeShard stores body, downloaded from href, when href is a shard of a cached pack's
// pack.json and body has its sha256 and size, unless that shard is stored already.
async function storeShard(href, body) {
  const pk = await cachedPack(href);
  if (!pk || !pk.shard || await storedShard(pk, href)) return;
  const sum = hex(await crypto.subtle.digest('SHA-256', body));
  if (sum !== pk.shard.sha256 || body.byteLength !== pk.shard.bytes) {
    await pk.cache.delete(href);
    return; // the engine checks the same and reports it
  }
  const resp = { status: 200, statusText: 'OK', headers: new Headers({ 'content-type': 'application/octet-stream' }) };
  await put(pk.cache, pk.base, href, resp, body, { 'x-t2-sha256': sum });
}

async function storeFile(cache, base, href, resp) {
  await put(cache, base, href, resp, await resp.arrayBuffer(), {});
}

// put stores body as the answer for href, noting its size; a quota error is posted to
// the clients with the pack's size and what else is cached.
async function put(cache, base, href, resp, body, extra) {
  const headers = new Headers();
  const type = resp.headers.get('content-type');
  if (type) headers.set('content-type', type);
  headers.set('content-length', String(body.byteLength));
  headers.set('x-t2-bytes', String(body.byteLength));
  for (const [k, v] of Object.entries(extra)) headers.set(k, v);
  try {
    await cache.put(href, new Response(body, { status: resp.status, statusText: resp.statusText, headers }));
  } catch (err) {
    let manifest = await cachedManifest(cache, base);
    if (!manifest && href === base + 'pack.json') {
      try {
        manifest = JSON.parse(new TextDecoder().decode(body));
      } catch {
        manifest = null;
      }
    }
    let bytes = 0;
    if (manifest && Array.isArray(manifest.shards)) {
      for (const s of manifest.shards) bytes += s.bytes || 0;
    }
    const packs = [];
    for (const name of await caches.keys()) {
      if (!name.startsWith(PACK_PREFIX) || name === PACK_PREFIX + base) continue;
      packs.push({ url: name.slice(PACK_PREFIX.length), bytes: await cacheBytes(await caches.open(name)) });
    }
    await post({
      type: 't2-cache', event: 'error', name: err.name || 'Error', message: err.message || String(err),
      pack: base, file: href.slice(base.length), bytes, packs,
    });
    return;
  }
  await post({ type: 't2-cache', event: 'stored', pack: base, file: href.slice(base.length), bytes: body.byteLength });
}

async function cacheBytes(cache) {
  let n = 0;
  for (const req of await cache.keys()) {
    const r = await cache.match(req);
    n += Number(r && r.headers.get('x-t2-bytes')) || 0;
  }
  return n;
}

async function post(msg) {
  for (const c of await self.clients.matchAll({ includeUncontrolled: true, type: 'window' })) c.postMessage(msg);
}

function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}
