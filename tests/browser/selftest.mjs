#!/usr/bin/env node
// Tests node/assets/viewer.{html,js} in Debian's chromium against
// fake-server.mjs, driving the browser through viewer.mjs's line protocol
// exactly as the Rust tests do. Run: node tests/browser/selftest.mjs
// Ends with "N passed, N failed"; exit status 0 only when all passed.
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { startFakeServer, msg, encodePng, pattern, W, H } from './fake-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let passed = 0, failed = 0;
function check(name, ok, detail) {
  if (ok) { passed++; process.stderr.write(`ok   ${name}\n`); }
  else { failed++; process.stderr.write(`FAIL ${name}${detail === undefined ? '' : ': ' + JSON.stringify(detail)}\n`); }
}

async function until(what, f, timeoutMs = 5000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(20);
  }
}

// viewer.mjs in line mode: send(cmd) resolves with its one-line answer.
function startDriver() {
  const child = spawn(process.execPath, [path.join(here, 'viewer.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const w = waiting.shift();
    if (w) w(JSON.parse(line));
  });
  const next = () => new Promise((resolve) => waiting.push(resolve));
  return {
    child,
    ready: next(),
    async send(cmd) {
      const p = next();
      child.stdin.write(JSON.stringify(cmd) + '\n');
      const r = await p;
      if (!r.ok) throw new Error(cmd.cmd + ': ' + r.error);
      return r;
    },
  };
}

function comparePixels(r, expected) {
  const got = Buffer.from(r.rgba, 'base64');
  const bad = [];
  for (let i = 0; i < got.length; i += 4) {
    for (let c = 0; c < 4; c++) {
      if (got[i + c] !== expected.px[i + c]) {
        const p = i / 4;
        bad.push({ x: p % expected.w, y: Math.floor(p / expected.w), got: [...got.subarray(i, i + 4)], want: [...expected.px.subarray(i, i + 4)] });
        break;
      }
    }
  }
  return { size: r.width === expected.w && r.height === expected.h, bad: bad.length, first: bad.slice(0, 3) };
}

const fake = await startFakeServer();
const drv = startDriver();
let exitCode = 1;
try {
  const ready = await drv.ready;
  check('driver ready', ready.ok && ready.ready, ready);
  process.stderr.write(`chromium ${ready.chromium}, fake server ${fake.url}\n`);

  // --- first connection, drawing ---
  // 800x700 letterboxes a 64x48 screen: scale 12.5, 50 px bands top and bottom.
  let st = await drv.send({ cmd: 'open', url: fake.url + '#token=T', viewport: { width: 800, height: 700 } });
  check('first frame drawn', st.frames === 1 && st.lastSeq === 1 && st.connected && st.state === 'open', st);
  check('veil hidden once drawn', st.veil === false, st);
  check('token in the first websocket URL', fake.connections[0].query.token === 'T', fake.connections[0].query);
  const href = (await drv.send({ cmd: 'eval', js: 'location.href' })).value;
  check('token removed from the address bar', !href.includes('token') && !href.includes('#'), href);
  await until('ack 1', () => fake.connections[0].acks.includes(1));
  check('ack sent', true);
  let cmp = comparePixels(await drv.send({ cmd: 'pixels' }), fake.expected);
  check('pixels exact (PNG, overlapping COPY, FILL, gAMA PNG)', cmp.size && cmp.bad === 0, cmp);
  const box = (await drv.send({ cmd: 'eval', js: 'JSON.stringify(ocViewer.canvas.getBoundingClientRect())' })).value;
  const b = JSON.parse(box);
  check('canvas scaled to fit, letterboxed', b.x === 0 && b.y === 50 && b.width === 800 && b.height === 600, b);
  const cursor = (await drv.send({ cmd: 'eval', js: 'ocViewer.canvas.style.cursor' })).value;
  check('cursor from CURSOR message', /^url\("data:image\/png;base64,[A-Za-z0-9+/=]+"\) 2 3, auto$/.test(cursor), cursor.slice(0, 40) + '...' + cursor.slice(-20));

  // --- keyboard ---
  const inputs = (from) => fake.received.slice(from).filter((m) => m.t !== 'ack').map(({ conn, ...m }) => m);
  let mark = fake.received.length;
  await drv.send({ cmd: 'press', key: 'KeyA' });
  await drv.send({ cmd: 'type', text: 'A\n' });
  await drv.send({ cmd: 'press', key: 'Tab' });
  await drv.send({ cmd: 'press', key: 'F5' });
  await until('keys', () => inputs(mark).length >= 12);
  const keys = inputs(mark).map((m) => (m.down ? '+' : '-') + m.code);
  check('key codes in order (Shift for capitals, Enter, Tab, F5)', JSON.stringify(keys) === JSON.stringify(
    ['+KeyA', '-KeyA', '+ShiftLeft', '+KeyA', '-KeyA', '-ShiftLeft', '+Enter', '-Enter', '+Tab', '-Tab', '+F5', '-F5']), keys);
  const href2 = (await drv.send({ cmd: 'eval', js: 'location.href' })).value;
  check('F5 did not reload the page', href2 === href && (await drv.send({ cmd: 'state' })).frames >= 1, href2);

  // Ctrl+V: the key must still reach the guest (after any paste event).
  mark = fake.received.length;
  await drv.send({ cmd: 'press', key: 'Control+KeyV' });
  await until('ctrl+v', () => inputs(mark).filter((m) => m.t === 'key').length >= 4);
  const cv = inputs(mark).filter((m) => m.t === 'key').map((m) => (m.down ? '+' : '-') + m.code);
  check('Ctrl+V reaches the guest in order', JSON.stringify(cv) === JSON.stringify(['+ControlLeft', '+KeyV', '-KeyV', '-ControlLeft']), cv);

  // paste event -> clipboard
  mark = fake.received.length;
  await drv.send({ cmd: 'eval', js: `(() => { const dt = new DataTransfer(); dt.setData('text/plain', 'héllo\\nworld');
    window.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true })); })()` });
  await until('clipboard', () => inputs(mark).length >= 1);
  check('paste sends clipboard', JSON.stringify(inputs(mark)[0]) === JSON.stringify({ t: 'clipboard', text: 'héllo\nworld' }), inputs(mark));

  // --- mouse ---
  mark = fake.received.length;
  await drv.send({ cmd: 'mouse', action: 'click', x: 10, y: 20, button: 1 });
  await drv.send({ cmd: 'mouse', action: 'click', x: 63, y: 47, button: 3 });
  await drv.send({ cmd: 'mouse', action: 'click', x: 0, y: 0, button: 2 });
  await until('mouse', () => inputs(mark).length >= 9);
  const mouse = inputs(mark);
  check('clicks map to framebuffer pixels and buttons 1/3/2', JSON.stringify(mouse) === JSON.stringify([
    { t: 'move', x: 10, y: 20 }, { t: 'button', button: 1, down: true }, { t: 'button', button: 1, down: false },
    { t: 'move', x: 63, y: 47 }, { t: 'button', button: 3, down: true }, { t: 'button', button: 3, down: false },
    { t: 'move', x: 0, y: 0 }, { t: 'button', button: 2, down: true }, { t: 'button', button: 2, down: false },
  ]), mouse);
  // Moves are throttled to one per animation frame: a burst sends at most a few.
  mark = fake.received.length;
  await drv.send({ cmd: 'eval', js: `(() => { const r = ocViewer.canvas.getBoundingClientRect();
    for (let i = 0; i < 50; i++) ocViewer.canvas.dispatchEvent(new MouseEvent('mousemove', { clientX: r.left + i * 10, clientY: r.top + 100, bubbles: true })); })()` });
  // The last position arrives at the next animation frame, which a busy
  // machine may delay; then a moment more shows any extra moves.
  await until('mouse moves', () => inputs(mark).some((m) => m.t === 'move' && m.x === Math.floor(490 / 12.5)));
  await sleep(200);
  const moves = inputs(mark).filter((m) => m.t === 'move');
  check('mouse moves throttled, last position kept', moves.length >= 1 && moves.length <= 3 &&
    moves[moves.length - 1].x === Math.floor(490 / 12.5) && moves[moves.length - 1].y === 8, moves);

  mark = fake.received.length;
  await drv.send({ cmd: 'mouse', action: 'move', x: 32, y: 24 });
  await drv.send({ cmd: 'wheel', dy: 1 });
  await drv.send({ cmd: 'wheel', dy: -2 });
  await until('wheel', () => inputs(mark).filter((m) => m.t === 'wheel').length >= 2);
  const wheels = inputs(mark).filter((m) => m.t === 'wheel');
  check('wheel notches', JSON.stringify(wheels) === JSON.stringify([{ t: 'wheel', dy: 1 }, { t: 'wheel', dy: -2 }]), wheels);

  // --- blur, resize ---
  mark = fake.received.length;
  await drv.send({ cmd: 'eval', js: `window.dispatchEvent(new Event('blur'))` });
  await until('release', () => inputs(mark).length >= 1);
  check('blur sends release', inputs(mark)[0].t === 'release', inputs(mark));
  mark = fake.received.length;
  await drv.send({ cmd: 'resize', width: 640, height: 480 });
  await drv.send({ cmd: 'resize', width: 642, height: 482 });
  // The debounced message may come late on a busy machine; once it is in,
  // 800 ms more would show a second one.
  await until('resize', () => inputs(mark).some((m) => m.t === 'resize'));
  await sleep(800);
  const rs = inputs(mark).filter((m) => m.t === 'resize');
  check('resize debounced into one message', JSON.stringify(rs) === JSON.stringify([{ t: 'resize', w: 642, h: 482 }]), rs);
  await drv.send({ cmd: 'resize', width: 640, height: 480 });
  // The resize event comes with a later rendering step: give it a few frames.
  let b2;
  for (let i = 0; i < 10; i++) {
    b2 = JSON.parse((await drv.send({ cmd: 'eval', js: `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() =>
      r(JSON.stringify(ocViewer.canvas.getBoundingClientRect())))))` })).value);
    if (b2.width === 640) break;
  }
  check('layout follows the window', b2.x === 0 && b2.y === 0 && b2.width === 640 && b2.height === 480, b2);

  // --- ordering under async decoding ---
  // Big, slow-to-decode images followed by quick operations: the final screen
  // is only right if every message is applied in order.
  const exp = fake.expected;
  for (let i = 0; i < 10; i++) {
    const p = pattern(W, H, i * 17 + 5);
    fake.send(msg.image(0, 0, W, H, 1, encodePng(W, H, p)));
    exp.put(0, 0, W, H, p);
    fake.send(msg.fill(i, i, 5, 5, i * 20, 255 - i * 20, 128));
    exp.fill(i, i, 5, 5, i * 20, 255 - i * 20, 128);
    fake.send(msg.copy(i, i, 20, 20, i + 3, i + 1));
    exp.copy(i, i, 20, 20, i + 3, i + 1);
    fake.send(msg.frame(100 + i, 0));
  }
  st = await drv.send({ cmd: 'wait_frames', min: 11 });
  await until('acks 100..109', () => fake.connections[0].acks.includes(109));
  check('acks in order', JSON.stringify(fake.connections[0].acks) === JSON.stringify([1, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109]), fake.connections[0].acks);
  cmp = comparePixels(await drv.send({ cmd: 'pixels' }), exp);
  check('pixels exact after 40 interleaved async/sync messages', cmp.size && cmp.bad === 0, cmp);
  const settled = await drv.send({ cmd: 'wait_settled', quiet_ms: 300, timeout_ms: 5000 });
  check('wait_settled', settled.frames === 11, settled);

  // --- key latency: the fake answers KeyB with a FILL + FRAME ---
  fake.onMessage = (m, ws) => {
    if (m.t === 'key' && m.code === 'KeyB' && m.down) {
      ws.send(msg.fill(0, 0, 4, 4, 250, 0, 0));
      ws.send(msg.frame(500, 0));
    }
  };
  const lat = await drv.send({ cmd: 'key_latency', key: 'b', timeout_ms: 5000 });
  check('key_latency measures a change', lat.ms > 0 && lat.ms < 1000, lat);
  process.stderr.write(`key -> pixels latency on loopback: ${lat.ms} ms\n`);
  fake.onMessage = null;

  // --- reconnect ---
  const nConn = fake.connections.length;
  fake.refuse = true;
  fake.dropAll();
  st = await drv.send({ cmd: 'wait_veil', visible: true, timeout_ms: 3000 });
  check('veil shown when the socket drops', st.veil && !st.connected, st);
  const veilText = (await drv.send({ cmd: 'eval', js: `document.getElementById('oc-veil').textContent` })).value;
  check('veil says Reconnecting…', veilText.startsWith('Reconnecting\u2026'), veilText);
  const veilBox = JSON.parse((await drv.send({ cmd: 'eval', js: `JSON.stringify(document.getElementById('oc-veil').getBoundingClientRect())` })).value);
  check('veil covers the window', veilBox.width === 640 && veilBox.height === 480, veilBox);
  await until('retries', () => fake.rejected >= 2, 5000);
  st = await drv.send({ cmd: 'state' });
  check('veil stays while the server is away', st.veil && st.state !== 'open', st);
  fake.refuse = false;
  st = await drv.send({ cmd: 'wait_veil', visible: false, timeout_ms: 10000 });
  check('veil hidden after reconnecting and drawing', !st.veil && st.connected && st.frames === 13, st);
  const q = fake.connections[fake.connections.length - 1].query;
  check('reconnect uses the resume key', fake.connections.length === nConn + 1 && q.resume === 'R1' && !q.token, q);
  cmp = comparePixels(await drv.send({ cmd: 'pixels' }), fake.expected);
  check('pixels exact after reconnect', cmp.size && cmp.bad === 0, cmp);

  // --- refused token: no retry loop ---
  const before = fake.connections.length;
  st = await drv.send({ cmd: 'open', url: fake.url + '#token=bad', wait: 'load' });
  st = await drv.send({ cmd: 'wait_state', state: 'failed', timeout_ms: 5000 });
  check('refused token: failed, veil with message', st.veil && st.error === 'token refused', st);
  await sleep(1000);
  check('refused token: no reconnect attempts', fake.connections.length === before + 1, fake.connections.slice(before));
  const failText = (await drv.send({ cmd: 'eval', js: `document.getElementById('oc-veil').textContent` })).value;
  check('veil shows the error', failText.includes('token refused'), failText);

  await drv.send({ cmd: 'close' });
  exitCode = failed ? 1 : 0;
} catch (e) {
  failed++;
  process.stderr.write(`FAIL ${e.stack || e}\n`);
} finally {
  drv.child.stdin.end();
  await fake.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : exitCode);
