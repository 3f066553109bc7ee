#!/usr/bin/env node
// Drives a headless chromium for the Rust integration tests.
//
// Line mode (what multi-step tests use):
//   node tests/browser/viewer.mjs
// prints {"ok":true,"ready":true,"chromium":"..."} once the browser is up,
// then reads one JSON command per stdin line and answers each with exactly one
// JSON line on stdout: {"ok":true,...} or {"ok":false,"error":"..."}; an "id"
// in a command is echoed back. EOF on stdin or {"cmd":"close"} ends it.
//
// One-shot mode: node tests/browser/viewer.mjs <cmd> <url> ['<json args>']
// opens <url>, runs <cmd>, prints its one JSON line and exits 0 (ok) or 1.
//
// Progress and the page's console go to stderr. Commands: see COMMANDS below.
import readline from 'node:readline';
import { writeFile } from 'node:fs/promises';
import { launch, log } from './lib.mjs';

let session = null;   // { browser, context, page, close }

function page() {
  if (!session) throw new Error('no page: send "open" first');
  return session.page;
}

// Where a command acts: the page, or with {frame: 'text'} the first frame
// whose URL contains that text (a viewer inside a desktop window).
function scope(a) {
  if (!a || !a.frame) return page();
  const f = page().frames().find((fr) => fr.url().includes(a.frame));
  if (!f) throw new Error('no frame whose URL contains ' + JSON.stringify(a.frame));
  return f;
}

// US layout: character -> [KeyboardEvent.code, shift]. Typing goes through
// codes because the viewer sends codes, not characters: an 'A' has to be
// Shift + KeyA for the guest to see it.
const US = (() => {
  const m = { ' ': ['Space', false], '\n': ['Enter', false], '\t': ['Tab', false] };
  for (let i = 0; i < 26; i++) {
    const c = String.fromCharCode(97 + i);
    m[c] = ['Key' + c.toUpperCase(), false];
    m[c.toUpperCase()] = ['Key' + c.toUpperCase(), true];
  }
  const digits = ')!@#$%^&*(';
  for (let i = 0; i < 10; i++) {
    m[String(i)] = ['Digit' + i, false];
    m[digits[i]] = ['Digit' + i, true];
  }
  const sym = [['-', '_', 'Minus'], ['=', '+', 'Equal'], ['[', '{', 'BracketLeft'], [']', '}', 'BracketRight'],
    ['\\', '|', 'Backslash'], [';', ':', 'Semicolon'], ["'", '"', 'Quote'], [',', '<', 'Comma'],
    ['.', '>', 'Period'], ['/', '?', 'Slash'], ['`', '~', 'Backquote']];
  for (const [plain, shifted, code] of sym) {
    m[plain] = [code, false];
    m[shifted] = [code, true];
  }
  return m;
})();

// Maps framebuffer coordinates to page coordinates through the canvas' box.
async function toPage(selector, x, y) {
  return page().evaluate(({ selector, x, y }) => {
    const c = document.querySelector(selector);
    if (!c) throw new Error('no canvas ' + selector);
    const r = c.getBoundingClientRect();
    return { x: r.left + (x + 0.5) * r.width / c.width, y: r.top + (y + 0.5) * r.height / c.height };
  }, { selector, x, y });
}

const VIEWER_STATE = () => {
  const v = window.ocViewer;
  const veil = document.getElementById('oc-veil');
  if (!v) return { viewer: false };
  return {
    viewer: true, connected: v.connected, frames: v.frames, lastSeq: v.lastSeq, state: v.state,
    error: v.error, bytes: v.bytes, nodeLatencyUs: v.nodeLatencyUs, mouseMode: v.mouseMode,
    width: v.canvas.width, height: v.canvas.height,
    veil: !!veil && getComputedStyle(veil).display !== 'none',
  };
};

const wsCount = { sockets: 0, messages: 0, bytes: 0 };

// Bytes the page receives over all its websockets: the same measure for our
// viewer and for spice-html5 (benchmarks).
function countWebsocketBytes(p) {
  p.on('websocket', (ws) => {
    wsCount.sockets += 1;
    ws.on('framereceived', (f) => {
      wsCount.messages += 1;
      wsCount.bytes += typeof f.payload === 'string' ? Buffer.byteLength(f.payload) : f.payload.length;
    });
  });
}

