// The trainer worker: runs trainer.wasm (the Go program in wasm/trainer), which trains a
// new expert on a person's examples. The page starts it only when someone trains, so
// the first visit does not download it. The messages are those of package
// wasm/protocol; goworker.js does the rest.
'use strict';

importScripts('goworker.js');
t2Start('trainer.wasm', 'trainer');
