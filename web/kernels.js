// The engine's second worker (goworker.js starts it where the page is cross-origin
// isolated): the kernel modules on the engine's shared memory, running the upper half
// of the output rows of the matmuls the engine worker hands it through a control block
// of shared memory (goworker.js: ctlSlots).
'use strict';

// spinMs is how long the worker polls for the next matmul before it sleeps: a decode step
// hands one out every few tens of microseconds, and waking a sleeping worker costs about
// as much.
const spinMs = 0.1;

self.onmessage = ({ data: { modules, memory, ctl: buffer, slots } }) => {
  const { seq: ctlSeq, done: ctlDone, level: ctlLevel, fn: ctlFn, args: ctlArgs } = slots;
  const kernels = {};
  try {
    for (const [level, mod] of Object.entries(modules)) {
      kernels[level] = new WebAssembly.Instance(mod, { env: { mem: memory } }).exports;
    }
  } catch (err) {
    postMessage({ type: 'error', message: String(err) });
    return;
  }
  self.onmessage = null;
  const ctl = new Int32Array(buffer);
  const a = ctl.subarray(ctlArgs);
  postMessage({ type: 'ready' });
  let seen = 0;
  for (;;) {
    let since = performance.now();
    for (let i = 1; Atomics.load(ctl, ctlSeq) === seen; i++) {
      if (i % 1024 === 0 && performance.now() - since > spinMs) {
        Atomics.wait(ctl, ctlSeq, seen);
        since = performance.now();
      }
    }
    seen = Atomics.load(ctl, ctlSeq);
    const k = kernels[ctl[ctlLevel]];
    if (ctl[ctlFn] === 0) k.matmul_q8(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11]);
    else k.matmul_f32(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]);
    Atomics.store(ctl, ctlDone, seen);
  }
};