const COMMANDS = {
  // -> websocket payload bytes and messages received by the page since the
  // last ws_reset (or the first open); {reset:true} zeroes them after reading.
  async ws_bytes(a) {
    const out = { ...wsCount };
    if (a.reset) { wsCount.messages = 0; wsCount.bytes = 0; }
    return out;
  },

  // {url, wait:'frames'|'canvas'|'load' (default frames), selector:'canvas',
  //  timeout_ms:30000, viewport:{width,height}} -> state
  async open(a) {
    if (!a.url) throw new Error('open needs url');
    if (!session) {
      session = await launch(a.viewport ? { viewport: a.viewport } : {});
      session.page.on('console', (m) => log('console.' + m.type() + ':', m.text()));
      session.page.on('pageerror', (e) => log('pageerror:', e.message));
      countWebsocketBytes(session.page);
    } else if (a.viewport) {
      await session.page.setViewportSize(a.viewport);
    }
    const timeout = a.timeout_ms ?? 30000;
    log('open', a.url);
    // A URL differing only in its #fragment would not reload the page.
    await page().goto('about:blank');
    await page().goto(a.url, { timeout, waitUntil: 'load' });
    const wait = a.wait || 'frames';
    if (wait === 'frames') {
      await page().waitForFunction(() => window.ocViewer && window.ocViewer.frames > 0, null, { timeout, polling: 50 });
    } else if (wait === 'canvas') {
      await page().waitForSelector(a.selector || 'canvas', { timeout });
    }
    return { url: page().url(), ...(await page().evaluate(VIEWER_STATE)) };
  },

  // -> ocViewer's fields + veil (visible) + width/height of the canvas
  async state() {
    return page().evaluate(VIEWER_STATE);
  },

  // {selector:'canvas', x,y,w,h (optional region)} -> {width,height,x,y,w,h,rgba: base64 RGBA}
  async pixels(a) {
    return scope(a).evaluate(({ selector, x, y, w, h }) => {
      const c = document.querySelector(selector);
      if (!c) throw new Error('no canvas ' + selector);
      x = x || 0; y = y || 0;
      w = w || c.width - x; h = h || c.height - y;
      const d = c.getContext('2d').getImageData(x, y, w, h).data;
      let s = '';
      for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
      return { width: c.width, height: c.height, x, y, w, h, rgba: btoa(s) };
    }, { selector: a.selector || 'canvas', x: a.x, y: a.y, w: a.w, h: a.h });
  },

  // {path} -> writes a PNG screenshot of the page (for people looking at failures)
  async screenshot(a) {
    const buf = await page().screenshot({ fullPage: false });
    if (a.path) await writeFile(a.path, buf);
    return { path: a.path || null, bytes: buf.length };
  },

  // {min:1, timeout_ms:30000} -> state once ocViewer.frames >= min
  async wait_frames(a) {
    await page().waitForFunction((min) => window.ocViewer && window.ocViewer.frames >= min, a.min ?? 1,
      { timeout: a.timeout_ms ?? 30000, polling: 50 });
    return page().evaluate(VIEWER_STATE);
  },

  // {quiet_ms:1500, timeout_ms:60000, selector:'canvas'} -> {frames, waited_ms}
  // Settled = no new frame (ocViewer) or no pixel change (any other canvas)
  // for quiet_ms.
  async wait_settled(a) {
    return page().evaluate(({ quiet, timeout, selector }) => new Promise((resolve, reject) => {
      const t0 = performance.now();
      const probe = window.ocViewer ? () => window.ocViewer.frames : () => {
        const c = document.querySelector(selector);
        if (!c || !c.width || !c.height) return 'none';
        const d = new Uint32Array(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.buffer);
        let h = 2166136261;
        for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i], 16777619);
        return c.width + 'x' + c.height + ':' + h;
      };
      let last = probe(), since = performance.now();
      const timer = setInterval(() => {
        const now = performance.now(), cur = probe();
        if (cur !== last) { last = cur; since = now; }
        if (now - since >= quiet) {
          clearInterval(timer);
          resolve({ frames: window.ocViewer ? window.ocViewer.frames : null, waited_ms: Math.round(now - t0) });
        } else if (now - t0 > timeout) {
          clearInterval(timer);
          reject(new Error('not settled after ' + timeout + ' ms'));
        }
      }, 50);
    }), { quiet: a.quiet_ms ?? 1500, timeout: a.timeout_ms ?? 60000, selector: a.selector || 'canvas' });
  },

  // {visible:bool, timeout_ms:30000} -> state once the veil is (in)visible
  async wait_veil(a) {
    const want = a.visible ?? true;
    await page().waitForFunction((want) => {
      const veil = document.getElementById('oc-veil');
      return !!veil && (getComputedStyle(veil).display !== 'none') === want;
    }, want, { timeout: a.timeout_ms ?? 30000, polling: 20 });
    return page().evaluate(VIEWER_STATE);
  },

  // {state:'open'|..., timeout_ms:30000} -> state once ocViewer.state matches
  async wait_state(a) {
    await page().waitForFunction((s) => window.ocViewer && window.ocViewer.state === s, a.state,
      { timeout: a.timeout_ms ?? 30000, polling: 20 });
    return page().evaluate(VIEWER_STATE);
  },

  // {text, delay_ms:0} -> {typed}. US layout through real key events; '\n' is Enter.
  async type(a) {
    const kb = page().keyboard;
    let n = 0;
    for (const ch of a.text ?? '') {
      const k = US[ch];
      if (!k) throw new Error('cannot type ' + JSON.stringify(ch) + ' on a US layout');
      if (k[1]) await kb.down('Shift');
      await kb.press(k[0]);
      if (k[1]) await kb.up('Shift');
      n++;
      if (a.delay_ms) await new Promise((r) => setTimeout(r, a.delay_ms));
    }
    return { typed: n };
  },

  // {key} -> Playwright key name or chord: "Enter", "Control+c", "KeyA"
  async press(a) {
    await page().keyboard.press(a.key);
    return {};
  },

  // {key, down:bool} -> one key event
  async key(a) {
    if (a.down ?? true) await page().keyboard.down(a.key);
    else await page().keyboard.up(a.key);
    return {};
  },

  // {action:'move'|'down'|'up'|'click', x, y (framebuffer pixels), button:1|2|3, selector}
  async mouse(a) {
    const m = page().mouse;
    const button = ['left', 'middle', 'right'][(a.button || 1) - 1];
    if (a.x !== undefined) {
      const p = await toPage(a.selector || 'canvas', a.x, a.y);
      await m.move(p.x, p.y);
    }
    const action = a.action || 'click';
    if (action === 'down' || action === 'click') await m.down({ button });
    if (action === 'up' || action === 'click') await m.up({ button });
    return {};
  },

  // {dy} notches (negative = up), over the canvas centre
  async wheel(a) {
    await page().mouse.wheel(0, (a.dy || 1) * 100);
    return {};
  },

  // {width, height} -> resizes the viewport (the window)
  async resize(a) {
    await page().setViewportSize({ width: a.width, height: a.height });
    return {};
  },

  // ---- generic page commands (the desktop tests) ----

  // {js}: runs before every page script from now on (e.g. window.ocDesktopConfig)
  async init_script(a) {
    if (!session) {
      session = await launch(a.viewport ? { viewport: a.viewport } : {});
      session.page.on('console', (m) => log('console.' + m.type() + ':', m.text()));
      session.page.on('pageerror', (e) => log('pageerror:', e.message));
      countWebsocketBytes(session.page);
    }
    await session.context.addInitScript(a.js);
    return {};
  },

  // {viewport}: replaces the page's browser context with a fresh one (no
  // cookies, cache or storage, as a first visit; the browser process stays).
  // Init scripts belong to the old context: send them again.
  async new_context(a) {
    if (!session) session = await launch(a.viewport ? { viewport: a.viewport } : {});
    await session.context.close().catch(() => {});
    session.context = await session.browser.newContext({
      ignoreHTTPSErrors: true,
      viewport: a.viewport || { width: 1024, height: 768 },
      deviceScaleFactor: 1,
    });
    session.page = await session.context.newPage();
    session.page.on('console', (m) => log('console.' + m.type() + ':', m.text()));
    session.page.on('pageerror', (e) => log('pageerror:', e.message));
    countWebsocketBytes(session.page);
    return {};
  },

  // {selector, timeout_ms}
  async click(a) {
    await scope(a).click(a.selector, { timeout: a.timeout_ms ?? 10000 });
    return {};
  },

  // {selector, text, timeout_ms}
  async fill(a) {
    await page().fill(a.selector, a.text, { timeout: a.timeout_ms ?? 10000 });
    return {};
  },

  // {selector} -> {x, y, width, height} in page pixels
  async box(a) {
    const b = await page().locator(a.selector).first().boundingBox();
    if (!b) throw new Error('no visible ' + a.selector);
    return b;
  },

  // {from:{x,y}, to:{x,y}} in page pixels: press, move in steps, release
  async drag(a) {
    const m = page().mouse;
    await m.move(a.from.x, a.from.y);
    await m.down();
    await m.move(a.to.x, a.to.y, { steps: a.steps ?? 8 });
    await m.up();
    return {};
  },

  // {js, timeout_ms}: waits until the expression is truthy -> {value}
  // (Polled from here: waitForFunction compiles its string in the page,
  // which a Content-Security-Policy without 'unsafe-eval' forbids.)
  async wait_js(a) {
    const deadline = Date.now() + (a.timeout_ms ?? 30000);
    let last = null;
    for (;;) {
      try {
        const v = await scope(a).evaluate(a.js);
        if (v) return { value: v };
        last = null;
      } catch (e) {
        // A navigation in progress destroys the context: try again.
        last = e;
      }
      if (Date.now() > deadline) throw new Error('timed out' + (last ? ': ' + last.message : ''));
      await new Promise((r) => setTimeout(r, 100));
    }
  },

  // {js} -> {value}: the expression's value (a promise is awaited), JSON-serialisable
  async eval(a) {
    return { value: await scope(a).evaluate(a.js) };
  },

  // {key:'a', selector:'canvas', timeout_ms:5000} -> {ms}
  // Time from the keydown event in the page (its timeStamp) to the first
  // animation frame at which any canvas pixel differs: what a person sees.
  // Resolution is one animation frame (~16.7 ms at 60 Hz).
  async key_latency(a) {
    const selector = a.selector || 'canvas';
    await page().evaluate(({ selector, timeout }) => {
      const c = document.querySelector(selector);
      if (!c) throw new Error('no canvas ' + selector);
      const snap = () => new Uint32Array(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.buffer);
      const base = snap(), bw = c.width, bh = c.height;
      window.__ocLatency = new Promise((resolve) => {
        let t0 = null;
        const onKey = (e) => { if (t0 === null) t0 = e.timeStamp; };
        window.addEventListener('keydown', onKey, true);
        const deadline = performance.now() + timeout;
        const done = (r) => { window.removeEventListener('keydown', onKey, true); resolve(r); };
        const poll = () => {
          const now = performance.now();
          if (t0 !== null) {
            let changed = c.width !== bw || c.height !== bh;
            if (!changed) {
              const cur = snap();
              for (let i = 0; i < cur.length; i++) if (cur[i] !== base[i]) { changed = true; break; }
            }
            if (changed) return done({ ms: now - t0 });
          }
          if (now > deadline) return done({ error: t0 === null ? 'no keydown seen' : 'no pixel changed' });
          requestAnimationFrame(poll);
        };
        requestAnimationFrame(poll);
      });
    }, { selector, timeout: a.timeout_ms ?? 5000 });
    await page().keyboard.press(a.key || 'a');
    const r = await page().evaluate(() => window.__ocLatency);
    if (r.error) throw new Error('key_latency: ' + r.error);
    return { ms: Math.round(r.ms * 10) / 10 };
  },

  async close() {
    if (session) await session.close();
    session = null;
    return {};
  },
};

