// A stand-in node for the sign-in page and the web desktop: implements
// docs/DESKTOP-API.md in memory and serves node/assets/desktop/ at
// /assets/desktop/, so the pages can be tested without the Rust server.
//
// Tenants: "acme" at /t/acme/ (logo, wallpaper, icons) and "globex" on its
// own host name, globex.localhost:<port>/ (light brand, no images).
// Library: startDesktopFake(opts) -> state + hooks (see the return value).
// Standalone: `node tests/browser/desktop-fake-server.mjs [port]` prints the
// URL and serves until killed (sign in as alice / wonderland).
import http from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { encodePng } from './fake-server.mjs';

const ASSETS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'node', 'assets', 'desktop');
export const CAPTCHA_ANSWER = '4271';
export const PASSWORDS = { alice: 'wonderland', bob: 'builder', gina: 'globex' };

// The policy the node is meant to send with the pages (docs/DESKTOP-API.md).
export const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
  "connect-src 'self'; frame-src *; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const TYPES = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml', png: 'image/png' };

// ---- generated images (PNG by hand via fake-server.mjs's encoder) ----

const hexRgb = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
const smooth = (d) => Math.max(0, Math.min(1, 0.5 - d));   // coverage from a signed distance

class Raster {
  constructor(w, h, bg = [0, 0, 0, 0]) {
    this.w = w; this.h = h; this.px = Buffer.alloc(w * h * 4);
    for (let i = 0; i < w * h; i++) this.px.set(bg, i * 4);
  }
  // Paints colour (or colour(x, y)) where sdf(x, y) < 0, antialiased.
  fill(sdf, color) {
    for (let y = 0; y < this.h; y++) {
      for (let x = 0; x < this.w; x++) {
        const a = smooth(sdf(x + 0.5, y + 0.5));
        if (a <= 0) continue;
        const c = typeof color === 'function' ? color(x, y) : color;
        const i = (y * this.w + x) * 4, ca = a * (c[3] === undefined ? 1 : c[3] / 255);
        for (let k = 0; k < 3; k++) this.px[i + k] = Math.round(this.px[i + k] * (1 - ca) + c[k] * ca);
        this.px[i + 3] = Math.round(255 * (ca + (this.px[i + 3] / 255) * (1 - ca)));
      }
    }
    return this;
  }
  png(alpha = true) { return encodePng(this.w, this.h, this.px, { alpha }); }
}

const roundRect = (x0, y0, x1, y1, r) => (x, y) => {
  const qx = Math.abs(x - (x0 + x1) / 2) - ((x1 - x0) / 2 - r), qy = Math.abs(y - (y0 + y1) / 2) - ((y1 - y0) / 2 - r);
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - r;
};
const circle = (cx, cy, r) => (x, y) => Math.hypot(x - cx, y - cy) - r;
const ring = (cx, cy, r, t) => (x, y) => Math.abs(Math.hypot(x - cx, y - cy) - r) - t / 2;

// The tenant logo: a rounded tile in the primary colour with a white ring
// and dot (an "o" for Acme's desktop).
function logoPng(primary) {
  const p = hexRgb(primary), s = 128;
  return new Raster(s, s)
    .fill(roundRect(4, 4, s - 4, s - 4, 28), (x, y) => p.map((v, i) => v + (255 - v) * 0.35 * (1 - (x + y) / (2 * s))).concat(255))
    .fill(ring(s / 2, s / 2, 30, 12), [255, 255, 255])
    .fill(circle(s / 2 + 21, s / 2 - 21, 9), [255, 255, 255]).png();
}

