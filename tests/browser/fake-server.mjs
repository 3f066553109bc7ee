// A stand-in for a node's viewer endpoint, so the viewer can be tested without
// the Rust server: serves node/assets at /viewer/, speaks the server side of
// docs/VIEWER-PROTOCOL.md on /viewer/ws, and records what the browser sends.
//
// Library: startFakeServer() -> { port, url, received, connections, ... }.
// Standalone: `node tests/browser/fake-server.mjs [port]` serves the scripted
// session (open the printed URL in a browser) until killed.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import zlib from 'node:zlib';
import { WebSocketServer } from 'ws';

const ASSETS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'node', 'assets');

// ---- PNG by hand (a test fixture needs nothing more) ----

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

// rgba: Buffer of w*h*4. alpha=false writes colour type 2 (RGB). gamma (e.g.
// 1.0) adds a gAMA chunk, which a colour-managed decode would apply.
export function encodePng(w, h, rgba, { alpha = false, gamma = null } = {}) {
  const bpp = alpha ? 4 : 3;
  const raw = Buffer.alloc((w * bpp + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * bpp + 1)] = 0; // filter: none
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < bpp; c++) raw[y * (w * bpp + 1) + 1 + x * bpp + c] = rgba[(y * w + x) * 4 + c];
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = alpha ? 6 : 2;
  const parts = [Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr)];
  if (gamma) {
    const g = Buffer.alloc(4);
    g.writeUInt32BE(Math.round(100000 / gamma));
    parts.push(chunk('gAMA', g));
  }
  parts.push(chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0)));
  return Buffer.concat(parts);
}

// ---- protocol messages ----

const u16 = (v) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
const i16 = (v) => { const b = Buffer.alloc(2); b.writeInt16LE(v); return b; };
const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };

export const msg = {
  size: (w, h) => Buffer.concat([Buffer.from([1]), u16(w), u16(h)]),
  image: (x, y, w, h, codec, bytes) => Buffer.concat([Buffer.from([2]), u16(x), u16(y), u16(w), u16(h), Buffer.from([codec]), bytes]),
  copy: (sx, sy, w, h, dx, dy) => Buffer.concat([Buffer.from([3]), u16(sx), u16(sy), u16(w), u16(h), u16(dx), u16(dy)]),
  fill: (x, y, w, h, r, g, b) => Buffer.concat([Buffer.from([4]), u16(x), u16(y), u16(w), u16(h), Buffer.from([r, g, b])]),
  frame: (seq, latUs) => Buffer.concat([Buffer.from([5]), u32(seq), u32(latUs)]),
  cursor: (hx, hy, w, h, png) => Buffer.concat([Buffer.from([6]), i16(hx), i16(hy), u16(w), u16(h), png]),
  control: (obj) => Buffer.concat([Buffer.from([16]), Buffer.from(JSON.stringify(obj), 'utf8')]),
};

// ---- the scripted screen, mirrored here so tests know every pixel ----

export const W = 64, H = 48;

// A pattern where every pixel differs from its neighbours, so an off-by-one
// in placement or any smoothing shows.
export function pattern(w, h, seed = 0) {
  const p = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      p[i] = (x * 4 + seed) & 255;
      p[i + 1] = (y * 5 + 3 * seed) & 255;
      p[i + 2] = (x * 7 + y * 13 + seed) & 255;
      p[i + 3] = 255;
    }
  }
  return p;
}

// A framebuffer model applying the same operations the browser should.
export class Screen {
  constructor(w, h) { this.w = w; this.h = h; this.px = Buffer.alloc(w * h * 4); for (let i = 3; i < this.px.length; i += 4) this.px[i] = 255; }
  put(x0, y0, w, h, rgba) {
    for (let y = 0; y < h; y++) rgba.copy(this.px, ((y0 + y) * this.w + x0) * 4, y * w * 4, (y + 1) * w * 4);
  }
  copy(sx, sy, w, h, dx, dy) {
    const src = Buffer.from(this.px);   // source read before any write, like drawImage(self)
    for (let y = 0; y < h; y++) src.copy(this.px, ((dy + y) * this.w + dx) * 4, ((sy + y) * this.w + sx) * 4, ((sy + y) * this.w + sx + w) * 4);
  }
  fill(x0, y0, w, h, r, g, b) {
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) this.px.set([r, g, b, 255], (y * this.w + x) * 4);
  }
}