async function run(cmd) {
  const f = COMMANDS[cmd.cmd];
  if (!f) throw new Error('unknown cmd ' + JSON.stringify(cmd.cmd));
  return f(cmd);
}

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function lineMode() {
  // Launch up front so a broken browser shows at once, not at the first open.
  session = await launch();
  countWebsocketBytes(session.page);
  session.page.on('console', (m) => log('console.' + m.type() + ':', m.text()));
  session.page.on('pageerror', (e) => log('pageerror:', e.message));
  reply({ ok: true, ready: true, chromium: session.browser.version() });
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch (e) {
      reply({ ok: false, error: 'bad json: ' + e.message });
      continue;
    }
    const id = cmd.id === undefined ? {} : { id: cmd.id };
    try {
      log('cmd', cmd.cmd);
      const r = await run(cmd);
      reply({ ok: true, ...id, ...r });
    } catch (e) {
      reply({ ok: false, ...id, error: String(e && e.message || e) });
    }
    if (cmd.cmd === 'close') break;
  }
  if (session) await session.close();
  process.exit(0);
}

async function oneShot(argv) {
  const [name, url, json] = argv;
  const args = json ? JSON.parse(json) : {};
  try {
    const opened = await run({ cmd: 'open', url, ...(name === 'open' ? args : {}) });
    const r = name === 'open' ? opened : await run({ cmd: name, ...args });
    reply({ ok: true, ...r });
    await COMMANDS.close();
    process.exit(0);
  } catch (e) {
    reply({ ok: false, error: String(e && e.message || e) });
    await COMMANDS.close().catch(() => {});
    process.exit(1);
  }
}

const argv = process.argv.slice(2);
if (argv.length === 0 || argv[0] === 'lines') {
  lineMode().catch((e) => {
    reply({ ok: false, error: String(e && e.message || e) });
    process.exit(1);
  });
} else {
  oneShot(argv);
}
