// The engine worker: runs engine.wasm (the Go program in wasm/) and lets it talk to the
// page. The messages are those of package wasm/protocol.
'use strict';

importScripts('wasm_exec.js');

// Go's standard output and error arrive at console.log; a worker's console is not the
// page's, so forward every line to the page, which prints it in its own console.
for (const level of ['log', 'warn', 'error']) {
  const original = console[level].bind(console);
  console[level] = (...args) => {
    original(...args);
    postMessage({ type: 'log', level, text: args.map(String).join(' ') });
  };
}

// Messages that arrive before engine.wasm listens wait here; it calls t2Ready with its
// handler once it has started, and gets them in order.
const pending = [];
self.onmessage = (event) => pending.push(event);
self.t2Ready = (handler) => {
  self.onmessage = handler;
  for (const event of pending.splice(0)) handler(event);
};

(async () => {
  const go = new Go();
  try {
    const resp = await fetch('engine.wasm');
    if (!resp.ok) throw new Error(`engine.wasm: HTTP ${resp.status} ${resp.statusText}`);
    const { instance } = await WebAssembly.instantiate(await resp.arrayBuffer(), go.importObject);
    await go.run(instance);
    postMessage({ type: 'error', message: 'the engine stopped (see the console)' });
  } catch (err) {
    postMessage({ type: 'error', message: `starting the engine: ${err}` });
  }
})();