// A soft wallpaper in the brand colours: diagonal gradient with blurred
// light blobs, RGB.
function wallpaperPng(colors) {
  const w = 1600, h = 1000, bg = hexRgb(colors.background), p = hexRgb(colors.primary);
  const blobs = [[0.22, 0.18, 0.42, [88, 66, 200]], [0.82, 0.78, 0.5, p], [0.62, 0.1, 0.3, [30, 160, 170]]];
  const px = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const fx = x / w, fy = y / h;
      const c = bg.map((v, i) => v + (p[i] - v) * 0.12 * (fx + fy));
      for (const [bx, by, r, col] of blobs) {
        const d = Math.hypot((fx - bx) * 1.6, fy - by) / r;
        const a = 0.42 * Math.exp(-d * d * 2.2);
        for (let i = 0; i < 3; i++) c[i] += (col[i] - c[i]) * a;
      }
      const i = (y * w + x) * 4;
      px[i] = c[0]; px[i + 1] = c[1]; px[i + 2] = c[2]; px[i + 3] = 255;
    }
  }
  return encodePng(w, h, px);
}

const ICON_COLORS = { wiki: ['#2da44e', '#1a7f37'], mail: ['#0969da', '#0550ae'], erp: ['#8250df', '#6639ba'] };
function iconPng(id) {
  const [a, b] = (ICON_COLORS[id] || ['#57606a', '#424a53']).map(hexRgb), s = 96;
  const r = new Raster(s, s).fill(roundRect(2, 2, s - 2, s - 2, 22), (x, y) => a.map((v, i) => v + (b[i] - v) * (y / s)).concat(255));
  if (id === 'wiki') r.fill(roundRect(26, 22, 70, 74, 5), [255, 255, 255]).fill(roundRect(34, 34, 62, 38, 2), a).fill(roundRect(34, 46, 62, 50, 2), a).fill(roundRect(34, 58, 52, 62, 2), a);
  else if (id === 'mail') r.fill(roundRect(20, 28, 76, 68, 6), [255, 255, 255]).fill((x, y) => Math.abs(y - 30 - Math.abs(x - 48) * -0.62 - 18) - 2.5, b);
  else r.fill(roundRect(22, 26, 74, 62, 5), [255, 255, 255]).fill(roundRect(28, 32, 68, 56, 2), b).fill(roundRect(38, 66, 58, 71, 2), [255, 255, 255]);
  return r.png();
}

// 3x5 digits, drawn large with a little jitter and noise: legible to the
// test (which knows the answer) and to a person looking at a screenshot.
const DIGITS = ['111101101101111', '010110010010111', '111001111100111', '111001111001111', '101101111001001',
  '111100111001111', '111100111101111', '111001010010010', '111101111101111', '111101111001111'];
function captchaPng(text, seed) {
  const w = 180, h = 60;
  let n = 0;
  for (const ch of seed) n = (n * 31 + ch.charCodeAt(0)) >>> 0;
  const rnd = () => ((n = (n * 1103515245 + 12345) >>> 0) >>> 8) / 16777216;
  const r = new Raster(w, h, [246, 244, 238, 255]);
  for (let k = 0; k < 5; k++) {
    const y0 = rnd() * h, slope = (rnd() - 0.5) * 0.5, col = [120 + rnd() * 100, 120 + rnd() * 100, 160 + rnd() * 80];
    r.fill((x, y) => Math.abs(y - y0 - slope * x) - 0.8, col);
  }
  [...text].forEach((ch, i) => {
    const g = DIGITS[Number(ch)], cell = 7, ox = 26 + i * 34 + rnd() * 6, oy = 10 + rnd() * 8;
    const col = [30 + rnd() * 60, 40 + rnd() * 40, 90 + rnd() * 60];
    for (let k = 0; k < 15; k++) {
      if (g[k] === '1') r.fill(roundRect(ox + (k % 3) * cell, oy + Math.floor(k / 3) * cell, ox + (k % 3 + 1) * cell, oy + (Math.floor(k / 3) + 1) * cell, 1.5), col);
    }
  });
  return r.png(false);
}

