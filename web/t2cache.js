// t2cache: the page's view of what t2web keeps for offline use (see sw.js), as the
// global object t2cache. index.html loads it before ui.wasm and waits for t2cache.ready.
//
//   t2cache.ready                 Promise<boolean>: sw.js registered and controls the page
//                                 (false without service workers, or when it failed)
//   t2cache.isolate()             the same for the app's page (index.html), which sw.js
//                                 makes cross-origin isolated: it reloads the page once
//                                 when it is not yet, and then never settles
//   t2cache.isolation             once isolate() settles: {isolated, why}, whether the page is
//                                 cross-origin isolated (can share memory between
//                                 workers) and why the engine runs on one worker when
//                                 the page is not or ?workers=1 asks, in words for the page
//   t2cache.workerOptions         the options for the engine's new Worker: named
//                                 'one-worker' when the page's address has ?workers=1
//   t2cache.estimate()            Promise<{usage, quota}> in bytes (navigator.storage.estimate)
//   t2cache.packs()               Promise<[{url, bytes, files, shards, cachedShards, complete}]>
//                                 every cached pack: its folder URL (absolute), the bytes
//                                 and files stored, pack.json's shard count, how many of
//                                 those are stored, and whether all are
//   t2cache.remove(url)           Promise<boolean>: delete the pack at url (relative to the
//                                 page, e.g. "models/default/") from the cache
//   t2cache.persist()             Promise<boolean>: ask the browser not to evict the cache
//   t2cache.store(href, body)     hand sw.js a pack shard the engine downloaded (an
//                                 ArrayBuffer, transferred): sw.js keeps it when it is a
//                                 shard of a cached pack.json with its sha256 and size
//   t2cache.warm()                tell sw.js the page has loaded: it caches the shell files
//                                 kept for later (the trainer worker's)
//   t2cache.errors                the storage errors so far, newest last, each
//                                 {name, message, pack, file, bytes, packs, text}
//   t2cache.onerror = (e) => …    called with each error; while unset, the page shows e.text
//                                 in a visible alert (#storage-error)
//   t2cache.onchange = (e) => …   called when a file was stored ({pack, file, bytes})
//
// Isolation. sw.js adds COOP/COEP to the page it serves (GitHub Pages sends none), so the
// engine can run on two workers. A first visit's page came from the network before sw.js
// ran: once sw.js controls it, the page reloads, once. A note in sessionStorage (per tab)
// makes a loop impossible: a page that is still not isolated after its reload says why
// and stays on one worker, as does a hard reload (which skips sw.js), a page with
// ?workers=1, and a browser without service workers.
//
// An error's text says what happened and what to remove, e.g. "Storage is full: the pack
// https://…/models/default/ (12.5 MiB) could not be stored for offline use. Remove a
// cached pack (https://…/models/big/, 40.0 MiB) or free space in the browser, then
// reload the page."
'use strict';

