// Echo server for the w3cws benchmarks: Node `ws`, loopback only.
// Prints the port it listens on, then echoes every message as it came
// (text as text, binary as binary), without permessage-deflate.
"use strict";
const { WebSocketServer } = require("ws");

const wss = new WebSocketServer({
  host: "127.0.0.1",
  port: 0,
  perMessageDeflate: false,
  maxPayload: 64 * 1024 * 1024,
  backlog: 2048,
});
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on("error", () => {});
});
wss.on("listening", () => {
  process.stdout.write(`${wss.address().port}\n`);
});
// Stop with the parent: its end closes our stdin.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