function makeTenants(appOrigin) {
  const app = (id, name, kind, extra) => Object.assign({ id, name, kind }, extra);
  return {
    acme: {
      slug: 'acme', name: 'Acme Corp', images: true,
      branding: { product_name: 'Acme Desktop', colors: { primary: '#1f6feb', background: '#0d1117', text: '#e6edf3' } },
      apps: {
        wiki: app('wiki', 'Wiki', 'web', { url: appOrigin + '/fake-apps/wiki', frameable: true, icon: true }),
        mail: app('mail', 'Mail', 'web', { url: appOrigin + '/fake-apps/mail', frameable: false, icon: true }),
        calendar: app('calendar', 'Calendar', 'web', { url: appOrigin + '/fake-apps/calendar', frameable: true, icon: false }),
        shell: app('shell', 'Shell', 'vm', { icon: false }),
        erp: app('erp', 'Legacy ERP', 'vm', { icon: true }),
        payroll: app('payroll', 'Payroll', 'web', { url: appOrigin + '/fake-apps/payroll', frameable: true, icon: false }),
      },
      users: {
        alice: { display_name: 'Alice Liddell', admin: false, apps: ['wiki', 'shell', 'mail', 'erp', 'calendar'] },
        bob: { display_name: 'Bob Builder', admin: true, apps: ['payroll', 'wiki'] },
      },
    },
    globex: {
      slug: 'globex', name: 'Globex', images: false,
      branding: { product_name: 'Globex Workspace', colors: { primary: '#e36209', background: '#f6f8fa', text: '#1f2328' } },
      apps: { notes: app('notes', 'Notes', 'web', { url: appOrigin + '/fake-apps/notes', frameable: true, icon: false }) },
      users: { gina: { display_name: 'Gina Globex', admin: false, apps: ['notes'] } },
    },
  };
}