// The session sent on every connection: hello, SIZE, a full PNG, an
// overlapping COPY, a FILL, a small gAMA-tagged PNG, an unknown message type,
// a cursor, then FRAME. Returns [messages, the expected screen].
export function script(seq, resumeKey) {
  const s = new Screen(W, H);
  const out = [];
  out.push(msg.control({ kind: 'hello', version: 1, resume: resumeKey, mouse: 'client', agent: true }));
  // A guest agent that can follow the window and share the clipboard.
  out.push(msg.control({ kind: 'agent', connected: true, resize: true, clipboard: true }));
  out.push(msg.size(W, H));
  const full = pattern(W, H);
  out.push(msg.image(0, 0, W, H, 1, encodePng(W, H, full)));
  s.put(0, 0, W, H, full);
  out.push(msg.copy(0, 0, 16, 16, 8, 8));   // overlaps its source
  s.copy(0, 0, 16, 16, 8, 8);
  out.push(msg.fill(40, 30, 10, 10, 12, 34, 56));
  s.fill(40, 30, 10, 10, 12, 34, 56);
  const small = pattern(8, 6, 77);
  out.push(msg.image(50, 5, 8, 6, 1, encodePng(8, 6, small, { gamma: 1.0 })));
  s.put(50, 5, 8, 6, small);
  out.push(Buffer.from([99, 1, 2, 3]));     // unknown type: must be ignored
  const cur = Buffer.alloc(8 * 8 * 4, 0);
  for (let i = 0; i < 8; i++) cur.set([255, 255, 255, 255], (i * 8 + i) * 4);
  out.push(msg.cursor(2, 3, 8, 8, encodePng(8, 8, cur, { alpha: true })));
  out.push(msg.frame(seq, 1234));
  return [out, s];
}

export async function startFakeServer({ port = 0 } = {}) {
  const state = {
    received: [],        // every JSON message from browsers, with .conn index
    connections: [],     // { query, acks: [] } per accepted websocket
    rejected: 0,         // upgrades refused while refuse was true
    refuse: false,       // refuse new websockets (a node that is down)
    sockets: new Set(),
    seq: 0,
    expected: null,      // Screen after the last scripted session
    onMessage: null,     // (message, ws) hook for tests that answer input
  };
  const files = {
    '/viewer/': ['viewer.html', 'text/html; charset=utf-8'],
    '/viewer/viewer.js': ['viewer.js', 'text/javascript; charset=utf-8'],
  };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    const f = files[u.pathname];
    if (!f) { res.writeHead(404); res.end('not found'); return; }
    // Read on every request: the files may be edited while a browser is open.
    res.writeHead(200, { 'content-type': f[1], 'cache-control': 'no-store' });
    res.end(readFileSync(path.join(ASSETS, f[0])));
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname !== '/viewer/ws' || state.refuse) {
      state.rejected++;
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, u.searchParams));
  });

  function onConnection(ws, q) {
    const conn = { query: Object.fromEntries(q), acks: [] };
    const index = state.connections.push(conn) - 1;
    state.sockets.add(ws);
    ws.on('close', () => state.sockets.delete(ws));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let m;
      try { m = JSON.parse(data.toString()); } catch (e) { return; }
      m.conn = index;
      state.received.push(m);
      if (m.t === 'ack') conn.acks.push(m.seq);
      if (state.onMessage) state.onMessage(m, ws);
    });
    const token = q.get('token'), resume = q.get('resume');
    if (token === 'bad' || (resume && resume !== 'R1')) {
      ws.send(msg.control({ kind: 'error', message: 'token refused', retry: false }));
      ws.close(1008, 'refused');
      return;
    }
    if (!token && !resume) {
      ws.send(msg.control({ kind: 'error', message: 'no token', retry: false }));
      ws.close(1008, 'refused');
      return;
    }
    const [out, screen] = script(++state.seq, 'R1');
    state.expected = screen;
    for (const m of out) ws.send(m);
  }

  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actualPort = server.address().port;
  return Object.assign(state, {
    port: actualPort,
    url: `http://127.0.0.1:${actualPort}/viewer/`,
    send(buf) { for (const ws of state.sockets) ws.send(buf); },
    // Cuts every viewer off without a goodbye, like a network blip.
    dropAll() { for (const ws of state.sockets) ws.terminate(); },
    close() {
      for (const ws of state.sockets) ws.terminate();
      return new Promise((resolve) => server.close(resolve));
    },
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const s = await startFakeServer({ port: Number(process.argv[2] || 0) });
  process.stdout.write(JSON.stringify({ ok: true, port: s.port, url: s.url + '#token=T' }) + '\n');
}
