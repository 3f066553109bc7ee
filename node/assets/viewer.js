// Opencloud browser viewer: speaks docs/VIEWER-PROTOCOL.md over one websocket.
// Plain ES2015 on purpose: the node embeds this file as is (no build step), and
// it must run in any current browser.
(function () {
  'use strict';

  const T_SIZE = 1, T_IMAGE = 2, T_COPY = 3, T_FILL = 4, T_FRAME = 5, T_CURSOR = 6, T_CONTROL = 16;
  const BACKOFF_MIN_MS = 250, BACKOFF_MAX_MS = 5000, RESIZE_DEBOUNCE_MS = 500;
  // Browsers report wheel movement in pixels; one notch of a classic wheel is
  // about 100 px (Chromium, Firefox on Linux/Windows), 3 lines, or 1 page.
  const WHEEL_NOTCH = [100, 3, 1];
  // How long a Ctrl+V keydown waits for the paste event, so that the guest
  // gets the new clipboard before the keystroke that pastes it.
  const PASTE_WAIT_MS = 100;

  const decodeOptions = { premultiplyAlpha: 'none', colorSpaceConversion: 'none' };
  // null until known: whether createImageBitmap accepts decodeOptions
  // (older Safari rejects the options argument).
  let bitmapOptionsOk = null;

  // Decodes PNG/JPEG bytes to something drawImage takes. Exactness matters (the
  // tests compare pixels), so colour management and premultiplication are off.
  function decodeImage(bytes, type) {
    const blob = new Blob([bytes], { type: type });
    if (typeof createImageBitmap === 'function') {
      if (bitmapOptionsOk !== false) {
        return createImageBitmap(blob, decodeOptions).then(function (bmp) {
          bitmapOptionsOk = true;
          return bmp;
        }, function (err) {
          if (bitmapOptionsOk) throw err;
          bitmapOptionsOk = false;
          return createImageBitmap(blob);
        });
      }
      return createImageBitmap(blob);
    }
    return new Promise(function (resolve, reject) {
      const url = URL.createObjectURL(blob);
      const img = new Image();
      img.onload = function () { URL.revokeObjectURL(url); resolve(img); };
      img.onerror = function () { URL.revokeObjectURL(url); reject(new Error('image decode failed')); };
      img.src = url;
    });
  }

  function base64(bytes) {
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(s);
  }

  function el(tag, id, css) {
    const e = document.createElement(tag);
    if (id) e.id = id;
    if (css) e.style.cssText = css;
    return e;
  }

  // options: container (element, default document.body), url (websocket URL,
  // default 'ws' next to the page), token (default from location.hash).
  function start(options) {
    options = options || {};
    const container = options.container || document.body;
    const fullWindow = container === document.body;
    if (fullWindow) {
      document.documentElement.style.cssText += ';height:100%;overflow:hidden;background:#000';
      container.style.cssText += ';margin:0;height:100%;overflow:hidden;background:#000';
    } else if (getComputedStyle(container).position === 'static') {
      container.style.position = 'relative';
    }

    const canvas = container.querySelector('#oc-canvas') || container.appendChild(el('canvas', 'oc-canvas'));
    canvas.style.cssText += ';position:absolute;display:block;outline:none;touch-action:none';
    canvas.width = 0;
    canvas.height = 0;
    const veil = container.querySelector('#oc-veil') || container.appendChild(el('div', 'oc-veil'));
    veil.style.cssText += ';position:absolute;left:0;top:0;right:0;bottom:0;background:rgba(128,128,128,0.6);' +
      'color:#fff;font:20px sans-serif;display:flex;align-items:center;justify-content:center;' +
      'flex-direction:column;text-align:center;z-index:1';
    veil.textContent = '';
    const veilTitle = veil.appendChild(el('div'));
    const veilDetail = veil.appendChild(el('div', null, 'font-size:14px;margin-top:8px;white-space:pre-wrap'));
    // alpha:false: the framebuffer is opaque; this also keeps getImageData
    // free of premultiplication rounding.
    const ctx = canvas.getContext('2d', { alpha: false });

    // Token: read once from the fragment, then dropped from the address bar so
    // a reload or a shared link does not replay it.
    let token = options.token || null;
    if (!token && location.hash) {
      const h = new URLSearchParams(location.hash.slice(1));
      token = h.get('token');
      if (token) history.replaceState(history.state, '', location.pathname + location.search);
    }
    let resume = null;

    const v = {
      connected: false, frames: 0, lastSeq: null, canvas: canvas, state: 'connecting', error: null,
      bytes: 0, nodeLatencyUs: null, mouseMode: null, agent: false, agentResize: false,
      agentClipboard: false, clipboard: null, stop: stop
    };
    window.ocViewer = v;

    let ws = null;
    let stopped = false;
    let backoff = BACKOFF_MIN_MS;
    let retryTimer = null;
    let veilUntilFrame = true;   // hide the veil at the first frame after connecting
    let queue = Promise.resolve();

    function wsUrl() {
      const u = new URL(options.url || 'ws', location.href);
      if (u.protocol === 'http:') u.protocol = 'ws:';
      else if (u.protocol === 'https:') u.protocol = 'wss:';
      if (resume) u.search = '?resume=' + encodeURIComponent(resume);
      else if (token) u.search = '?token=' + encodeURIComponent(token);
      return u.href;
    }

    let attempts = 0;
    function showVeil(detail) {
      veilTitle.textContent = v.state === 'failed' ? 'Disconnected' : stopped ? 'Closed' :
        attempts > 1 || v.state === 'closed' ? 'Reconnecting\u2026' : 'Connecting\u2026';
      veilDetail.textContent = detail || '';
      veil.style.display = 'flex';
    }

    function send(obj) {
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
    }

    function layout() {
      const cw = container.clientWidth, ch = container.clientHeight;
      const fw = canvas.width, fh = canvas.height;
      if (!fw || !fh) return;
      const scale = Math.min(cw / fw, ch / fh);
      const w = fw * scale, h = fh * scale;
      canvas.style.width = w + 'px';
      canvas.style.height = h + 'px';
      canvas.style.left = ((cw - w) / 2) + 'px';
      canvas.style.top = ((ch - h) / 2) + 'px';
    }

    function connect() {
      retryTimer = null;
      if (stopped) return;
      v.state = 'connecting';
      attempts++;
      const sock = new WebSocket(wsUrl());
      ws = sock;
      sock.binaryType = 'arraybuffer';
      sock.onopen = function () {
        v.connected = true;
        v.state = 'open';
        veilUntilFrame = true;
        lastMove = null;   // a new session does not know where the pointer is
      };
      sock.onmessage = function (ev) {
        if (sock !== ws) return;
        if (typeof ev.data === 'string') return;   // the protocol has no text messages this way
        v.bytes += ev.data.byteLength;
        receive(sock, ev.data);
      };
      sock.onclose = function () {
        if (sock !== ws) return;
        ws = null;
        v.connected = false;
        if (v.state !== 'failed') v.state = 'closed';
        releaseAll();
        showVeil(v.error || '');
        if (stopped) return;
        retryTimer = setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      };
      // onerror is always followed by onclose, which does the work.
    }

    function receive(sock, buf) {
      const dv = new DataView(buf);
      if (buf.byteLength < 1) return;
      const type = dv.getUint8(0);
      // CONTROL and CURSOR need no decoding; handling them at once means an
      // error is known before the close that follows it.
      if (type === T_CONTROL) return control(new TextDecoder().decode(new Uint8Array(buf, 1)));
      if (type === T_CURSOR && buf.byteLength >= 9) return cursor(dv, buf);
      let step;
      if (type === T_SIZE && buf.byteLength >= 5) {
        const w = dv.getUint16(1, true), h = dv.getUint16(3, true);
        step = function () {
          canvas.width = w;           // also resets the context state
          canvas.height = h;
          ctx.imageSmoothingEnabled = false;
          ctx.fillStyle = '#000';
          ctx.fillRect(0, 0, w, h);
          layout();
        };
      } else if (type === T_IMAGE && buf.byteLength >= 10) {
        const x = dv.getUint16(1, true), y = dv.getUint16(3, true);
        const mime = dv.getUint8(9) === 2 ? 'image/jpeg' : 'image/png';
        // Decoding starts now, in parallel with earlier steps; drawing waits its turn.
        const decoded = decodeImage(new Uint8Array(buf, 10), mime);
        decoded.catch(function () {});
        step = function () {
          return decoded.then(function (img) {
            ctx.drawImage(img, x, y);
            if (img.close) img.close();
          });
        };
      } else if (type === T_COPY && buf.byteLength >= 13) {
        const a = [];
        for (let i = 0; i < 6; i++) a.push(dv.getUint16(1 + 2 * i, true));
        step = function () {
          if (a[2] && a[3]) ctx.drawImage(canvas, a[0], a[1], a[2], a[3], a[4], a[5], a[2], a[3]);
        };
      } else if (type === T_FILL && buf.byteLength >= 12) {
        const x = dv.getUint16(1, true), y = dv.getUint16(3, true);
        const w = dv.getUint16(5, true), h = dv.getUint16(7, true);
        const color = 'rgb(' + dv.getUint8(9) + ',' + dv.getUint8(10) + ',' + dv.getUint8(11) + ')';
        step = function () {
          ctx.fillStyle = color;
          ctx.fillRect(x, y, w, h);
        };
      } else if (type === T_FRAME && buf.byteLength >= 9) {
        const seq = dv.getUint32(1, true), lat = dv.getUint32(5, true);
        step = function () {
          v.frames++;
          v.lastSeq = seq;
          v.nodeLatencyUs = lat;
          if (sock.readyState === WebSocket.OPEN) sock.send(JSON.stringify({ t: 'ack', seq: seq }));
          if (veilUntilFrame && sock === ws) {
            veilUntilFrame = false;
            veil.style.display = 'none';
            v.error = null;
            backoff = BACKOFF_MIN_MS;   // only a connection that got as far as a frame resets it
          }
        };
      } else {
        return;   // unknown or truncated: ignored, the node may add types
      }
      queue = queue.then(step).catch(function (err) {
        // One bad image must not stop the stream; the next repaint fixes it.
        if (window.console) console.warn('opencloud viewer:', err);
      });
    }

    function control(text) {
      let m;
      try { m = JSON.parse(text); } catch (e) { return; }
      if (m.kind === 'hello') {
        if (m.resume) resume = m.resume;
        token = null;   // used up
        v.mouseMode = m.mouse || null;
        v.agent = !!m.agent;
        v.agentResize = v.agentClipboard = false;
      } else if (m.kind === 'mouse') {
        v.mouseMode = m.mode;
      } else if (m.kind === 'agent') {
        v.agent = !!m.connected;
        v.agentResize = !!m.resize;
        v.agentClipboard = !!m.clipboard;
        // A guest that can follow the window gets its size at once.
        if (v.agentResize) requestResize();
      } else if (m.kind === 'error') {
        v.error = String(m.message);
        if (m.retry === false) {
          v.state = 'failed';
          stopped = true;
        }
        showVeil(v.error);
      } else if (m.kind === 'clipboard' && typeof m.text === 'string') {
        v.clipboard = m.text;
        // Needs focus and permission; without them the guest's copy simply
        // doesn't reach the local clipboard.
        try {
          navigator.clipboard.writeText(m.text).catch(function () {});
        } catch (e) { /* no clipboard API */ }
      }
    }

    function cursor(dv, buf) {
      const hx = dv.getInt16(1, true), hy = dv.getInt16(3, true);
      const w = dv.getUint16(5, true), h = dv.getUint16(7, true);
      if (!w || !h) {
        canvas.style.cursor = 'none';
        return;
      }
      // The hotspot must lie inside the image or the browser drops the cursor.
      const x = Math.max(0, Math.min(hx, w - 1)), y = Math.max(0, Math.min(hy, h - 1));
      canvas.style.cursor = 'url(data:image/png;base64,' + base64(new Uint8Array(buf, 9)) + ') ' + x + ' ' + y + ', auto';
    }

    // ---- input ----

    const pressedButtons = {};
    let pendingMove = null, moveScheduled = false, lastMove = null;
    let wheelAcc = 0;
    let pasteKey = null, pasteTimer = null;
    let resizeTimer = null;

    function releaseAll() {
      for (const b in pressedButtons) delete pressedButtons[b];
      flushPasteKey();
    }

    function toFramebuffer(e) {
      const r = canvas.getBoundingClientRect();
      if (!r.width || !r.height) return null;
      const x = Math.floor((e.clientX - r.left) * canvas.width / r.width);
      const y = Math.floor((e.clientY - r.top) * canvas.height / r.height);
      return {
        x: Math.max(0, Math.min(canvas.width - 1, x)),
        y: Math.max(0, Math.min(canvas.height - 1, y))
      };
    }

    function flushMove() {
      moveScheduled = false;
      const p = pendingMove;
      pendingMove = null;
      if (p && !(lastMove && lastMove.x === p.x && lastMove.y === p.y)) {
        send({ t: 'move', x: p.x, y: p.y });
        lastMove = p;
      }
    }

    function flushPasteKey() {
      if (pasteTimer) clearTimeout(pasteTimer);
      pasteTimer = null;
      if (pasteKey) {
        send({ t: 'key', code: pasteKey, down: true });
        pasteKey = null;
      }
    }

    // Key repeats are sent as further key downs: that is what a real
    // keyboard's typematic does, and the guest expects it.
    function onKey(e) {
      if (stopped || !e.code || e.isComposing) return;
      const down = e.type === 'keydown';
      if (down && e.code === 'KeyV' && (e.ctrlKey || e.metaKey) && !e.altKey) {
        // Let the browser fire 'paste' (preventDefault would cancel it).
        flushPasteKey();
        pasteKey = e.code;
        pasteTimer = setTimeout(flushPasteKey, PASTE_WAIT_MS);
        return;
      }
      e.preventDefault();
      if (!down && pasteKey === e.code) flushPasteKey();
      send({ t: 'key', code: e.code, down: down });
    }

    function onButton(e) {
      const b = e.button + 1;
      if (b < 1 || b > 3) return;
      if (e.type === 'mousedown') {
        if (e.target !== canvas) return;
        e.preventDefault();
        window.focus();
        pendingMove = toFramebuffer(e) || pendingMove;
        flushMove();
        pressedButtons[b] = true;
        send({ t: 'button', button: b, down: true });
      } else if (pressedButtons[b]) {
        // Listened on window: a drag that ends outside the canvas still releases.
        pendingMove = toFramebuffer(e) || pendingMove;
        flushMove();
        delete pressedButtons[b];
        send({ t: 'button', button: b, down: false });
      }
    }

    canvas.addEventListener('mousemove', function (e) {
      pendingMove = toFramebuffer(e);
      if (!moveScheduled) {
        moveScheduled = true;
        requestAnimationFrame(flushMove);
      }
    });
    window.addEventListener('mousemove', function (e) {
      if (e.target !== canvas && Object.keys(pressedButtons).length) {
        pendingMove = toFramebuffer(e);
        if (!moveScheduled) { moveScheduled = true; requestAnimationFrame(flushMove); }
      }
    });
    canvas.addEventListener('mousedown', onButton);
    window.addEventListener('mouseup', onButton);
    canvas.addEventListener('contextmenu', function (e) { e.preventDefault(); });
    canvas.addEventListener('wheel', function (e) {
      e.preventDefault();
      const notch = WHEEL_NOTCH[e.deltaMode] || 100;
      if ((wheelAcc < 0) !== (e.deltaY < 0)) wheelAcc = 0;   // direction change starts afresh
      wheelAcc += e.deltaY / notch;
      const n = wheelAcc < 0 ? Math.ceil(wheelAcc) : Math.floor(wheelAcc);
      if (n) {
        wheelAcc -= n;
        send({ t: 'wheel', dy: n });
      }
    }, { passive: false });
    window.addEventListener('keydown', onKey);
    window.addEventListener('keyup', onKey);
    window.addEventListener('blur', function () {
      releaseAll();
      send({ t: 'release' });
    });
    window.addEventListener('paste', function (e) {
      const text = e.clipboardData && e.clipboardData.getData('text/plain');
      e.preventDefault();
      if (text) send({ t: 'clipboard', text: text });
      flushPasteKey();
    });
    window.addEventListener('resize', function () {
      layout();
      if (resizeTimer) clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () {
        resizeTimer = null;
        if (v.agentResize) requestResize();
      }, RESIZE_DEBOUNCE_MS);
    });

    // Asks the guest for the window's size in device pixels, so that the
    // canvas maps one to one onto the screen.
    function requestResize() {
      const dpr = window.devicePixelRatio || 1;
      const w = Math.round(container.clientWidth * dpr), h = Math.round(container.clientHeight * dpr);
      if (w > 0 && h > 0) send({ t: 'resize', w: w, h: h });
    }

    function stop() {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      if (ws) ws.close();
    }

    showVeil('');
    connect();
    return v;
  }

  window.OpencloudViewer = { start: start };

  // <script src="viewer.js" data-autostart> starts full-window without an
  // inline script (so a strict Content-Security-Policy works).
  const me = document.currentScript;
  if (me && me.hasAttribute('data-autostart')) {
    if (document.readyState === 'loading') {
      document.addEventListener('DOMContentLoaded', function () { start(); });
    } else {
      start();
    }
  }
})();
