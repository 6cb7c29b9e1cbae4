// The engine worker: runs engine.wasm (the Go program in wasm/) and lets it talk to the
// page. The messages are those of package wasm/protocol; goworker.js does the rest.
'use strict';

importScripts('goworker.js');
t2Start('engine.wasm', 'engine', true);
