// BenchmarkPeersNative's peer: node llama.mjs MODEL.gguf THREADS MAX_TOKENS PROMPT
// completes PROMPT greedily with llama.cpp's CPU build (node-llama-cpp's prebuilt
// binary; it never builds from source), MAX_TOKENS new tokens whatever they are, and
// prints one JSON line of timings: prefill is the prompt's tokens over the time to the
// first new token, decode the tokens after it over their time (as the Go side times ours).
import { getLlama } from 'node-llama-cpp';

const [modelPath, threads, maxTokens, prompt] = process.argv.slice(2);
const t0 = performance.now();
const llama = await getLlama({ gpu: false, build: 'never' });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({ contextSize: 512, batchSize: 512, threads: Number(threads) });
const loadMs = performance.now() - t0;
const sequence = context.getSequence();
const tokens = model.tokenize(prompt);
let n = 0;
let first = 0;
const start = performance.now();
for await (const token of sequence.evaluate(tokens, { temperature: 0 })) {
  if (n === 0) first = performance.now();
  if (++n >= Number(maxTokens)) break;
}
const end = performance.now();
console.log(JSON.stringify({
  loadMs,
  promptTokens: tokens.length,
  newTokens: n,
  prefillTokensPerSecond: tokens.length / ((first - start) / 1000),
  decodeTokensPerSecond: (n - 1) / ((end - first) / 1000),
  threads: context.currentThreads,
  gpu: llama.gpu,
}));
await context.dispose();
await model.dispose();
await llama.dispose();
