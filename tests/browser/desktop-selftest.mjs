#!/usr/bin/env node
// Tests node/assets/desktop/ (sign-in page and web desktop) in Debian's
// chromium against desktop-fake-server.mjs, which implements
// docs/DESKTOP-API.md in memory. Run: node tests/browser/desktop-selftest.mjs
// Ends with "N passed, N failed"; exit status 0 only when all passed.
// Screenshots go to $OC_SHOTS (default /tmp) as oc-desktop-*.png.
import path from 'node:path';
import { launch } from './lib.mjs';
import { startDesktopFake, CAPTCHA_ANSWER, PASSWORDS } from './desktop-fake-server.mjs';

const SHOTS = process.env.OC_SHOTS || '/tmp';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();

let passed = 0, failed = 0;
function check(name, ok, detail) {
  if (ok) { passed++; process.stderr.write(`ok   ${name}\n`); }
  else { failed++; process.stderr.write(`FAIL ${name}${detail === undefined ? '' : ': ' + JSON.stringify(detail)}\n`); }
}

const fake = await startDesktopFake({ launchDelayMs: 700 });
const ACME = fake.url;                       // http://127.0.0.1:<port>/t/acme/
const b = await launch({ viewport: { width: 1280, height: 800 } });
const { page, context } = b;
// Fast presence for the test; the product default is a ping every 10 s.
await context.addInitScript(() => {
  window.ocDesktopConfig = { pingMs: 250, backoffMinMs: 200, backoffMaxMs: 800, toastMs: 1200 };
});
const problems = [];   // CSP violations and script errors, from every page
function watch(p) {
  p.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text()); });
  p.on('pageerror', (e) => problems.push('pageerror: ' + e.message));
}
watch(page);

const D = () => page.evaluate(() => JSON.parse(JSON.stringify(window.ocDesktop)));
const text = (sel) => page.locator(sel).first().textContent();
const visible = (sel) => page.locator(sel).first().isVisible();
const cssVar = (name) => page.evaluate((n) => getComputedStyle(document.documentElement).getPropertyValue(n).trim(), name);
const areaBox = () => page.evaluate(() => JSON.parse(JSON.stringify(document.getElementById('oc-area').getBoundingClientRect())));
const winBox = (id) => page.evaluate((i) => JSON.parse(JSON.stringify(document.getElementById('oc-' + i).getBoundingClientRect())), id);
const win = async (app) => (await D()).windows.find((w) => w.app === app);
const until = (f, arg, timeout = 5000) => page.waitForFunction(f, arg, { timeout, polling: 50 });

async function drag(sel, dx, dy, { at = 'center' } = {}) {
  const bb = await page.locator(sel).first().boundingBox();
  const x = at === 'left' ? bb.x + 60 : bb.x + bb.width / 2, y = bb.y + bb.height / 2;
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.move(x + dx / 2, y + dy / 2, { steps: 3 });
  await page.mouse.move(x + dx, y + dy, { steps: 3 });
  await page.mouse.up();
}

async function submitLogin(user, pass, captcha) {
  const n = fake.logins.length;
  await page.fill('#oc-username', user);
  await page.fill('#oc-password', pass);
  if (captcha !== undefined) await page.fill('#oc-captcha-answer', captcha);
  await page.click('#oc-submit');
  for (let i = 0; i < 200 && fake.logins.length === n; i++) await sleep(10);
}

async function signIn(user, pass, base = ACME) {
  if (!page.url().endsWith('/login')) await page.goto(base + 'login');
  await until(() => window.ocLogin);
  await submitLogin(user, pass);
  await page.waitForURL(base, { timeout: 5000 });
  await until(() => window.ocDesktop && window.ocDesktop.connected);
}