(() => {
  const PACK_PREFIX = 't2-pack:';

  const t2cache = {
    errors: [],
    onerror: null,
    onchange: null,
  };

  const RELOADED = 't2-isolation-reload';
  const oneWorker = new URLSearchParams(location.search).get('workers') === '1';
  t2cache.workerOptions = oneWorker ? { name: 'one-worker' } : {};
  t2cache.isolation = { isolated: self.crossOriginIsolated === true, why: '' };

  const controlled = control();
  t2cache.ready = controlled.then((c) => c === true);

  // isolate is t2cache.ready for the page sw.js isolates (index.html, the app): when
  // sw.js controls it and it is not isolated, the page reloads, once, and the promise
  // never settles; otherwise t2cache.isolation says whether it is isolated and why not.
  t2cache.isolate = async () => {
    const c = await controlled;
    const iso = t2cache.isolation;
    if (oneWorker) {
      iso.why = 'the address asks for one: ?workers=1';
    } else if (iso.isolated) {
      forget();
    } else if (c === true) {
      if (reloadOnce()) return new Promise(() => {});
      iso.why = 'not cross-origin isolated: the browser did not isolate the page when it reloaded, as in a frame, or in a browser without COOP/COEP';
    } else {
      iso.why = `not cross-origin isolated: ${c}`;
    }
    return c === true;
  };

  // control registers sw.js and waits until it controls the page: true, or why not in
  // words (the page is then not isolated either).
  async function control() {
    if (!self.isSecureContext) return 'the page is not served over HTTPS, which service workers and isolation need';
    if (!('serviceWorker' in navigator)) return 'this browser runs no service worker here (a private window?), which isolation needs';
    navigator.serviceWorker.addEventListener('message', (event) => receive(event.data));
    try {
      const before = await navigator.serviceWorker.getRegistration();
      const reg = await navigator.serviceWorker.register('sw.js');
      if (navigator.serviceWorker.controller) {
        // An older sw.js, without isolation, may control the page while this one
        // installs: wait for it, so that the reload goes through it.
        if (!self.crossOriginIsolated && !oneWorker && (reg.installing || reg.waiting)) await claimed(reg);
        return true;
      }
      // A page that sw.js was active for, and does not control, was loaded past it: a
      // hard reload. It would not claim this page before the next load.
      if (before && before.active) return 'a hard reload skips the service worker that isolates the page; reload normally for two';
      // The first visit: wait until sw.js has cached the shell and claimed the page, so
      // that the engine worker (started by ui.wasm) fetches through it too.
      return (await claimed(reg)) || 'the service worker that isolates the page did not start';
    } catch (err) {
      console.warn('t2web: no offline use:', err);
      return `the service worker that isolates the page failed: ${err.message || err}`;
    }
  }

  // claimed waits until a service worker of reg claims the page (true), or reg's new one
  // fails or a minute passes (false).
  function claimed(reg) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), 60000);
      const done = (ok) => {
        clearTimeout(timer);
        resolve(ok);
      };
      navigator.serviceWorker.addEventListener('controllerchange', () => done(true), { once: true });
      const sw = reg.installing || reg.waiting || reg.active;
      if (sw) {
        sw.addEventListener('statechange', () => {
          if (sw.state === 'redundant') done(false);
        });
      }
    });
  }

  // reloadOnce reloads the page unless this tab reloaded it already for isolation, and
  // reports whether it did. Without sessionStorage it cannot tell, so it does not.
  function reloadOnce() {
    try {
      if (sessionStorage.getItem(RELOADED)) return false;
      sessionStorage.setItem(RELOADED, '1');
    } catch (err) {
      return false;
    }
    // This page may be kept in the back/forward cache when the reload swaps it for an
    // isolated one (a new browsing context group), and shown again (Chromium does that on
    // DevTools' reload): it reloads again, for the isolated page, as it was doing.
    addEventListener('pageshow', (event) => {
      if (event.persisted) location.reload();
    });
    location.reload();
    return true;
  }

  function forget() {
    try {
      sessionStorage.removeItem(RELOADED);
    } catch (err) {
      // no sessionStorage: nothing noted
    }
  }

  t2cache.estimate = async () => {
    if (!navigator.storage || !navigator.storage.estimate) return { usage: 0, quota: 0 };
    const { usage = 0, quota = 0 } = await navigator.storage.estimate();
    return { usage, quota };
  };

  t2cache.store = (href, body) => {
    const sw = navigator.serviceWorker && navigator.serviceWorker.controller;
    if (sw) sw.postMessage({ type: 't2-store', href, body }, [body]);
  };

  t2cache.warm = () => {
    const sw = navigator.serviceWorker && navigator.serviceWorker.controller;
    if (sw) sw.postMessage({ type: 't2-warm' });
  };

  t2cache.persist = async () => {
    if (!navigator.storage || !navigator.storage.persist) return false;
    return navigator.storage.persist();
  };

  t2cache.packs = async () => {
    if (!self.caches) return [];
    const out = [];
    for (const name of await caches.keys()) {
      if (!name.startsWith(PACK_PREFIX)) continue;
      const url = name.slice(PACK_PREFIX.length);
      const cache = await caches.open(name);
      let bytes = 0;
      let files = 0;
      const stored = new Map(); // file → sha256 (shards only)
      for (const req of await cache.keys()) {
        const r = await cache.match(req);
        if (!r || !r.ok) continue; // a 404 kept for offline use
        files++;
        bytes += Number(r.headers.get('x-t2-bytes')) || 0;
        stored.set(req.url.slice(url.length), r.headers.get('x-t2-sha256'));
      }
      let shards = 0;
      let cachedShards = 0;
      const m = await cache.match(url + 'pack.json');
      if (m) {
        try {
          const manifest = await m.json();
          for (const s of manifest.shards || []) {
            shards++;
            if (stored.get(s.file) === s.sha256) cachedShards++;
          }
        } catch {
          // an unreadable pack.json: no shards counted
        }
      }
      out.push({ url, bytes, files, shards, cachedShards, complete: shards > 0 && cachedShards === shards });
    }
    return out;
  };

  t2cache.remove = async (ref) => {
    if (!self.caches) return false;
    let url = new URL(ref, location.href).href;
    if (!url.endsWith('/')) url += '/';
    return caches.delete(PACK_PREFIX + url);
  };

  function receive(msg) {
    if (!msg || msg.type !== 't2-cache') return;
    if (msg.event === 'stored') {
      if (t2cache.onchange) t2cache.onchange({ pack: msg.pack, file: msg.file, bytes: msg.bytes });
      return;
    }
    if (msg.event !== 'error') return;
    const e = {
      name: msg.name, message: msg.message, pack: msg.pack, file: msg.file,
      bytes: msg.bytes, packs: msg.packs || [],
    };
    e.text = errorText(e);
    t2cache.errors.push(e);
    if (t2cache.onerror) {
      t2cache.onerror(e);
    } else {
      showError(e.text);
    }
  }

  // errorText says what failed and what the user can remove.
  function errorText(e) {
    const what = `the pack ${e.pack} (${sizeText(e.bytes)})`;
    if (e.name !== 'QuotaExceededError') {
      return `Could not store ${what} for offline use: ${e.name}: ${e.message}.`;
    }
    const others = e.packs.filter((p) => p.bytes > 0).sort((a, b) => b.bytes - a.bytes);
    const remove = others.length > 0
      ? `Remove a cached pack (${others.map((p) => `${p.url}, ${sizeText(p.bytes)}`).join('; ')}) or free space in the browser`
      : 'Free space in the browser (site data of other sites)';
    return `Storage is full: ${what} could not be stored for offline use. ${remove}, then reload the page.`;
  }

  function sizeText(n) {
    if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
    if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
    if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
    return `${n} B`;
  }

  // showError shows text in a visible alert at the top of the page until dismissed.
  function showError(text) {
    let box = document.getElementById('storage-error');
    if (!box) {
      box = document.createElement('div');
      box.id = 'storage-error';
      box.setAttribute('role', 'alert');
      box.style.cssText = 'position:fixed;top:0;left:0;right:0;z-index:1000;padding:.75em 2.5em .75em 1em;' +
        'background:#fde8e8;color:#7a1010;border-bottom:1px solid #e0a0a0;font:14px/1.4 system-ui,sans-serif';
      const p = document.createElement('p');
      p.style.margin = '0';
      const close = document.createElement('button');
      close.type = 'button';
      close.textContent = '×';
      close.setAttribute('aria-label', 'Dismiss');
      close.style.cssText = 'position:absolute;top:.4em;right:.6em;font-size:1.2em;background:none;border:0;cursor:pointer;color:inherit';
      close.onclick = () => box.remove();
      box.append(p, close);
      document.body.append(box);
    }
    box.firstChild.textContent = text;
  }

  self.t2cache = t2cache;
})();