function fakeAppPage(title, body, dark) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title><style>
body{margin:0;font:15px/1.5 "DejaVu Sans",sans-serif;background:${dark ? '#1b1f24' : '#fff'};color:${dark ? '#d0d7de' : '#24292f'}}
header{padding:14px 24px;background:${dark ? '#2d333b' : '#f6f8fa'};border-bottom:1px solid #d0d7de33;font-weight:700}
main{padding:20px 24px;max-width:720px}h1{font-size:22px;margin:0 0 10px}p{margin:0 0 12px}
</style></head><body><header>${title}</header><main>${body}</main></body></html>`;
}

export async function startDesktopFake({ port = 0, captchaAfter = 3, launchDelayMs = 600 } = {}) {
  const state = {
    captchaAfter, launchDelayMs,
    answerPings: true,     // false: pings get no pong (a half-dead connection)
    refuseEvents: false,   // true: event websocket upgrades are refused (503)
    nextLogin: null,       // { status, body }: the next JSON sign-in gets this answer
    failures: new Map(),   // "tenant/user" -> failed attempts
    captchas: new Map(),   // id -> answer (single use)
    sessions: new Map(),   // sid -> { tenant, login }
    sockets: new Set(),    // { ws, sid, tenant }
    logins: [],            // every sign-in attempt: { tenant, username, captcha, form }
    requests: [],          // "METHOD path" of every request
    pings: 0, eventConnections: 0, rejectedEvents: 0,
  };
  let tenants = null;
  const images = new Map();

  function tenantOf(req, u) {
    const m = /^\/t\/([a-z0-9-]+)(\/.*)?$/.exec(u.pathname);
    if (m && tenants[m[1]]) return { t: tenants[m[1]], prefix: '/t/' + m[1], rest: m[2] || '' };
    const host = String(req.headers.host || '').split(':')[0];
    const h = /^([a-z0-9-]+)\.localhost$/.exec(host);
    if (h && tenants[h[1]] && !m) return { t: tenants[h[1]], prefix: '', rest: u.pathname };
    return null;
  }

  function send(res, status, body, headers = {}) {
    const isJson = body !== null && typeof body === 'object' && !Buffer.isBuffer(body);
    const h = Object.assign({ 'cache-control': 'no-store' }, isJson ? { 'content-type': 'application/json' } : {}, headers);
    res.writeHead(status, h);
    res.end(isJson ? JSON.stringify(body) : body);
  }

  function page(res, file) {
    send(res, 200, readFileSync(path.join(ASSETS, file)), {
      'content-type': TYPES.html, 'content-security-policy': CSP, 'x-content-type-options': 'nosniff',
    });
  }

  function cookies(req) {
    const out = {};
    for (const part of String(req.headers.cookie || '').split(';')) {
      const i = part.indexOf('=');
      if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
    }
    return out;
  }

  function session(req, t) {
    const s = state.sessions.get(cookies(req).oc_session);
    return s && s.tenant === t.slug ? s : null;
  }

  function newCaptcha(prefix) {
    const id = 'c' + randomBytes(6).toString('hex');
    state.captchas.set(id, CAPTCHA_ANSWER);
    return { id, image_url: `${prefix}/api/v1/captcha/${id}.png` };
  }

  function me(t, s) {
    const u = t.users[s.login];
    return {
      login: s.login, display_name: u.display_name, admin: u.admin, tenant: { slug: t.slug, name: t.name },
      apps: u.apps.map((id) => {
        const a = t.apps[id];
        const out = { id: a.id, name: a.name, icon: a.icon ? `${s.prefix}/api/v1/apps/${a.id}/icon` : null, kind: a.kind };
        if (a.kind === 'web') { out.url = a.url; out.frameable = a.frameable; }
        return out;
      }),
    };
  }

  // The sign-in decision shared by the JSON API and the form fallback.
  // Returns { status, body, sid? }.
  function signIn(t, prefix, username, password, captcha) {
    const key = t.slug + '/' + String(username).toLowerCase();
    const fails = state.failures.get(key) || 0;
    if (fails >= state.captchaAfter) {
      const want = captcha && state.captchas.get(String(captcha.id));
      if (captcha) state.captchas.delete(String(captcha.id));
      if (!want || String(captcha.answer || '').trim().toUpperCase() !== want) {
        return { status: 401, body: { error: 'the characters did not match the image', captcha_required: true, captcha_wrong: true, captcha: newCaptcha(prefix) } };
      }
    }
    const login = String(username).toLowerCase();
    if (t.users[login] && PASSWORDS[login] === password) {
      state.failures.delete(key);
      const sid = randomBytes(16).toString('hex');
      state.sessions.set(sid, { tenant: t.slug, login, prefix });
      return { status: 200, body: { ok: true }, sid };
    }
    state.failures.set(key, fails + 1);
    const required = fails + 1 >= state.captchaAfter;
    const body = { error: 'wrong username or password', captcha_required: required };
    if (required) body.captcha = newCaptcha(prefix);
    return { status: 401, body };
  }

  const cookie = (sid, prefix) => `oc_session=${sid}; HttpOnly; SameSite=Lax; Path=${prefix || ''}/`;

  function readBody(req) {
    return new Promise((resolve) => {
      const parts = [];
      req.on('data', (d) => parts.push(d));
      req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    });
  }

  async function api(req, res, t, prefix, rest) {
    const method = req.method;
    if (rest === '/api/v1/branding' && method === 'GET') {
      return send(res, 200, Object.assign({}, t.branding, {
        logo_url: t.images ? `${prefix}/api/v1/branding/logo` : null,
        wallpaper_url: t.images ? `${prefix}/api/v1/branding/wallpaper` : null,
      }));
    }
    if (rest === '/api/v1/branding/logo' && t.images) return send(res, 200, images.get('logo'), { 'content-type': TYPES.png });
    if (rest === '/api/v1/branding/wallpaper' && t.images) return send(res, 200, images.get('wallpaper'), { 'content-type': TYPES.png });
    let m = /^\/api\/v1\/captcha\/(c[0-9a-f]+)\.png$/.exec(rest);
    if (m && method === 'GET') return send(res, 200, captchaPng(CAPTCHA_ANSWER, m[1]), { 'content-type': TYPES.png });
    if (rest === '/api/v1/captcha' && method === 'POST') return send(res, 200, newCaptcha(prefix));
    if (rest === '/api/v1/login' && method === 'POST') {
      let b;
      try { b = JSON.parse(await readBody(req)); } catch (e) { return send(res, 400, { error: 'bad request' }); }
      state.logins.push({ tenant: t.slug, username: b.username, captcha: b.captcha || null, form: false });
      if (state.nextLogin) { const n = state.nextLogin; state.nextLogin = null; return send(res, n.status, n.body); }
      const r = signIn(t, prefix, String(b.username || ''), String(b.password || ''), b.captcha);
      return send(res, r.status, r.body, r.sid ? { 'set-cookie': cookie(r.sid, prefix) } : {});
    }
    m = /^\/api\/v1\/apps\/([A-Za-z0-9_-]+)\/icon$/.exec(rest);
    if (m && method === 'GET' && t.apps[m[1]] && t.apps[m[1]].icon) return send(res, 200, images.get('icon:' + m[1]), { 'content-type': TYPES.png });

    const s = session(req, t);
    if (rest === '/api/v1/me' && method === 'GET') return s ? send(res, 200, me(t, s)) : send(res, 401, { error: 'not signed in' });
    if (rest === '/api/v1/logout' && method === 'POST') {
      state.sessions.delete(cookies(req).oc_session);
      return send(res, 204, '', { 'set-cookie': `oc_session=; Max-Age=0; Path=${prefix}/` });
    }
    m = /^\/api\/v1\/apps\/([A-Za-z0-9_-]+)\/launch$/.exec(rest);
    if (m && method === 'POST') {
      if (!s) return send(res, 401, { error: 'not signed in' });
      const a = t.apps[m[1]];
      if (!a || a.kind !== 'vm' || !t.users[s.login].apps.includes(a.id)) return send(res, 404, { error: 'no such app' });
      await new Promise((r) => setTimeout(r, state.launchDelayMs));
      if (a.id === 'erp') return send(res, 200, { viewer_url: `/fake-apps/viewer?app=${a.id}` });
      return send(res, 501, { error: 'launching VM apps is not available yet' });
    }
    return send(res, 404, { error: 'not found' });
  }

  async function handle(req, res) {
    const u = new URL(req.url, 'http://x');
    state.requests.push(req.method + ' ' + u.pathname);
    const a = /^\/assets\/desktop\/([a-z0-9-]+\.(js|css|svg|html|png))$/.exec(u.pathname);
    if (a && req.method === 'GET') {
      const f = path.join(ASSETS, a[1]);
      if (!existsSync(f)) return send(res, 404, 'not found');
      // Read on every request: the files may be edited while a browser is open.
      return send(res, 200, readFileSync(f), { 'content-type': TYPES[a[2]], 'x-content-type-options': 'nosniff' });
    }
    if (u.pathname.startsWith('/fake-apps/')) {
      const name = u.pathname.slice('/fake-apps/'.length);
      if (name === 'mail') return send(res, 200, fakeAppPage('Mail', '<h1>Inbox</h1><p>Framing is refused.</p>'), { 'content-type': TYPES.html, 'x-frame-options': 'DENY' });
      if (name === 'viewer') return send(res, 200, fakeAppPage('Legacy ERP (viewer)', '<h1>ERP 4.2</h1><p>A virtual machine would be drawn here.</p>', true), { 'content-type': TYPES.html });
      const t = { wiki: ['Acme Wiki', '<h1>Welcome to the Acme wiki</h1><p>Start with the <b>onboarding guide</b>, the holiday calendar and the expense policy.</p><p>Recently edited: Release checklist, Office Wi-Fi, Printer setup.</p>'] }[name];
      return send(res, 200, fakeAppPage(t ? t[0] : name, t ? t[1] : `<h1>${name}</h1><p>A web app.</p>`), { 'content-type': TYPES.html });
    }
    const ten = tenantOf(req, u);
    if (!ten) return send(res, 404, 'no such tenant');
    const { t, prefix, rest } = ten;
    if (rest === '' && prefix) return send(res, 308, '', { location: prefix + '/' });
    if (rest === '/login' && req.method === 'GET') return page(res, 'login.html');
    if (rest === '/login' && req.method === 'POST') {
      const f = new URLSearchParams(await readBody(req));
      state.logins.push({ tenant: t.slug, username: f.get('username'), captcha: f.get('captcha_id') ? { id: f.get('captcha_id'), answer: f.get('captcha_answer') } : null, form: true });
      const r = signIn(t, prefix, f.get('username') || '', f.get('password') || '',
        f.get('captcha_id') ? { id: f.get('captcha_id'), answer: f.get('captcha_answer') || '' } : null);
      if (r.sid) return send(res, 303, '', { location: prefix + '/', 'set-cookie': cookie(r.sid, prefix) });
      return send(res, 303, '', { location: `${prefix}/login?error=${r.body.captcha_required ? 'captcha' : 'failed'}` });
    }
    if (rest === '/' && req.method === 'GET') {
      return session(req, t) ? page(res, 'desktop.html') : send(res, 303, '', { location: prefix + '/login' });
    }
    if (rest.startsWith('/api/v1/')) return api(req, res, t, prefix, rest);
    return send(res, 404, 'not found');
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => { process.stderr.write(`[fake] ${e.stack}\n`); send(res, 500, { error: 'internal error' }); });
  });

  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const u = new URL(req.url, 'http://x');
    const ten = tenantOf(req, u);
    const refuse = (status) => {
      state.rejectedEvents++;
      socket.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    };
    if (!ten || ten.rest !== '/api/v1/events') return refuse('404 Not Found');
    if (state.refuseEvents) return refuse('503 Service Unavailable');
    const s = session(req, ten.t);
    if (!s) return refuse('401 Unauthorized');
    wss.handleUpgrade(req, socket, head, (ws) => {
      const entry = { ws, sid: cookies(req).oc_session, tenant: ten.t.slug, login: s.login };
      state.sockets.add(entry);
      state.eventConnections++;
      ws.on('close', () => state.sockets.delete(entry));
      ws.on('message', (data) => {
        let m;
        try { m = JSON.parse(data.toString()); } catch (e) { return; }
        if (m.t === 'ping') {
          state.pings++;
          if (state.answerPings) ws.send(JSON.stringify({ t: 'pong' }));
        }
      });
    });
  });

  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const p = server.address().port;
  // Web apps live on another origin (localhost vs 127.0.0.1), as they would.
  tenants = makeTenants(`http://localhost:${p}`);
  images.set('logo', logoPng(tenants.acme.branding.colors.primary));
  images.set('wallpaper', wallpaperPng(tenants.acme.branding.colors));
  for (const a of Object.values(tenants.acme.apps)) if (a.icon) images.set('icon:' + a.id, iconPng(a.id));

  const each = (f) => { for (const e of state.sockets) f(e); };
  return Object.assign(state, {
    port: p,
    url: `http://127.0.0.1:${p}/t/acme/`,
    hostUrl: `http://globex.localhost:${p}/`,
    tenants,
    // Pushes a notification to every events socket (of one login, if given).
    notify(n, login) { each((e) => { if (!login || e.login === login) e.ws.send(JSON.stringify(Object.assign({ t: 'notify' }, n))); }); },
    // Cuts every events socket without a goodbye, like a network blip.
    dropEvents() { each((e) => e.ws.terminate()); },
    closeEvents(code, reason = '') { each((e) => e.ws.close(code, reason)); },
    // Ends a user's sessions and tells their pages.
    signOut(login) {
      each((e) => { if (e.login === login) e.ws.send(JSON.stringify({ t: 'signed_out' })); });
      for (const [sid, s] of state.sessions) if (s.login === login) state.sessions.delete(sid);
    },
    close() {
      each((e) => e.ws.terminate());
      server.closeAllConnections && server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const s = await startDesktopFake({ port: Number(process.argv[2] || 0) });
  process.stdout.write(JSON.stringify({ ok: true, port: s.port, url: s.url, host_url: s.hostUrl, users: PASSWORDS }) + '\n');
}
