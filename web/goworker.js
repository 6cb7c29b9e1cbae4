// What the page's two Go workers share: worker.js runs engine.wasm (the engine, package
// wasm) and trainer.js runs trainer.wasm (expert training, wasm/trainer), each with
// t2Start. The messages are those of package wasm/protocol.
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

// Messages that arrive before the Go program listens wait here; it calls t2Ready with
// its handler once it has started, and gets them in order.
const pending = [];
self.onmessage = (event) => pending.push(event);
self.t2Ready = (handler) => {
  self.onmessage = handler;
  for (const event of pending.splice(0)) handler(event);
};

// The CPU kernels' SIMD modules (model/simd): each imports Go's memory, so it is
// instantiated once the Go program is; the program imports their functions as "t2simd",
// which forward to the module it picks with use(level). level() is the best module
// this browser runs: 3 relaxed SIMD read as u8, 2 relaxed SIMD, 1 SIMD128, 0 none (Go's
// kernels then).
const kernelFiles = { 1: 'kernels-simd128.wasm', 2: 'kernels-relaxed.wasm', 3: 'kernels-relaxed-u8.wasm' };
const kernelModules = {}; // level → WebAssembly.Module
const kernelInstances = {};
let k = null; // exports of the module in use
const t2simd = {
  level: () => Math.max(0, ...Object.keys(kernelModules).map(Number)),
  use: (level) => {
    k = kernelInstances[level] || null;
    return k ? 1 : 0;
  },
  matmul_q8: (y, xq, xs, wq, ws, b, T, nb, out, lo, hi, sums) => k.matmul_q8(y, xq, xs, wq, ws, b, T, nb, out, lo, hi, sums),
  matmul_f32: (y, x, w, b, T, n, out, lo, hi) => k.matmul_f32(y, x, w, b, T, n, out, lo, hi),
  scores: (sc, q, kc, n, stride, dh, scale) => k.scores(sc, q, kc, n, stride, dh, scale),
  mix: (out, p, v, n, stride, dh) => k.mix(out, p, v, n, stride, dh),
  quantize_q8: (q, s, x, rows, nb) => k.quantize_q8(q, s, x, rows, nb),
  swiglu: (dst, gate, up, n) => k.swiglu(dst, gate, up, n),
  softmax: (x, n) => k.softmax(x, n),
  block_max: (dst, x, nb) => k.block_max(dst, x, nb),
};

async function loadKernels() {
  for (const [level, file] of Object.entries(kernelFiles)) {
    try {
      const resp = await fetch(file);
      if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
      const bytes = await resp.arrayBuffer();
      // A browser without (relaxed) SIMD refuses the module: it runs Go's kernels.
      if (!WebAssembly.validate(bytes)) continue;
      const mod = await WebAssembly.compile(bytes);
      if (level === '3' && !readsU8(mod)) continue;
      kernelModules[level] = mod;
    } catch (err) {
      console.warn(`${file}: ${err}: the CPU kernels run without it`);
    }
  }
}

// readsU8 reports whether the u8 module's relaxed dot product reads its second operand
// as unsigned 8-bit, exactly: probe_u8(a, b) is four products a·b (model/simd). The
// module is only sound where it is (x86 with AVX-VNNI; not ARM, which reads it signed,
// nor x86 without VNNI, which saturates pairs of products).
function readsU8(mod) {
  const { probe_u8 } = new WebAssembly.Instance(mod, { env: { mem: new WebAssembly.Memory({ initial: 0 }) } }).exports;
  return [[127, 255], [-127, 255], [-128, 128], [100, 3]].every(([a, b]) => probe_u8(a, b) === 4 * a * b);
}

// t2Start runs the Go program file (what names it in errors) with the kernel modules.
function t2Start(file, what) {
  (async () => {
    const go = new Go();
    try {
      const [resp] = await Promise.all([fetch(file), loadKernels()]);
      if (!resp.ok) throw new Error(`${file}: HTTP ${resp.status} ${resp.statusText}`);
      go.importObject.t2simd = t2simd;
      const { instance } = await WebAssembly.instantiate(await resp.arrayBuffer(), go.importObject);
      // Go's own memory: the program hands SubtleCrypto views of it rather than copies
      // (webfs.SHA256).
      self.t2memory = instance.exports.mem;
      for (const [level, mod] of Object.entries(kernelModules)) {
        kernelInstances[level] = (await WebAssembly.instantiate(mod, { env: { mem: instance.exports.mem } })).exports;
      }
      await go.run(instance);
      postMessage({ type: 'error', message: `the ${what} stopped (see the console)` });
    } catch (err) {
      postMessage({ type: 'error', message: `starting the ${what}: ${err}` });
    }
  })();
}