let exitCode = 1;
try {
  // ---- sign-in page ----
  await page.goto(ACME);
  check('signed out: the desktop redirects to login', page.url() === ACME + 'login', page.url());
  await until(() => document.documentElement.className.includes('oc-branded'));
  check('login: title from branding', (await page.title()) === 'Acme Desktop \u2013 Sign in', await page.title());
  check('login: product name', (await text('h1.oc-product-name')) === 'Acme Desktop');
  check('login: brand colours as CSS properties', (await cssVar('--primary')) === '#1f6feb' && (await cssVar('--background')) === '#0d1117' && (await cssVar('--text')) === '#e6edf3');
  const logo = await page.evaluate(() => { const i = document.querySelector('.oc-login .oc-logo'); return { src: i.getAttribute('src'), w: i.naturalWidth }; });
  check('login: logo image', logo.src === '/t/acme/api/v1/branding/logo' && logo.w === 128, logo);
  const wall = await page.evaluate(() => getComputedStyle(document.body).backgroundImage);
  check('login: wallpaper as background', wall.includes('/t/acme/api/v1/branding/wallpaper'), wall);
  check('login: form posts to {prefix}/login', (await page.getAttribute('#oc-login-form', 'action')) === '/t/acme/login');
  check('login: no captcha at first', !(await visible('#oc-captcha')));

  await submitLogin('mallory', 'guess');
  // Wait for the answer, as for the wrong passwords below: on a busy
  // machine it may not be in yet.
  await until(() => window.ocLogin.error && !document.getElementById('oc-submit').disabled);
  const unknownErr = await text('#oc-login-error');
  for (let i = 1; i <= 3; i++) {
    await submitLogin('alice', 'wrong' + i);
    await until(() => window.ocLogin.error && !document.getElementById('oc-submit').disabled);
    const err = await text('#oc-login-error');
    const cap = await visible('#oc-captcha');
    if (i < 3) check(`wrong password #${i}: error, no captcha`, err === 'Wrong username or password.' && !cap, { err, cap });
    else check('wrong password #3: captcha appears', err === 'Wrong username or password.' && cap, { err, cap });
  }
  check('unknown user gets the same error as a wrong password', unknownErr === 'Wrong username or password.', unknownErr);
  check('password cleared after a failure', (await page.inputValue('#oc-password')) === '');
  await until(() => document.getElementById('oc-captcha-img').naturalWidth === 180);
  const cid1 = await page.inputValue('#oc-captcha-id');
  check('captcha image loaded from image_url', /^c[0-9a-f]+$/.test(cid1) && (await page.getAttribute('#oc-captcha-img', 'src')).endsWith(`/api/v1/captcha/${cid1}.png`), cid1);
  await page.screenshot({ path: path.join(SHOTS, 'oc-desktop-login.png') });
  await page.click('#oc-captcha-new');
  await until((old) => document.getElementById('oc-captcha-id').value !== old, cid1);
  check('"New image" fetches another captcha', (await page.getAttribute('#oc-captcha-img', 'src')).includes(await page.inputValue('#oc-captcha-id')));
  await submitLogin('alice', PASSWORDS.alice, '0000');
  await until(() => /image/.test(window.ocLogin.error || '') && !document.getElementById('oc-submit').disabled);
  check('wrong captcha: its own error, password kept', (await text('#oc-login-error')) === 'The characters did not match the image.' &&
    (await page.inputValue('#oc-password')) === PASSWORDS.alice, await text('#oc-login-error'));
  await submitLogin('alice', PASSWORDS.alice, CAPTCHA_ANSWER);
  const last = fake.logins[fake.logins.length - 1];
  check('captcha sent as {id, answer}', last.captcha && last.captcha.answer === CAPTCHA_ANSWER && /^c[0-9a-f]+$/.test(last.captcha.id), last);
  await page.waitForURL(ACME, { timeout: 5000 });
  check('right captcha and password: the desktop', page.url() === ACME);

  // ---- desktop ----
  await until(() => window.ocDesktop && window.ocDesktop.connected);
  let d = await D();
  check('desktop: events socket connected and answering', d.connected && d.pongs >= 1 && !d.veil, d);
  check('desktop: title and product name', (await page.title()) === 'Acme Desktop' && (await text('#oc-start .oc-product-name')) === 'Acme Desktop');
  check('desktop: logo in the start button', (await page.getAttribute('#oc-start .oc-logo', 'src')) === '/t/acme/api/v1/branding/logo');
  const areaStyle = await page.evaluate(() => { const s = getComputedStyle(document.getElementById('oc-area')); return [s.backgroundImage, s.backgroundSize]; });
  check('desktop: wallpaper, cover', areaStyle[0].includes('/t/acme/api/v1/branding/wallpaper') && areaStyle[1] === 'cover', areaStyle);
  check('desktop: user shown', (await text('#oc-user .oc-user-name')) === 'Alice Liddell' && (await text('#oc-user .oc-avatar')) === 'AL');
  const want = ['Calendar', 'Legacy ERP', 'Mail', 'Shell', 'Wiki'];
  const menuNames = await page.$$eval('#oc-start-list .oc-start-name', (e) => e.map((x) => x.textContent));
  const iconNames = await page.$$eval('.oc-desk-icon .oc-desk-label', (e) => e.map((x) => x.textContent));
  check('start menu: exactly the user\'s apps, by name', JSON.stringify(menuNames) === JSON.stringify(want), menuNames);
  check('desktop icons: exactly the user\'s apps', JSON.stringify(iconNames) === JSON.stringify(want), iconNames);
  check('ocDesktop.apps sorted', JSON.stringify(d.apps.map((a) => a.name)) === JSON.stringify(want), d.apps);

  // Start menu from the keyboard.
  await page.focus('#oc-start');
  await page.keyboard.press('Enter');
  const active = () => page.evaluate(() => document.activeElement.getAttribute('data-app') || document.activeElement.id);
  const seen = [await active()];
  for (const k of ['ArrowDown', 'End', 'ArrowDown', 'Home', 'm', 'ArrowUp']) { await page.keyboard.press(k); seen.push(await active()); }
  check('start menu: arrows, Home/End, letters move the focus', JSON.stringify(seen) === JSON.stringify(['calendar', 'erp', 'wiki', 'calendar', 'calendar', 'mail', 'erp']), seen);
  await page.keyboard.press('Escape');
  check('start menu: Escape closes, focus back on the start button', !(await visible('#oc-start-menu')) && (await active()) === 'oc-start');

  // ---- a web app window ----
  await page.dblclick('.oc-desk-icon[data-app=wiki]');
  await until(() => window.ocDesktop.windows.length === 1);
  let w = await win('wiki');
  const frame = await page.evaluate(() => { const f = document.querySelector('.oc-window[data-app=wiki] iframe'); return { sandbox: f.getAttribute('sandbox'), src: f.src, title: f.title }; });
  check('wiki opens in a sandboxed iframe of its url', frame.sandbox === 'allow-scripts allow-same-origin allow-forms allow-popups' &&
    frame.src === `http://localhost:${fake.port}/fake-apps/wiki` && frame.title === 'Wiki', frame);
  await page.frameLocator('.oc-window[data-app=wiki] iframe').locator('h1').waitFor({ timeout: 5000 });
  check('window focused, on the taskbar', w.focused && (await page.getAttribute(`.oc-task[data-window=${w.id}]`, 'aria-pressed')) === 'true', w);

  const area = await areaBox();
  const sameBox = async (ww) => {
    const r = await winBox(ww.id);
    return Math.round(r.x - area.x) === ww.x && Math.round(r.y - area.y) === ww.y && Math.round(r.width) === ww.w && Math.round(r.height) === ww.h;
  };
  const tb = `#oc-${w.id} .oc-titlebar`;
  await drag(tb, 120, 60, { at: 'left' });
  let w2 = await win('wiki');
  check('drag the title bar moves the window', w2.x === w.x + 120 && w2.y === w.y + 60 && w2.w === w.w && await sameBox(w2), { w, w2 });
  await drag(tb, -3000, -3000, { at: 'left' });
  w2 = await win('wiki');
  check('moving stops at the top-left edge', w2.x === 0 && w2.y === 0, w2);
  await drag(tb, 3000, 3000, { at: 'left' });
  w2 = await win('wiki');
  check('moving stops at the bottom-right edge', w2.x === Math.round(area.width) - w2.w && w2.y === Math.round(area.height) - w2.h && await sameBox(w2), { w2, area });
  await drag(tb, -300, -100, { at: 'left' });
  w = await win('wiki');
  await drag(`#oc-${w.id} .oc-resize-se`, 70, 50);
  w2 = await win('wiki');
  check('resize from the bottom-right corner', w2.x === w.x && w2.y === w.y && w2.w === w.w + 70 && w2.h === w.h + 50 && await sameBox(w2), { w, w2 });
  w = w2;
  await drag(`#oc-${w.id} .oc-resize-nw`, -40, -30);
  w2 = await win('wiki');
  check('resize from the top-left corner keeps the opposite edges', w2.x === w.x - 40 && w2.y === w.y - 30 && w2.x + w2.w === w.x + w.w && w2.y + w2.h === w.y + w.h, { w, w2 });
  await drag(`#oc-${w.id} .oc-resize-se`, -3000, -3000);
  w2 = await win('wiki');
  check('resize stops at the minimum size', w2.w === 320 && w2.h === 200 && await sameBox(w2), w2);
  await drag(`#oc-${w.id} .oc-resize-e`, 200, 0);
  await drag(`#oc-${w.id} .oc-resize-s`, 0, 120);
  w2 = await win('wiki');
  check('resize from the edges', w2.w === 520 && w2.h === 320, w2);
  await page.focus(tb);
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Shift+ArrowDown');
  w = await win('wiki');
  check('keyboard: arrows move, Shift+arrows resize', w.x === w2.x + 20 && w.h === w2.h + 20, { w2, w });

  await page.click(`#oc-${w.id} .oc-wbtn-min`);
  w2 = await win('wiki');
  check('minimise hides the window', w2.minimized && !(await page.isVisible(`#oc-${w.id}`)) && (await page.getAttribute(`.oc-task[data-window=${w.id}]`, 'aria-pressed')) === 'false', w2);
  await page.click(`.oc-task[data-window=${w.id}]`);
  w2 = await win('wiki');
  check('taskbar button restores it', !w2.minimized && w2.focused && await page.isVisible(`#oc-${w.id}`) && w2.x === w.x && w2.w === w.w, w2);
  await page.click(`.oc-task[data-window=${w.id}]`);
  check('taskbar button on the focused window minimises it', (await win('wiki')).minimized);
  await page.click(`.oc-task[data-window=${w.id}]`);
  await page.click(`#oc-${w.id} .oc-wbtn-max`);
  w2 = await win('wiki');
  check('maximise fills the desktop area', w2.maximized && w2.x === 0 && w2.y === 0 && w2.w === Math.round(area.width) && w2.h === Math.round(area.height) && await sameBox(w2), w2);
  await page.dblclick(`#oc-${w.id} .oc-title`);
  w2 = await win('wiki');
  check('double-click on the title restores', !w2.maximized && w2.x === w.x && w2.y === w.y && w2.w === w.w && w2.h === w.h && await sameBox(w2), { w, w2 });
  await page.dblclick(`#oc-${w.id} .oc-title`);
  check('double-click on the title maximises', (await win('wiki')).maximized);
  await page.click(`#oc-${w.id} .oc-wbtn-max`);
  check('the button restores', !(await win('wiki')).maximized);

  // ---- a second window (a VM app that launches), focus order ----
  await page.click('#oc-start');
  await page.keyboard.press('l');
  await page.keyboard.press('Enter');
  await until(() => window.ocDesktop.windows.length === 2);
  const erp = await win('erp');
  const progress = await text(`#oc-${erp.id} .oc-status-text`);
  check('VM app: progress while launching', progress === 'Starting Legacy ERP\u2026', progress);
  await until((id) => document.querySelector('#oc-' + id + ' iframe'), erp.id);
  check('VM app: viewer_url in the iframe', (await page.getAttribute(`#oc-${erp.id} iframe`, 'src')) === '/fake-apps/viewer?app=erp');
  let ws = (await D()).windows;
  const zOf = (list, app) => list.find((x) => x.app === app).z;
  check('newest window on top and focused', zOf(ws, 'erp') > zOf(ws, 'wiki') && ws.find((x) => x.app === 'erp').focused, ws);
  await page.click(`.oc-task[data-window=${w.id}]`);
  ws = (await D()).windows;
  check('taskbar raises the other window', zOf(ws, 'wiki') > zOf(ws, 'erp') && ws.find((x) => x.app === 'wiki').focused, ws);
  // A point of the ERP window that the wiki window does not cover.
  const eb = await winBox(erp.id), wb = await winBox(w.id);
  const pts = [[eb.x + eb.width - 30, eb.y + eb.height - 30], [eb.x + 30, eb.y + eb.height - 30], [eb.x + eb.width - 30, eb.y + 60], [eb.x + 30, eb.y + 60]];
  const free = pts.find(([x, y]) => !(x >= wb.x && x <= wb.x + wb.width && y >= wb.y && y <= wb.y + wb.height));
  await page.mouse.click(free[0], free[1]);
  await until(() => { const x = window.ocDesktop.windows; return x.find((v) => v.app === 'erp').focused; }, null, 3000).catch(() => {});
  ws = (await D()).windows;
  check('a click inside the other window\'s iframe raises it', zOf(ws, 'erp') > zOf(ws, 'wiki'), { ws, free });
  await page.click(`#oc-${w.id} .oc-titlebar`, { position: { x: 80, y: 12 } }).catch(() => {});
  await page.click('#oc-start');
  await page.click('.oc-start-item[data-app=wiki]');
  ws = (await D()).windows;
  check('opening an open app focuses its window', ws.length === 2 && ws.find((x) => x.app === 'wiki').focused, ws);
  await page.click(`#oc-${erp.id} .oc-wbtn-close`);
  ws = (await D()).windows;
  check('close removes the window and its taskbar button', ws.length === 1 && !(await page.$(`#oc-${erp.id}`)) && (await page.$$('.oc-task')).length === 1, ws);
  await page.click(`#oc-${w.id} .oc-wbtn-close`);
  check('last window closed', (await D()).windows.length === 0);

  // ---- a web app that refuses framing: a new tab ----
  await page.click('#oc-start');
  const [tab] = await Promise.all([context.waitForEvent('page'), page.click('.oc-start-item[data-app=mail]')]);
  await tab.waitForLoadState();
  check('non-frameable app opens a tab', tab.url() === `http://localhost:${fake.port}/fake-apps/mail` && (await D()).windows.length === 0, tab.url());
  const note = await page.evaluate(() => { const t = document.querySelector('.oc-toast'); const a = t && t.querySelector('a'); return t && { title: t.querySelector('.oc-toast-title').textContent, href: a && a.href, rel: a && a.rel }; });
  check('with a note and a link', note && note.title === 'Mail opened in a new tab' && note.href.endsWith('/fake-apps/mail') && note.rel.includes('noopener'), note);
  await tab.close();

  // ---- a VM app whose launch fails ----
  await page.click('#oc-start');
  await page.click('.oc-start-item[data-app=shell]');
  await until(() => window.ocDesktop.windows.length === 1);
  const sh = await win('shell');
  check('VM app: progress message', (await text(`#oc-${sh.id} .oc-status-text`)) === 'Starting Shell\u2026');
  await page.waitForSelector(`#oc-${sh.id} .oc-launch-error`, { timeout: 5000 });
  check('VM app: the launch error in the window', (await text(`#oc-${sh.id} .oc-launch-error`)) === 'Launching VM apps is not available yet' &&
    await visible(`#oc-${sh.id} .oc-status-actions button`));
  await page.screenshot({ path: path.join(SHOTS, 'oc-desktop-1280.png') });
  await page.click(`#oc-${sh.id} .oc-wbtn-close`);

  // ---- notifications ----
  fake.notify({ title: 'Maintenance tonight', body: 'The ERP is down from 22:00 to 23:00.', level: 'warning' });
  await until(() => window.ocDesktop.notifications.length === 1);
  await page.waitForSelector('.oc-toast-warning .oc-toast-title');
  check('pushed notification: a toast', (await text('.oc-toast-warning .oc-toast-title')) === 'Maintenance tonight' && (await text('#oc-badge')) === '1');
  fake.notify({ title: '<img src=x onerror=alert(1)>', body: 'plain <b>text</b>', level: 'info' });
  await until(() => window.ocDesktop.notifications.length === 2);
  const inj = await page.evaluate(() => ({ imgs: document.querySelectorAll('.oc-toasts img, .oc-toasts b').length, t: [...document.querySelectorAll('.oc-toast-title')].pop().textContent }));
  check('notification text is text, never markup', inj.imgs === 0 && inj.t === '<img src=x onerror=alert(1)>', inj);
  await until(() => !document.querySelector('.oc-toast-info'), null, 4000);
  check('toasts fade away', true);
  await page.click('#oc-bell');
  const hist = await page.$$eval('#oc-notif-list .oc-notif-title', (e) => e.map((x) => x.textContent));
  check('history lists them, newest first; badge cleared', hist.length === 2 && hist[1] === 'Maintenance tonight' && !(await visible('#oc-badge')), hist);
  await page.keyboard.press('Escape');
  check('Escape closes the panel', !(await visible('#oc-notif-panel')));

  // ---- presence: pings without pongs grey the page out ----
  await page.focus('.oc-desk-icon[data-app=wiki]');
  fake.answerPings = false;
  const tv = Date.now();
  await until(() => window.ocDesktop.veil, null, 25000);
  const veilMs = Date.now() - tv;
  check(`veil after two unanswered pings (${veilMs} ms at 250 ms pings)`, veilMs < 3000, veilMs);
  d = await D();
  const veilState = await page.evaluate(() => {
    const v = document.getElementById('oc-veil'), r = v.getBoundingClientRect();
    const hit = document.elementFromPoint(200, 200);
    return { shown: !v.hidden, full: r.width === innerWidth && r.height === innerHeight, hit: v.contains(hit), inert: document.getElementById('oc-root').hasAttribute('inert'), text: document.getElementById('oc-veil-title').textContent };
  });
  check('veil covers the page, takes the mouse, says Reconnecting…', veilState.shown && veilState.full && veilState.hit && veilState.inert && veilState.text === 'Reconnecting\u2026' && !d.connected, veilState);
  await page.keyboard.press('Enter');
  await sleep(100);
  check('veil blocks the keyboard', (await D()).windows.length === 0);
  await page.screenshot({ path: path.join(SHOTS, 'oc-desktop-veil.png') });
  fake.answerPings = true;
  await until(() => !window.ocDesktop.veil && window.ocDesktop.connected, null, 10000);
  check('veil goes when pongs come back', true);
  const nConn = fake.eventConnections;
  fake.refuseEvents = true;
  fake.dropEvents();
  await until(() => window.ocDesktop.veil, null, 5000);
  const rej = fake.rejectedEvents;
  // The page's first retry comes after about 1 s, later on a busy machine.
  for (let i = 0; i < 300 && fake.rejectedEvents < rej + 1; i++) await sleep(10);
  check('socket dropped: veil, retries while the node is away', (await D()).veil && fake.rejectedEvents >= rej + 1, fake.rejectedEvents - rej);
  fake.refuseEvents = false;
  await until(() => !window.ocDesktop.veil, null, 5000);
  d = await D();
  check('reconnects by itself', d.connected && fake.eventConnections > nConn && d.pings > d.pongs - 1, d);

  // ---- the session ends ----
  fake.signOut('alice');
  await page.waitForURL(ACME + 'login', { timeout: 5000 });
  check('"signed_out" goes to login', true);
  await signIn('alice', PASSWORDS.alice);
  fake.closeEvents(4401, 'session ended');
  await page.waitForURL(ACME + 'login', { timeout: 5000 });
  check('close code 4401 goes to login', true);
  await signIn('alice', PASSWORDS.alice);
  fake.sessions.clear();
  fake.dropEvents();
  await page.waitForURL(ACME + 'login', { timeout: 5000 });
  check('HTTP 401 on reconnect goes to login', true);
  await signIn('alice', PASSWORDS.alice);
  await page.click('#oc-user');
  await page.click('#oc-signout');
  await page.waitForURL(ACME + 'login', { timeout: 5000 });
  const after = await page.evaluate(() => fetch('/t/acme/api/v1/me').then((r) => r.status));
  check('"Sign out" returns to login, the session is gone', after === 401, after);

  // ---- sign-in errors: 429 with a countdown, 503 ----
  await until(() => window.ocLogin);
  fake.nextLogin = { status: 429, body: { error: 'too many attempts, wait 2 s', retry_after_s: 2 } };
  await submitLogin('alice', 'x');
  await until(() => document.getElementById('oc-submit').disabled && /Wait/.test(document.getElementById('oc-submit').textContent));
  check('429: the wait and a disabled, counting button', (await text('#oc-login-error')) === 'Too many attempts, wait 2 s.' && /^Wait [12] s$/.test((await text('#oc-submit-label')).trim()), await text('#oc-submit-label'));
  await until(() => !document.getElementById('oc-submit').disabled, null, 4000);
  check('429: the button comes back after the wait', (await text('#oc-submit-label')) === 'Sign in');
  fake.nextLogin = { status: 503, body: { error: 'the company directory is not answering; try again shortly' } };
  await submitLogin('alice', 'x');
  await until(() => window.ocLogin.error && !document.getElementById('oc-submit').disabled);
  check('503: the directory message', (await text('#oc-login-error')) === 'The company directory is not answering; try again shortly.');

  // ---- another user sees only their apps ----
  await signIn('bob', PASSWORDS.bob);
  const bobApps = await page.$$eval('.oc-desk-icon .oc-desk-label', (e) => e.map((x) => x.textContent));
  check('bob sees exactly his apps', JSON.stringify(bobApps) === JSON.stringify(['Payroll', 'Wiki']), bobApps);

  // ---- 1024x600 ----
  await page.setViewportSize({ width: 1024, height: 600 });
  await page.click('#oc-start');
  await page.click('.oc-start-item[data-app=wiki]');
  await page.click('#oc-start');
  await page.click('.oc-start-item[data-app=payroll]');
  fake.notify({ title: 'Welcome, Bob', body: 'Your payslips are in Payroll.', level: 'info' });
  await page.waitForSelector('.oc-toast');
  const fit = await page.evaluate(() => {
    const out = [];
    for (const s of ['#oc-start', '#oc-bell', '#oc-clock', '#oc-user', '.oc-task']) {
      const r = document.querySelector(s).getBoundingClientRect();
      if (r.left < 0 || r.right > innerWidth || r.bottom > innerHeight || r.width === 0) out.push(s);
    }
    const a = document.getElementById('oc-area').getBoundingClientRect();
    for (const w of window.ocDesktop.windows) if (w.x < 0 || w.y < 0 || w.x + w.w > a.width || w.y + w.h > a.height) out.push(w.id);
    return out;
  });
  check('1024x600: taskbar and windows fit', fit.length === 0, fit);
  await page.screenshot({ path: path.join(SHOTS, 'oc-desktop-1024x600.png') });
  await page.setViewportSize({ width: 1280, height: 800 });

  // ---- a tenant on its own host name (prefix ""), light brand, no images ----
  await page.goto(fake.hostUrl);
  check('own host name: redirected to /login', page.url() === fake.hostUrl + 'login', page.url());
  await until(() => document.documentElement.className.includes('oc-branded'));
  check('own host name: its branding, default logo', (await page.title()) === 'Globex Workspace \u2013 Sign in' && (await cssVar('--background')) === '#f6f8fa' &&
    (await page.getAttribute('.oc-login .oc-logo', 'src')) === '/assets/desktop/opencloud.svg');
  check('own host name: form posts to /login', (await page.getAttribute('#oc-login-form', 'action')) === '/login');
  await signIn('gina', PASSWORDS.gina, fake.hostUrl);
  const gina = await D();
  check('own host name: desktop, apps, events at /api/v1/events', gina.apps.length === 1 && gina.apps[0].id === 'notes' && gina.connected, gina.apps);
  await page.dblclick('.oc-desk-icon[data-app=notes]');
  await page.screenshot({ path: path.join(SHOTS, 'oc-desktop-light.png') });

  // ---- the form without JavaScript ----
  const nojs = await b.browser.newContext({ javaScriptEnabled: false });
  const np = await nojs.newPage();
  await np.goto(ACME + 'login');
  await np.fill('#oc-username', 'alice');
  await np.fill('#oc-password', 'nope');
  await Promise.all([np.waitForNavigation(), np.click('#oc-submit')]);
  check('no JavaScript: a failure redirects to login?error=failed', np.url() === ACME + 'login?error=failed', np.url());
  await np.fill('#oc-username', 'alice');
  await np.fill('#oc-password', PASSWORDS.alice);
  await Promise.all([np.waitForNavigation(), np.click('#oc-submit')]);
  check('no JavaScript: the form signs in', np.url() === ACME && (await np.isVisible('.oc-noscript')), np.url());
  await nojs.close();

  check('no CSP violations or script errors', problems.length === 0, problems);
  exitCode = failed ? 1 : 0;
} catch (e) {
  failed++;
  process.stderr.write(`FAIL ${e.stack || e}\n`);
  await page.screenshot({ path: path.join(SHOTS, 'oc-desktop-failure.png') }).catch(() => {});
} finally {
  await b.close();
  await fake.close();
}
process.stderr.write(`${((Date.now() - t0) / 1000).toFixed(1)} s, screenshots in ${SHOTS}/oc-desktop-*.png\n`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : exitCode);
