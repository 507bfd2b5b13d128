// app.js - a small Node.js program that profiles itself with the real Pyroscope SDK
// (@pyroscope/nodejs) and pushes to profgate's receiver, for tests/e2e/test_sdk_nodejs.py.
//
//   node app.js SERVER_ADDRESS SECONDS
//
// Starts wall and heap profiling (Pyroscope.start()) with appName "nodeapp" and the tag
// region=test, flushes every second, and keeps the CPU busy (a recursive fib and some
// allocations in short slices, so the SDK's timers still run) for SECONDS; then stops the
// profilers (which sends the last profile) and exits 0. Set DEBUG=pyroscope* to see the
// SDK's own log, including any response it did not like.
'use strict';

const Pyroscope = require('@pyroscope/nodejs');

const serverAddress = process.argv[2];
const seconds = Number(process.argv[3] || '10');
if (!serverAddress || !(seconds > 0)) {
  console.error('usage: node app.js SERVER_ADDRESS SECONDS');
  process.exit(2);
}

Pyroscope.init({
  serverAddress: serverAddress,
  appName: 'nodeapp',
  tags: { region: 'test' },
  flushIntervalMs: 1000,
  heap: { samplingIntervalBytes: 16 * 1024 },
});
Pyroscope.start();

function fibonacciBurn(n) {
  return n < 2 ? n : fibonacciBurn(n - 1) + fibonacciBurn(n - 2);
}

const kept = [];
function allocateBurst() {
  const chunk = [];
  for (let i = 0; i < 2000; i++) chunk.push({ i: i, s: 'nodeapp-' + i });
  kept.push(chunk);
  if (kept.length > 50) kept.shift();
}

const deadline = Date.now() + seconds * 1000;
let rounds = 0;
function slice() {
  const end = Date.now() + 20;
  while (Date.now() < end) fibonacciBurn(18);
  allocateBurst();
  rounds++;
  if (Date.now() < deadline) {
    setTimeout(slice, 5);
    return;
  }
  Pyroscope.stop().then(
    () => {
      console.log('nodeapp: done after ' + rounds + ' rounds');
      process.exit(0);
    },
    (e) => {
      console.error('nodeapp: stop failed: ' + e);
      process.exit(1);
    },
  );
}
console.log('nodeapp: profiling to ' + serverAddress + ' for ' + seconds + 's');
slice();
