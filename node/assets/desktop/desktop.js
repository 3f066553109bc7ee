// The web desktop (docs/DESKTOP-API.md): taskbar, start menu, desktop icons,
// app windows (through wm.js), notifications, and the events websocket that
// carries presence pings and shows a veil while the node is unreachable.
// Plain ES2015, no dependencies; text always goes in with textContent.
(function () {
  'use strict';

  const C = window.ocCommon;
  const P = C.prefix();
  const el = C.el;
  const $ = function (id) { return document.getElementById(id); };

  // Overridable for tests, before load: window.ocDesktopConfig, or ?ping_ms=.
  const cfg = (function () {
    const c = window.ocDesktopConfig || {};
    const q = Number(C.queryParam('ping_ms'));
    const pingMs = Number(c.pingMs) > 0 ? Number(c.pingMs) : q > 0 ? q : 10000;
    return {
      pingMs: pingMs,
      // A pong later than this after the second unanswered ping means the
      // connection is lost (so it shows within ~25 s at the default 10 s).
      pongGraceMs: Number(c.pongGraceMs) > 0 ? Number(c.pongGraceMs) : Math.min(5000, pingMs / 2),
      backoffMinMs: Number(c.backoffMinMs) > 0 ? Number(c.backoffMinMs) : 1000,
      backoffMaxMs: Number(c.backoffMaxMs) > 0 ? Number(c.backoffMaxMs) : 10000,
      toastMs: Number(c.toastMs) > 0 ? Number(c.toastMs) : 6000
    };
  })();

  const SANDBOX = 'allow-scripts allow-same-origin allow-forms allow-popups';
  const HISTORY_MAX = 50;

  const root = $('oc-root');
  const area = $('oc-area');
  const veil = $('oc-veil');
  let me = null;
  let apps = [];
  let wm = null;
  let leaving = false;
  const notifications = [];
  let unread = 0;
  let events = null;

  function goLogin() {
    if (leaving) return;
    leaving = true;
    location.replace(P + '/login');
  }

  function safeAppUrl(u) { return typeof u === 'string' && /^(https?:\/\/|\/(?!\/))/i.test(u) ? u : null; }

  function initials(name) {
    const words = String(name || '?').trim().split(/\s+/);
    const a = words[0] ? words[0].charAt(0) : '?';
    const b = words.length > 1 ? words[words.length - 1].charAt(0) : '';
    return (a + b).toUpperCase();
  }

  // An app's icon: its image, or its initial on a tile whose colour comes
  // from the app id (stable across sessions and users).
  function appIcon(app, cls) {
    if (C.safeImageUrl(app.icon)) {
      const img = el('img', 'oc-app-icon ' + cls);
      img.alt = '';
      img.src = app.icon;
      img.onerror = function () { img.parentNode && img.parentNode.replaceChild(tile(app, cls), img); };
      return img;
    }
    return tile(app, cls);
  }
  function tile(app, cls) {
    const t = el('span', 'oc-app-icon oc-tile ' + cls, app.name.charAt(0).toUpperCase());
    t.setAttribute('aria-hidden', 'true');
    let h = 0;
    for (let i = 0; i < app.id.length; i++) h = (h * 31 + app.id.charCodeAt(i)) % 360;
    t.style.backgroundColor = 'hsl(' + h + ',52%,44%)';
    return t;
  }

  // ---- popups: start menu, notifications, user menu (one at a time) ----

  let popup = null;   // { panel, opener }
  function openPopup(panel, opener, focusEl) {
    closePopup(false);
    panel.hidden = false;
    opener.setAttribute('aria-expanded', 'true');
    opener.className += ' oc-active';
    popup = { panel: panel, opener: opener };
    if (focusEl) focusEl.focus();
  }
  function closePopup(refocus) {
    if (!popup) return;
    const p = popup;
    popup = null;
    p.panel.hidden = true;
    p.opener.setAttribute('aria-expanded', 'false');
    p.opener.className = p.opener.className.replace(/\s*oc-active/g, '');
    if (refocus) p.opener.focus();
  }
  function togglePopup(panel, opener, focusEl) {
    if (popup && popup.panel === panel) closePopup(false);
    else openPopup(panel, opener, focusEl);
  }
  document.addEventListener(window.PointerEvent ? 'pointerdown' : 'mousedown', function (ev) {
    if (popup && !popup.panel.contains(ev.target) && !popup.opener.contains(ev.target)) closePopup(false);
  }, true);
  window.addEventListener('blur', function () { closePopup(false); });

  // Arrow keys, Home/End and a letter move among a menu's items.
  function menuKeys(list, ev) {
    const items = Array.prototype.slice.call(list.querySelectorAll('[role=menuitem]'));
    if (!items.length) return;
    let i = items.indexOf(document.activeElement);
    const k = ev.key;
    if (k === 'ArrowDown' || k === 'Down') i = (i + 1) % items.length;
    else if (k === 'ArrowUp' || k === 'Up') i = (i - 1 + items.length) % items.length;
    else if (k === 'Home') i = 0;
    else if (k === 'End') i = items.length - 1;
    else if (k.length === 1 && /\S/.test(k) && !ev.ctrlKey && !ev.altKey && !ev.metaKey) {
      const c = k.toLowerCase();
      for (let n = 1; n <= items.length; n++) {
        const j = (Math.max(i, 0) + n) % items.length;
        if (items[j].textContent.trim().toLowerCase().charAt(0) === c) { i = j; break; }
      }
    } else if (k === 'Tab') { closePopup(false); return; } else return;
    ev.preventDefault();
    items[Math.max(0, i)].focus();
  }

  document.addEventListener('keydown', function (ev) {
    if (veiled) { ev.preventDefault(); ev.stopPropagation(); return; }
    if ((ev.key === 'Escape' || ev.key === 'Esc') && popup) { ev.preventDefault(); closePopup(true); }
  }, true);

  // ---- start menu and desktop icons ----

  function buildApps() {
    const list = $('oc-start-list');
    const icons = $('oc-icons');
    list.textContent = '';
    icons.textContent = '';
    if (!apps.length) {
      list.appendChild(el('li', 'oc-empty', 'No apps are available to you yet.')).setAttribute('role', 'none');
    }
    apps.forEach(function (app) {
      const li = list.appendChild(el('li'));
      li.setAttribute('role', 'none');
      const item = li.appendChild(el('button', 'oc-menu-item oc-start-item'));
      item.type = 'button';
      item.setAttribute('role', 'menuitem');
      item.setAttribute('data-app', app.id);
      item.appendChild(appIcon(app, 'oc-icon-sm'));
      item.appendChild(el('span', 'oc-start-name', app.name));
      if (app.kind === 'vm') item.appendChild(el('span', 'oc-kind', 'Virtual app'));
      item.addEventListener('click', function (ev) { closePopup(false); openApp(app, ev.detail === 0); });

      const ili = icons.appendChild(el('li'));
      const icon = ili.appendChild(el('button', 'oc-desk-icon'));
      icon.type = 'button';
      icon.setAttribute('data-app', app.id);
      icon.setAttribute('aria-label', app.name + (app.kind === 'vm' ? ' (virtual app)' : '') + ', press Enter to open');
      icon.appendChild(appIcon(app, 'oc-icon-lg'));
      icon.appendChild(el('span', 'oc-desk-label', app.name));
      icon.addEventListener('dblclick', function () { openApp(app, false); });
      icon.addEventListener('keydown', function (ev) {
        if (ev.key === 'Enter') { ev.preventDefault(); openApp(app, true); } else iconKeys(icon, ev);
      });
    });
  }

  // Arrow keys on the desktop icons go to the nearest icon that way.
  function iconKeys(from, ev) {
    const dir = { ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0] }[ev.key];
    if (!dir) return;
    ev.preventDefault();
    const r0 = from.getBoundingClientRect();
    const all = document.querySelectorAll('.oc-desk-icon');
    let best = null, bestD = Infinity;
    for (let i = 0; i < all.length; i++) {
      if (all[i] === from) continue;
      const r = all[i].getBoundingClientRect();
      const dx = r.left - r0.left, dy = r.top - r0.top;
      const along = dx * dir[0] + dy * dir[1];
      if (along <= 0) continue;
      const d = along + 3 * Math.abs(dir[0] ? dy : dx);
      if (d < bestD) { bestD = d; best = all[i]; }
    }
    if (best) best.focus();
  }

  $('oc-start').addEventListener('click', function () {
    const first = $('oc-start-list').querySelector('[role=menuitem]');
    togglePopup($('oc-start-menu'), $('oc-start'), first);
  });
  $('oc-start').addEventListener('keydown', function (ev) {
    if (ev.key === 'ArrowUp' || ev.key === 'Up') {
      ev.preventDefault();
      const items = $('oc-start-list').querySelectorAll('[role=menuitem]');
      openPopup($('oc-start-menu'), $('oc-start'), items[items.length - 1]);
    }
  });
  $('oc-start-list').addEventListener('keydown', function (ev) { menuKeys($('oc-start-list'), ev); });

  // ---- opening apps ----

  // keyboard: opened with a key, so the window takes the keyboard focus.
  function openApp(app, keyboard) {
    const existing = wm.byApp(app.id);
    if (existing) { wm.focus(existing, { dom: keyboard }); return; }
    if (app.kind === 'web') {
      const url = safeAppUrl(app.url);
      if (!url) { notify({ title: app.name, body: 'This app has no valid address.', level: 'warning' }, true); return; }
      if (!app.frameable) { openTab(app, url); return; }
      const win = wm.open({ app: app.id, title: app.name, icon: appIcon(app, 'oc-icon-xs'), keyboard: keyboard });
      showFrame(win, app, url);
    } else {
      const s = area.getBoundingClientRect();
      const win = wm.open({
        app: app.id, title: app.name, icon: appIcon(app, 'oc-icon-xs'), keyboard: keyboard,
        w: Math.min(1040, s.width - 40), h: Math.min(700, s.height - 30)
      });
      launch(win, app);
    }
  }

  // Web apps that refuse to be framed open in a tab; the note carries a link
  // for when a pop-up blocker stopped window.open.
  function openTab(app, url) {
    window.open(url, '_blank', 'noopener');
    const a = el('a', 'oc-link', 'Open ' + app.name);
    a.href = url;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    toast({ title: app.name + ' opened in a new tab', body: 'It cannot be shown inside the desktop. If no tab appeared:', level: 'info' }, a);
  }

  function showFrame(win, app, url) {
    win.body.textContent = '';
    const loading = win.body.appendChild(status('Opening ' + app.name + '\u2026', true));
    const f = el('iframe', 'oc-frame');
    f.setAttribute('sandbox', SANDBOX);
    f.setAttribute('allow', 'clipboard-read; clipboard-write; fullscreen');
    f.title = app.name;
    f.addEventListener('load', function () { if (loading.parentNode) loading.parentNode.removeChild(loading); });
    f.src = url;
    win.body.appendChild(f);
  }

  function status(text, spin) {
    const s = el('div', 'oc-status');
    if (spin) s.appendChild(el('span', 'oc-spinner oc-spinner-lg')).setAttribute('aria-hidden', 'true');
    const t = s.appendChild(el('p', 'oc-status-text', text));
    t.setAttribute('role', 'status');
    return s;
  }

  function launch(win, app) {
    let closed = false;
    win.onClose = function () { closed = true; };
    win.body.textContent = '';
    const s = win.body.appendChild(status('Starting ' + app.name + '\u2026', true));
    const detail = s.appendChild(el('p', 'oc-status-detail', 'Preparing a virtual machine for you.'));
    const t0 = Date.now();
    const tick = setInterval(function () {
      const secs = Math.round((Date.now() - t0) / 1000);
      if (secs >= 2) detail.textContent = 'Preparing a virtual machine for you \u2013 ' + secs + ' s';
    }, 1000);
    C.request('POST', P + '/api/v1/apps/' + encodeURIComponent(app.id) + '/launch').then(function (res) {
      clearInterval(tick);
      if (closed) return;
      if (res.status === 401) { goLogin(); return; }
      const viewer = res.status === 200 && res.body ? safeAppUrl(res.body.viewer_url) : null;
      if (viewer) { showFrame(win, app, viewer); return; }
      launchFailed(win, app, C.errorText(res, app.name + ' could not be started'));
    }, function (e) {
      clearInterval(tick);
      if (!closed) launchFailed(win, app, e.message);
    });
  }

  function launchFailed(win, app, message) {
    win.body.textContent = '';
    const s = win.body.appendChild(el('div', 'oc-status oc-status-error'));
    s.appendChild(el('span', 'oc-status-icon')).setAttribute('aria-hidden', 'true');
    s.appendChild(el('p', 'oc-status-text', app.name + ' could not be started'));
    const m = s.appendChild(el('p', 'oc-status-detail oc-launch-error', message.charAt(0).toUpperCase() + message.slice(1)));
    m.setAttribute('role', 'alert');
    const row = s.appendChild(el('div', 'oc-status-actions'));
    const again = row.appendChild(el('button', 'oc-button oc-button-primary', 'Try again'));
    again.type = 'button';
    again.addEventListener('click', function () { launch(win, app); });
    const close = row.appendChild(el('button', 'oc-button', 'Close'));
    close.type = 'button';
    close.addEventListener('click', function () { wm.close(win); });
  }

  // ---- taskbar ----

  function renderTasks() {
    const tasks = $('oc-tasks');
    tasks.textContent = '';
    const focused = wm.focused();
    wm.list().forEach(function (win) {
      const app = appById(win.app);
      const active = win === focused && !win.minimized;
      const b = tasks.appendChild(el('button', 'oc-task' + (active ? ' oc-active' : '') + (win.minimized ? ' oc-minimized' : '')));
      b.type = 'button';
      b.setAttribute('data-window', win.id);
      b.setAttribute('aria-pressed', active ? 'true' : 'false');
      b.title = win.title + (win.minimized ? ' (minimised)' : '');
      if (app) b.appendChild(appIcon(app, 'oc-icon-xs'));
      b.appendChild(el('span', 'oc-task-label', win.title));
      b.addEventListener('click', function (ev) {
        if (!win.minimized && wm.focused() === win) wm.minimize(win);
        else wm.focus(win, { dom: ev.detail === 0 });
      });
    });
  }

  function appById(id) {
    for (let i = 0; i < apps.length; i++) if (apps[i].id === id) return apps[i];
    return null;
  }

  function clock() {
    const now = new Date();
    const c = $('oc-clock');
    let t;
    try { t = now.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }); } catch (e) { t = now.toTimeString().slice(0, 5); }
    c.textContent = t;
    c.setAttribute('datetime', now.toISOString());
    c.title = now.toLocaleDateString();
  }

  // ---- notifications ----

  function fmtTime(ms) {
    const d = new Date(ms);
    try { return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }); } catch (e) { return d.toTimeString().slice(0, 5); }
  }

  // A notification from the node (kept in the history) or from the page.
  function notify(n, local) {
    const item = {
      title: typeof n.title === 'string' ? n.title.slice(0, 200) : '',
      body: typeof n.body === 'string' ? n.body.slice(0, 2000) : '',
      level: n.level === 'warning' ? 'warning' : 'info',
      at: Date.now()
    };
    if (!item.title && !item.body) return;
    if (!local) {
      notifications.push(item);
      if (notifications.length > HISTORY_MAX) notifications.shift();
      if ($('oc-notif-panel').hidden) unread++;
      renderHistory();
    }
    toast(item);
  }

  function toast(n, extra) {
    const box = $('oc-toasts');
    const t = box.appendChild(el('div', 'oc-toast oc-toast-' + (n.level === 'warning' ? 'warning' : 'info')));
    t.appendChild(el('span', 'oc-level')).setAttribute('aria-hidden', 'true');
    const text = t.appendChild(el('div', 'oc-toast-text'));
    if (n.title) text.appendChild(el('p', 'oc-toast-title', n.title));
    if (n.body) text.appendChild(el('p', 'oc-toast-body', n.body));
    if (extra) text.appendChild(extra);
    const x = t.appendChild(el('button', 'oc-toast-close'));
    x.type = 'button';
    x.setAttribute('aria-label', 'Dismiss');
    x.appendChild(el('span', 'oc-glyph')).setAttribute('aria-hidden', 'true');
    let timer = null;
    function gone() {
      t.className += ' oc-toast-out';
      setTimeout(function () { if (t.parentNode) t.parentNode.removeChild(t); }, 400);
    }
    function arm() { timer = setTimeout(gone, (n.level === 'warning' ? 2 : 1) * cfg.toastMs + (extra ? cfg.toastMs : 0)); }
    x.addEventListener('click', function () { clearTimeout(timer); gone(); });
    t.addEventListener('mouseenter', function () { clearTimeout(timer); });
    t.addEventListener('mouseleave', arm);
    arm();
    while (box.children.length > 4) box.removeChild(box.firstChild);
  }

  function renderHistory() {
    const list = $('oc-notif-list');
    list.textContent = '';
    for (let i = notifications.length - 1; i >= 0; i--) {
      const n = notifications[i];
      const li = list.appendChild(el('li', 'oc-notif oc-notif-' + n.level));
      li.appendChild(el('span', 'oc-level')).setAttribute('aria-hidden', 'true');
      const text = li.appendChild(el('div', 'oc-notif-text'));
      const head = text.appendChild(el('p', 'oc-notif-head'));
      head.appendChild(el('span', 'oc-notif-title', n.title || (n.level === 'warning' ? 'Warning' : 'Notice')));
      const tm = head.appendChild(el('time', 'oc-notif-time', fmtTime(n.at)));
      tm.setAttribute('datetime', new Date(n.at).toISOString());
      if (n.body) text.appendChild(el('p', 'oc-notif-body', n.body));
    }
    $('oc-notif-empty').hidden = notifications.length > 0;
    $('oc-notif-clear').hidden = notifications.length === 0;
    const badge = $('oc-badge');
    badge.hidden = unread === 0;
    badge.textContent = unread > 9 ? '9+' : String(unread);
    $('oc-bell').setAttribute('aria-label', unread ? 'Notifications, ' + unread + ' new' : 'Notifications');
  }

  $('oc-bell').addEventListener('click', function () {
    // The panel holds what the toasts said: they step aside.
    if ($('oc-notif-panel').hidden) $('oc-toasts').textContent = '';
    togglePopup($('oc-notif-panel'), $('oc-bell'), $('oc-notif-panel').hidden ? $('oc-notif-clear') : null);
    unread = 0;
    renderHistory();
  });
  $('oc-notif-clear').addEventListener('click', function () {
    notifications.length = 0;
    renderHistory();
    $('oc-bell').focus();
  });

  // ---- user menu ----

  $('oc-user').addEventListener('click', function () {
    togglePopup($('oc-user-menu'), $('oc-user'), $('oc-signout'));
  });
  $('oc-user-menu').addEventListener('keydown', function (ev) { menuKeys($('oc-user-menu'), ev); });
  $('oc-signout').addEventListener('click', function () {
    leaving = true;
    if (events) events.stop();
    const done = function () { location.replace(P + '/login'); };
    C.request('POST', P + '/api/v1/logout').then(done, done);
  });

  // ---- events websocket (events.js) and the veil ----

  function startEvents() {
    events = window.ocEvents.create({
      url: (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + P + '/api/v1/events',
      pingMs: cfg.pingMs, pongGraceMs: cfg.pongGraceMs, backoffMinMs: cfg.backoffMinMs, backoffMaxMs: cfg.backoffMaxMs,
      lost: function (on) { if (!leaving) setVeil(on); },
      message: function (m) { if (m.t === 'notify') notify(m, false); },
      sessionGone: goLogin,
      checkSession: function () {
        return C.request('GET', P + '/api/v1/me').then(function (res) { return res.status === 401; });
      }
    });
  }

  let veiled = false, beforeVeil = null;
  function setVeil(on) {
    if (on === veiled) return;
    veiled = on;
    veil.hidden = !on;
    if (on) {
      closePopup(false);
      beforeVeil = document.activeElement;
      root.setAttribute('aria-hidden', 'true');
      root.setAttribute('inert', '');
      veil.focus();
    } else {
      root.removeAttribute('aria-hidden');
      root.removeAttribute('inert');
      if (beforeVeil && beforeVeil !== document.body && document.contains(beforeVeil)) beforeVeil.focus();
      beforeVeil = null;
    }
    const c = $('oc-conn');
    c.className = 'oc-conn' + (on ? ' oc-conn-lost' : '');
    c.setAttribute('aria-label', on ? 'Reconnecting' : 'Connected');
    c.title = on ? 'Reconnecting\u2026' : 'Connected';
  }

  // ---- start ----

  window.ocDesktop = {
    get connected() { return !!events && events.state.connected; },
    get veil() { return veiled; },
    get user() { return me && { login: me.login, display_name: me.display_name, admin: !!me.admin, tenant: me.tenant }; },
    get apps() { return apps.slice(); },
    get windows() { return wm ? wm.state() : []; },
    get notifications() { return notifications.slice(); },
    get pings() { return events ? events.state.pings : 0; },
    get pongs() { return events ? events.state.pongs : 0; },
    config: cfg
  };

  function validApp(a) {
    return a && typeof a.id === 'string' && /^[A-Za-z0-9_-]+$/.test(a.id) && typeof a.name === 'string' && a.name &&
      (a.kind === 'web' || a.kind === 'vm');
  }

  function start(res) {
    if (res.status === 401) { goLogin(); return; }
    if (res.status !== 200 || !res.body) throw new Error(C.errorText(res, 'your desktop could not be loaded'));
    me = res.body;
    apps = (Array.isArray(me.apps) ? me.apps : []).filter(validApp).sort(function (a, b) {
      const x = a.name.toLowerCase(), y = b.name.toLowerCase();
      return x < y ? -1 : x > y ? 1 : 0;
    });
    const name = typeof me.display_name === 'string' && me.display_name ? me.display_name : String(me.login || '');
    const tenant = me.tenant && typeof me.tenant.name === 'string' ? me.tenant.name : '';
    const set = function (sel, text) {
      const n = document.querySelectorAll(sel);
      for (let i = 0; i < n.length; i++) n[i].textContent = text;
    };
    set('.oc-user-name', name);
    set('.oc-avatar', initials(name));
    set('.oc-tenant-name', tenant);
    set('.oc-user-login', String(me.login || '') + (tenant ? ' \u00b7 ' + tenant : ''));
    $('oc-user').setAttribute('aria-label', 'Account: ' + name);
    wm = window.ocWM.create(area, {
      change: renderTasks,
      empty: function () { $('oc-start').focus(); },
      // Windows open beside the desktop icons when there is room.
      reserveLeft: function () {
        const r = $('oc-icons').getBoundingClientRect(), a = area.getBoundingClientRect();
        return apps.length ? Math.round(r.right - a.left) : 0;
      }
    });
    buildApps();
    renderHistory();
    clock();
    setInterval(clock, 5000);
    const loading = $('oc-loading');
    loading.parentNode.removeChild(loading);
    startEvents();
  }

  Promise.all([C.loadBranding(''), C.request('GET', P + '/api/v1/me')]).then(function (r) {
    start(r[1]);
  }).catch(function (e) {
    $('oc-loading-text').textContent = String(e.message || e).replace(/^./, function (c) { return c.toUpperCase(); }) + '.';
    const again = $('oc-loading').appendChild(el('button', 'oc-button oc-button-primary', 'Try again'));
    again.type = 'button';
    again.addEventListener('click', function () { location.reload(); });
  });
})();
