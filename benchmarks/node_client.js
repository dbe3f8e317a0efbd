// Node's built-in WebSocket (undici) running one workload, in its own process.
//
//     node --experimental-websocket benchmarks/node_client.js WORKLOAD URL --count N
//
// Prints one JSON object on stdout, as clients.py does, with the same
// workloads: 64-byte binary messages for ping-pong and pipelined, a 1 MiB
// binary echo, sequential connect + close, and N sockets opened at once.
// Node >= 22 has WebSocket without the flag.
"use strict";

const crypto = require("crypto");

const DEADLINE_MS = 120000;
const SMALL = Buffer.alloc(64, "x");
const BULK = crypto.randomBytes(1 << 20);

function quantile(values, q) {
  const ordered = [...values].sort((a, b) => a - b);
  return ordered[Math.min(ordered.length - 1, Math.floor(q * ordered.length))];
}

const now = () => Number(process.hrtime.bigint()) / 1e9;

function openWs(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    const closed = new Promise((done) => ws.addEventListener("close", done));
    ws.addEventListener("open", () => resolve({ ws, closed }), { once: true });
    ws.addEventListener("error", () => reject(new Error("connection failed")), { once: true });
  });
}

async function closeWs({ ws, closed }) {
  ws.close();
  await closed;
}

async function echoes(ws, payload, count) {
  // Send, wait for the echo, repeat: the latencies and the elapsed time.
  const latencies = [];
  let t0 = 0;
  await new Promise((done) => {
    let left = count;
    ws.onmessage = () => {
      const t = now();
      latencies.push(t - t0);
      if (--left <= 0) return done();
      t0 = now();
      ws.send(payload);
    };
    t0 = now();
    ws.send(payload);
  });
  return latencies;
}

async function main() {
  const [workload, url, flag, countText] = process.argv.slice(2);
  const n = flag === "--count" ? Number(countText) : 1000;
  if (workload === "pingpong" || workload === "bulk") {
    const conn = await openWs(url);
    const payload = workload === "pingpong" ? SMALL : BULK;
    await echoes(conn.ws, payload, Math.max(2, Math.floor(n / 20)));
    const start = now();
    const latencies = await echoes(conn.ws, payload, n);
    const elapsed = now() - start;
    await closeWs(conn);
    if (workload === "bulk") return { mib_per_s: n / elapsed };
    return {
      rt_per_s: latencies.length / elapsed,
      p50_us: quantile(latencies, 0.5) * 1e6,
      p99_us: quantile(latencies, 0.99) * 1e6,
    };
  }
  if (workload === "pipelined") {
    const conn = await openWs(url);
    let elapsed = 0;
    for (const count of [Math.max(10, Math.floor(n / 20)), n]) {
      const start = now();
      await new Promise((done) => {
        let got = 0;
        conn.ws.onmessage = () => {
          if (++got === count) done();
        };
        for (let i = 0; i < count; i++) conn.ws.send(SMALL);
      });
      elapsed = now() - start;
    }
    await closeWs(conn);
    return { msg_per_s: n / elapsed };
  }
  if (workload === "connect") {
    await closeWs(await openWs(url));
    const start = now();
    for (let i = 0; i < n; i++) await closeWs(await openWs(url));
    return { conn_per_s: n / (now() - start) };
  }
  if (workload === "concurrent") {
    await closeWs(await openWs(url));
    global.gc?.();
    const base = process.memoryUsage().rss;
    const start = now();
    const sockets = await Promise.all(Array.from({ length: n }, () => openWs(url)));
    const elapsed = now() - start;
    global.gc?.();
    const loaded = process.memoryUsage().rss;
    await Promise.all(sockets.map(closeWs));
    return { open_s: elapsed, kib_per_conn: (loaded - base) / n / 1024, n };
  }
  throw new Error(`unknown workload ${workload}`);
}

const timer = setTimeout(() => {
  console.error("deadline passed");
  process.exit(1);
}, DEADLINE_MS);
main().then(
  (result) => {
    clearTimeout(timer);
    console.log(JSON.stringify(result));
    process.exit(0);
  },
  (err) => {
    console.error(String(err));
    process.exit(1);
  },
);
