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
let kLevel = 0; // its level
const t2simd = {
  level: () => Math.max(0, ...Object.keys(kernelModules).map(Number)),
  use: (level) => {
    k = kernelInstances[level] || null;
    kLevel = k ? level : 0;
    return k ? 1 : 0;
  },
  workers: () => (helper ? 2 : 1),
  // A matmul of enough work gives the upper half of its output rows to the second
  // worker (below) and runs the lower half here; sums, the u8 module's scratch, is
  // twice the size a call needs: the second half is the helper's.
  matmul_q8: (y, xq, xs, wq, ws, b, T, nb, out, lo, hi, sums) => {
    if (!helper || T < minRows || (hi - lo) * T * nb * 32 < minSplit) return k.matmul_q8(y, xq, xs, wq, ws, b, T, nb, out, lo, hi, sums);
    const mid = lo + ((hi - lo) >> 1);
    const upper = [y, xq, xs, wq, ws, b, T, nb, out, mid, hi, sums && sums + 4 * (T * nb + 3)];
    helper.start(0, upper);
    k.matmul_q8(y, xq, xs, wq, ws, b, T, nb, out, lo, mid, sums);
    helper.finish(() => k.matmul_q8(...upper));
  },
  matmul_f32: (y, x, w, b, T, n, out, lo, hi) => {
    if (!helper || T < minRows || (hi - lo) * T * n < minSplit) return k.matmul_f32(y, x, w, b, T, n, out, lo, hi);
    const mid = lo + ((hi - lo) >> 1);
    const upper = [y, x, w, b, T, n, out, mid, hi];
    helper.start(1, upper);
    k.matmul_f32(y, x, w, b, T, n, out, lo, mid);
    helper.finish(() => k.matmul_f32(...upper));
  },
  scores: (sc, q, kc, n, stride, dh, scale) => k.scores(sc, q, kc, n, stride, dh, scale),
  mix: (out, p, v, n, stride, dh) => k.mix(out, p, v, n, stride, dh),
  quantize_q8: (q, s, x, rows, nb) => k.quantize_q8(q, s, x, rows, nb),
  swiglu: (dst, gate, up, n) => k.swiglu(dst, gate, up, n),
  softmax: (x, n) => k.softmax(x, n),
  block_max: (dst, x, nb) => k.block_max(dst, x, nb),
};

