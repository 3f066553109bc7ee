// The desktop's events websocket (docs/DESKTOP-API.md, "Events websocket"):
// presence pings, the node's pushes, and reconnection with backoff. No DOM:
// desktop.js shows the veil and the notifications through the callbacks.
// Plain ES2015, no dependencies.
(function () {
  'use strict';

  // opts: url; pingMs, pongGraceMs, backoffMinMs, backoffMaxMs;
  // lost(bool): the connection is lost (true) or answering again (false);
  // message(m): any other message from the node; sessionGone(): the node
  // ended the session (4401, or 401 on a reconnect); checkSession():
  // a promise of true when the session is gone (asked after an upgrade that
  // failed, since a browser cannot see the status of a refused upgrade).
  function create(opts) {
    const st = { connected: false, lost: false, pings: 0, pongs: 0 };
    let ws = null, missed = 0, backoff = opts.backoffMinMs, retry = null, grace = null, stopped = false;

    function setLost(on) {
      if (on === st.lost) return;
      st.lost = on;
      opts.lost(on);
    }

    function connect() {
      retry = null;
      if (stopped) return;
      let opened = false;
      let sock;
      try { sock = new WebSocket(opts.url); } catch (e) { lost(false); return; }
      ws = sock;
      missed = 0;
      sock.onopen = function () { opened = true; ping(); };
      sock.onmessage = function (ev) {
        if (sock !== ws || typeof ev.data !== 'string') return;
        let m;
        try { m = JSON.parse(ev.data); } catch (e) { return; }
        if (!m || typeof m !== 'object') return;
        if (m.t === 'pong') {
          st.pongs++;
          missed = 0;
          backoff = opts.backoffMinMs;
          st.connected = true;
          setLost(false);
        } else if (m.t === 'signed_out') {
          stop();
          opts.sessionGone();
        } else opts.message(m);
      };
      sock.onclose = function (ev) {
        if (sock !== ws) return;
        ws = null;
        if (ev.code === 4401) { stop(); opts.sessionGone(); return; }
        lost(!opened);
      };
    }

    function ping() {
      if (!ws || ws.readyState !== 1) return;
      ws.send(JSON.stringify({ t: 'ping' }));
      st.pings++;
      missed++;
      if (grace) clearTimeout(grace);
      grace = missed >= 2 ? setTimeout(function () { if (missed >= 2 && ws) drop(); }, opts.pongGraceMs) : null;
    }

    // Two pings without a pong: the socket may be half dead (its closing
    // handshake could hang), so it is dropped without waiting and replaced.
    function drop() {
      const sock = ws;
      ws = null;
      if (sock) {
        sock.onclose = sock.onmessage = sock.onopen = null;
        try { sock.close(4000, 'no pong'); } catch (e) { /* already closing */ }
      }
      lost(false);
    }

    function lost(neverOpened) {
      st.connected = false;
      if (stopped) return;
      setLost(true);
      if (grace) { clearTimeout(grace); grace = null; }
      const schedule = function () {
        if (stopped || retry) return;
        retry = setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, opts.backoffMaxMs);
      };
      if (neverOpened) {
        opts.checkSession().then(function (gone) {
          if (!gone) schedule();
          else if (!stopped) { stop(); opts.sessionGone(); }
        }, schedule);
      } else schedule();
    }

    function stop() {
      stopped = true;
      const sock = ws;
      ws = null;
      if (retry) { clearTimeout(retry); retry = null; }
      if (grace) { clearTimeout(grace); grace = null; }
      clearInterval(timer);
      st.connected = false;
      if (sock) {
        sock.onclose = sock.onmessage = null;
        try { sock.close(1000); } catch (e) { /* ignore */ }
      }
    }

    const timer = setInterval(function () {
      if (!ws || ws.readyState !== 1) return;
      if (missed >= 2) drop(); else ping();
    }, opts.pingMs);

    connect();
    return { state: st, stop: stop };
  }

  window.ocEvents = { create: create };
})();