// loadKernels compiles the kernel modules the browser runs; with shared, each imports a
// shared memory.
async function loadKernels(shared) {
  for (const [level, file] of Object.entries(kernelFiles)) {
    try {
      const resp = await fetch(file);
      if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
      let bytes = await resp.arrayBuffer();
      // A browser without (relaxed) SIMD refuses the module: it runs Go's kernels.
      if (!WebAssembly.validate(bytes)) continue;
      if (shared) bytes = sharedMemory(bytes).bytes;
      const mod = await WebAssembly.compile(bytes);
      if (level === '3' && !readsU8(mod, shared)) continue;
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
function readsU8(mod, shared) {
  const mem = new WebAssembly.Memory({ initial: 0, maximum: 1, shared });
  const { probe_u8 } = new WebAssembly.Instance(mod, { env: { mem } }).exports;
  return [[127, 255], [-127, 255], [-128, 128], [100, 3]].every(([a, b]) => probe_u8(a, b) === 4 * a * b);
}

// t2Start runs the Go program file (what names it in errors) with the kernel modules;
// with share (the engine's), on a memory shared with a second worker where the page
// allows it (canShare).
function t2Start(file, what, share) {
  (async () => {
    const go = new Go();
    try {
      share = share && canShare();
      const [resp] = await Promise.all([fetch(file), loadKernels(share)]);
      if (!resp.ok) throw new Error(`${file}: HTTP ${resp.status} ${resp.statusText}`);
      go.importObject.t2simd = t2simd;
      let bytes = await resp.arrayBuffer();
      let memory = null;
      if (share && Object.keys(kernelModules).length > 0) {
        const patched = sharedMemory(bytes);
        bytes = patched.bytes;
        memory = new WebAssembly.Memory({ initial: patched.min, maximum: maxPages, shared: true });
        go.importObject.env = { mem: memory };
        allowShared();
      }
      const { instance } = await WebAssembly.instantiate(bytes, go.importObject);
      // Go's own memory: the program hands SubtleCrypto views of it rather than copies
      // (webfs.SHA256); SubtleCrypto refuses views of a shared memory, so then it copies.
      if (!memory) self.t2memory = instance.exports.mem;
      for (const [level, mod] of Object.entries(kernelModules)) {
        kernelInstances[level] = (await WebAssembly.instantiate(mod, { env: { mem: instance.exports.mem } })).exports;
      }
      if (memory) helper = await startHelper(memory);
      await go.run(instance);
      postMessage({ type: 'error', message: `the ${what} stopped (see the console)` });
    } catch (err) {
      postMessage({ type: 'error', message: `starting the ${what}: ${err}` });
    }
  })();
}

// Two workers. Where the page is cross-origin isolated (memory can be shared between
// workers) and the machine has two cores or more, the engine's Go program runs on a
// shared WebAssembly.Memory, and a second worker (kernels.js) instantiates the kernel
// modules on the same memory: it reads the weights and activations where Go keeps them
// and writes its output rows there. Each row's sums are the same whichever worker runs
// them, so the logits are one worker's bit for bit.

// A matmul is split when it has minRows rows of input or more and minSplit multiply-adds
// or more: a prompt's, a population's, a recomposition's. Decode's one-row matmuls stay on
// this worker: on a 2-core machine, where the page's own threads want a core too,
// splitting them made decode slower (BenchmarkPageSmolLM2/pack-cpu-isolated) — down to
// 0.6–0.7 of one worker's with every matmul of 2^15 or 2^19 multiply-adds or more split,
// and 0.8 with the lm_head's alone (2^22), since the second worker then sleeps between
// tokens and waking it costs more than half the lm_head saves.
const minRows = 8;
const minSplit = 1 << 20;
// helperTimeoutMs is how long a matmul waits for the second worker before it runs the
// second half itself and stops handing any out: the worker failed.
const helperTimeoutMs = 10000;
// maxPages bounds the shared memory (a shared memory must have a maximum): 4 GiB, what
// Go's wasm port can address.
const maxPages = 65536;
let helper = null; // the second worker, once it runs the kernels (startHelper)

// canShare reports whether this worker can share memory with another: the page did not
// name it 'one-worker' (?workers=1, t2cache.workerOptions).
function canShare() {
  return self.name !== 'one-worker' && self.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function' && (navigator.hardwareConcurrency || 1) >= 2;
}

// sharedMemory rewrites a module so that its memory is the import env.mem, shared, of
// at most maxPages pages: Go's program defines its memory, which becomes that import; a
// kernel module imports an unshared one, which becomes shared. It returns the module's
// bytes and the memory's minimum pages.
function sharedMemory(buffer) {
  const b = new Uint8Array(buffer);
  const uleb = (n) => { const o = []; do { let x = n % 128; n = Math.floor(n / 128); if (n) x |= 0x80; o.push(x); } while (n); return o; };
  const read = (p) => { let r = 0, s = 0, x; do { x = b[p++]; r += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80); return [r, p]; };
  const limits = (p) => { const flags = b[p++]; let min; [min, p] = read(p); if (flags & 1) [, p] = read(p); return [min, p]; };
  const sharedLimits = (min) => [0x03, ...uleb(min), ...uleb(maxPages)]; // shared, with a maximum
  const sections = [];
  for (let p = 8; p < b.length;) {
    const [size, body] = read(p + 1);
    sections.push({ id: b[p], start: p, body, end: body + size });
    p = body + size;
  }
  let min = 0, defined = false;
  const memory = sections.find((s) => s.id === 5);
  if (memory) {
    const [n, p] = read(memory.body);
    if (n !== 1) throw new Error(`sharedMemory: ${n} memories`);
    [min] = limits(p);
    defined = true;
  }
  const parts = [b.subarray(0, 8)];
  for (const s of sections) {
    if (s.id === 5) continue; // the memory is imported instead
    if (s.id !== 2) {
      parts.push(b.subarray(s.start, s.end));
      continue;
    }
    let [count, p] = read(s.body);
    const entries = [];
    for (let i = 0; i < count; i++) {
      const start = p;
      for (let j = 0; j < 2; j++) { const [n, q] = read(p); p = q + n; } // module and field names
      const kind = b[p++];
      if (kind === 2) { // memory: made shared
        const names = b.subarray(start, p);
        [min, p] = limits(p);
        entries.push(...names, ...sharedLimits(min));
        continue;
      }
      if (kind === 0) [, p] = read(p); // function: its type
      else if (kind === 1) [, p] = limits(p + 1); // table: element type, limits
      else if (kind === 3) p += 2; // global: type, mutability
      else throw new Error(`sharedMemory: import kind ${kind}`);
      entries.push(...b.subarray(start, p));
    }
    if (defined) {
      const name = (t) => [...uleb(t.length), ...new TextEncoder().encode(t)];
      entries.push(...name('env'), ...name('mem'), 2, ...sharedLimits(min));
      count++;
    }
    const body = [...uleb(count), ...entries];
    parts.push(new Uint8Array([2, ...uleb(body.length), ...body]));
  }
  if (defined && !sections.some((s) => s.id === 2)) throw new Error('sharedMemory: the module imports nothing');
  const out = new Uint8Array(parts.reduce((n, x) => n + x.length, 0));
  let at = 0;
  for (const x of parts) { out.set(x, at); at += x.length; }
  return { bytes: out, min };
}

// allowShared lets wasm_exec.js work on a shared memory: it hands views of Go's memory
// to TextDecoder.decode and crypto.getRandomValues, which refuse views of shared
// memory; they get a copy (decode) or fill one (getRandomValues).
function allowShared() {
  const shared = (v) => v && v.buffer instanceof SharedArrayBuffer;
  const decode = TextDecoder.prototype.decode;
  TextDecoder.prototype.decode = function (v, options) {
    return decode.call(this, shared(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice() : v, options);
  };
  const getRandomValues = crypto.getRandomValues.bind(crypto);
  crypto.getRandomValues = (v) => {
    if (!shared(v)) return getRandomValues(v);
    const copy = getRandomValues(new v.constructor(v.length));
    v.set(copy);
    return v;
  };
}

// The second worker's control block (Int32Array over a SharedArrayBuffer), its slots by
// index: this worker writes a job's module level, function and arguments, then moves seq;
// the helper runs it and sets done to seq. kernels.js gets the layout with the block.
const ctlSlots = { seq: 0, done: 1, level: 2, fn: 3, args: 4 };
const { seq: ctlSeq, done: ctlDone, level: ctlLevel, fn: ctlFn, args: ctlArgs } = ctlSlots;

// startHelper starts kernels.js on memory with the kernel modules, and resolves to its
// handle once it runs them; null, with a warning, when it cannot start.
async function startHelper(memory) {
  const ctl = new Int32Array(new SharedArrayBuffer(4 * (ctlArgs + 12)));
  let worker;
  try {
    worker = new Worker('kernels.js');
    await new Promise((resolve, reject) => {
      worker.onmessage = (e) => (e.data.type === 'ready' ? resolve() : reject(new Error(e.data.message)));
      worker.onerror = (e) => reject(new Error(e.message || 'kernels.js failed to start'));
      worker.postMessage({ modules: kernelModules, memory, ctl: ctl.buffer, slots: ctlSlots });
    });
  } catch (err) {
    console.warn(`the second worker did not start (${err}): the kernels run on one`);
    if (worker) worker.terminate();
    return null;
  }
  let seq = 0;
  return {
    // start hands the helper function fn (0 matmul_q8, 1 matmul_f32) of the module in use.
    start(fn, args) {
      ctl[ctlLevel] = kLevel;
      ctl[ctlFn] = fn;
      ctl.set(args, ctlArgs);
      Atomics.store(ctl, ctlSeq, ++seq);
      Atomics.notify(ctl, ctlSeq);
    },
    // finish waits until the helper is done: it polls (the helper takes about as long as
    // this worker's half), then sleeps a millisecond at a time. When the helper has not
    // answered in helperTimeoutMs, its half runs here (runHere) and it gets no more.
    finish(runHere) {
      let since = 0;
      for (let i = 0; Atomics.load(ctl, ctlDone) !== seq; i++) {
        if (i < 1e5) continue;
        since = since || performance.now();
        if (performance.now() - since > helperTimeoutMs) {
          console.warn(`the second worker did not answer in ${helperTimeoutMs / 1000} s: the kernels run on one`);
          helper = null;
          runHere();
          return;
        }
        Atomics.wait(ctl, ctlDone, Atomics.load(ctl, ctlDone), 1);
      }
    },
  };
}
