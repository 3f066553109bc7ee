// The desktop's window manager: open, move, resize, minimise, maximise,
// focus (z-order) and close windows inside the desktop area. It knows nothing
// of apps: desktop.js fills a window's body. Plain ES2015, no dependencies.
(function () {
  'use strict';

  const MIN_W = 320, MIN_H = 200;
  const KEY_STEP = 20;            // px per arrow key on a focused title bar
  const CASCADE = 28;             // px between windows opened one after another
  const DRAG_SLOP = 4;            // px before dragging a maximised window restores it

  const hasPointer = typeof window.PointerEvent === 'function';
  const EV = hasPointer
    ? { down: 'pointerdown', move: 'pointermove', up: 'pointerup', cancel: 'pointercancel' }
    : { down: 'mousedown', move: 'mousemove', up: 'mouseup', cancel: 'mouseleave' };

  function el(tag, className, text) { return window.ocCommon.el(tag, className, text); }
  function clamp(v, lo, hi) { return Math.max(lo, Math.min(hi, v)); }

  // area: the element windows live in (position: relative, the desktop above
  // the taskbar). hooks.change(): called after anything a taskbar shows
  // changed. hooks.empty(): focus has nowhere to go (last window gone).
  function createWM(area, hooks) {
    const wins = [];
    let zTop = 10;
    let nextId = 1;
    let opened = 0;
    let focused = null;

    function size() { return { W: area.clientWidth, H: area.clientHeight }; }
    function changed() { if (hooks.change) hooks.change(); }

    // Keeps a window's normal geometry inside the area and at least the
    // minimum size (or the area, when the area is smaller than that).
    function fit(win) {
      const s = size();
      const minW = Math.min(MIN_W, s.W), minH = Math.min(MIN_H, s.H);
      win.w = clamp(Math.round(win.w), minW, Math.max(minW, s.W));
      win.h = clamp(Math.round(win.h), minH, Math.max(minH, s.H));
      win.x = clamp(Math.round(win.x), 0, Math.max(0, s.W - win.w));
      win.y = clamp(Math.round(win.y), 0, Math.max(0, s.H - win.h));
    }

    // The box on screen: the whole area when maximised.
    function box(win) {
      if (win.maximized) { const s = size(); return { x: 0, y: 0, w: s.W, h: s.H }; }
      return { x: win.x, y: win.y, w: win.w, h: win.h };
    }

    function place(win) {
      const b = box(win);
      const st = win.el.style;
      st.left = b.x + 'px';
      st.top = b.y + 'px';
      st.width = b.w + 'px';
      st.height = b.h + 'px';
      st.zIndex = String(win.z);
      win.el.hidden = win.minimized;
      win.el.className = 'oc-window' + (win.maximized ? ' oc-max' : '') + (win === focused ? ' oc-focused' : '');
      win.maxButton.setAttribute('aria-label', win.maximized ? 'Restore' : 'Maximise');
      win.maxButton.title = win.maximized ? 'Restore' : 'Maximise';
    }

    function top() {
      let best = null;
      for (let i = 0; i < wins.length; i++) {
        if (!wins[i].minimized && (!best || wins[i].z > best.z)) best = wins[i];
      }
      return best;
    }

    function focus(win, opts) {
      if (!win) return;
      if (win.minimized) win.minimized = false;
      const prev = focused;
      focused = win;
      if (win.z !== zTop) win.z = ++zTop;
      if (prev && prev !== win) place(prev);
      place(win);
      if (opts && opts.dom) win.titleBar.focus();
      changed();
    }

    // After a window leaves the screen, focus goes to the next one down, so
    // keyboard users are not dropped on <body>.
    function refocus(leaving) {
      const hadFocus = leaving.el.contains(document.activeElement) || document.activeElement === document.body;
      if (focused === leaving) focused = null;
      const next = top();
      if (next) focus(next, { dom: hadFocus });
      else { changed(); if (hadFocus && hooks.empty) hooks.empty(); }
    }

    function minimize(win) {
      if (win.minimized) return;
      win.minimized = true;
      place(win);
      refocus(win);
    }

    function toggleMax(win) {
      win.maximized = !win.maximized;
      fit(win);
      focus(win);
    }

    function close(win) {
      const i = wins.indexOf(win);
      if (i < 0) return;
      wins.splice(i, 1);
      if (win.onClose) win.onClose();
      win.el.parentNode.removeChild(win.el);
      refocus(win);
    }

    // Pointer drags on the title bar (move) and on the edges (resize). The
    // class on the area lets CSS switch off pointer events on iframes, which
    // would otherwise swallow the moves.
    function drag(handle, onStart, onMove) {
      handle.addEventListener(EV.down, function (ev) {
        if (ev.button !== undefined && ev.button !== 0) return;
        if (ev.target.closest && ev.target.closest('button')) return;
        const ctx = onStart(ev);
        if (!ctx) return;
        ev.preventDefault();
        const x0 = ev.clientX, y0 = ev.clientY;
        area.className += ' oc-dragging';
        function move(e) { onMove(ctx, e.clientX - x0, e.clientY - y0, e); }
        function up() {
          document.removeEventListener(EV.move, move);
          document.removeEventListener(EV.up, up);
          document.removeEventListener(EV.cancel, up);
          area.className = area.className.replace(/\s*oc-dragging/g, '');
          changed();
        }
        document.addEventListener(EV.move, move);
        document.addEventListener(EV.up, up);
        document.addEventListener(EV.cancel, up);
      });
    }

    function makeDraggable(win) {
      drag(win.titleBar, function (ev) {
        focus(win);
        return { x: win.x, y: win.y, max: win.maximized, ev: ev };
      }, function (ctx, dx, dy, e) {
        if (ctx.max) {
          if (Math.abs(dx) + Math.abs(dy) < DRAG_SLOP) return;
          // Leave maximised under the pointer, at the same relative spot.
          const s = size();
          const frac = ctx.ev.clientX / Math.max(1, s.W);
          win.maximized = false;
          ctx.max = false;
          const r = area.getBoundingClientRect();
          ctx.x = ctx.ev.clientX - r.left - win.w * frac;
          ctx.y = 0;
        }
        win.x = ctx.x + dx;
        win.y = ctx.y + dy;
        fit(win);
        place(win);
      });
    }

    function makeResizable(win) {
      const dirs = ['n', 's', 'e', 'w', 'ne', 'nw', 'se', 'sw'];
      for (let i = 0; i < dirs.length; i++) {
        const d = dirs[i];
        const h = win.el.appendChild(el('div', 'oc-resize oc-resize-' + d));
        h.setAttribute('data-dir', d);
        h.setAttribute('aria-hidden', 'true');
        drag(h, function () {
          if (win.maximized) return null;
          focus(win);
          return { x: win.x, y: win.y, w: win.w, h: win.h };
        }, function (c, dx, dy) {
          const s = size();
          const minW = Math.min(MIN_W, s.W), minH = Math.min(MIN_H, s.H);
          if (d.indexOf('e') >= 0) win.w = clamp(c.w + dx, minW, s.W - c.x);
          if (d.indexOf('s') >= 0) win.h = clamp(c.h + dy, minH, s.H - c.y);
          if (d.indexOf('w') >= 0) {
            const right = c.x + c.w;
            win.x = clamp(c.x + dx, 0, right - minW);
            win.w = right - win.x;
          }
          if (d.indexOf('n') >= 0) {
            const bottom = c.y + c.h;
            win.y = clamp(c.y + dy, 0, bottom - minH);
            win.h = bottom - win.y;
          }
          place(win);
        });
      }
    }

    function titleButton(cls, label, onClick) {
      const b = el('button', 'oc-wbtn ' + cls);
      b.type = 'button';
      b.title = label;
      b.setAttribute('aria-label', label);
      b.appendChild(el('span', 'oc-glyph')).setAttribute('aria-hidden', 'true');
      b.addEventListener('click', function (ev) { ev.stopPropagation(); onClick(); });
      return b;
    }

    // opts: app (id), title, icon (an element for the title bar), w, h,
    // keyboard (opened from the keyboard: the title bar takes the focus).
    // Returns the window; its .body is for the caller to fill.
    function open(opts) {
      const s = size();
      const id = 'w' + nextId++;
      const win = {
        id: id, app: opts.app, title: opts.title, minimized: false, maximized: false,
        w: opts.w || Math.min(880, s.W - 80), h: opts.h || Math.min(580, s.H - 60),
        x: 0, y: 0, z: ++zTop, onClose: null
      };
      // Cascade from the middle of the room right of the desktop icons (or
      // of the whole area when the window does not fit beside them).
      const k = opened++ % 6;
      const left = hooks.reserveLeft && s.W - hooks.reserveLeft() >= win.w + 2 * CASCADE ? hooks.reserveLeft() : 0;
      win.x = left + Math.round((s.W - left - win.w) / 2) + (k - 1) * CASCADE;
      win.y = Math.round((s.H - win.h) / 2) + (k - 1) * CASCADE;
      win.el = el('section', 'oc-window');
      win.el.id = 'oc-' + id;
      win.el.setAttribute('role', 'dialog');
      win.el.setAttribute('aria-labelledby', 'oc-' + id + '-title');
      win.el.setAttribute('data-app', opts.app);
      win.titleBar = win.el.appendChild(el('div', 'oc-titlebar'));
      win.titleBar.tabIndex = 0;
      win.titleBar.setAttribute('aria-label', opts.title + ' window: arrow keys move, Shift+arrows resize, Enter maximises');
      if (opts.icon) win.titleBar.appendChild(opts.icon).className += ' oc-title-icon';
      const t = win.titleBar.appendChild(el('span', 'oc-title', opts.title));
      t.id = 'oc-' + id + '-title';
      const buttons = win.titleBar.appendChild(el('div', 'oc-wbtns'));
      buttons.appendChild(titleButton('oc-wbtn-min', 'Minimise', function () { minimize(win); }));
      win.maxButton = buttons.appendChild(titleButton('oc-wbtn-max', 'Maximise', function () { toggleMax(win); }));
      buttons.appendChild(titleButton('oc-wbtn-close', 'Close', function () { close(win); }));
      win.body = win.el.appendChild(el('div', 'oc-wbody'));

      win.titleBar.addEventListener('dblclick', function (ev) {
        if (!(ev.target.closest && ev.target.closest('button'))) toggleMax(win);
      });
      win.titleBar.addEventListener('keydown', function (ev) { titleKey(win, ev); });
      // Capture: a click anywhere in the window raises it before the
      // control that was clicked reacts.
      win.el.addEventListener(EV.down, function () { if (focused !== win) focus(win); }, true);
      win.el.addEventListener('focusin', function () { if (focused !== win) focus(win); });
      makeDraggable(win);
      makeResizable(win);
      fit(win);
      wins.push(win);
      area.appendChild(win.el);
      focus(win, { dom: !!opts.keyboard });
      return win;
    }

    function titleKey(win, ev) {
      if (ev.target !== win.titleBar) return;
      const k = ev.key;
      if (k === 'Enter' || k === ' ' || k === 'Spacebar') { ev.preventDefault(); toggleMax(win); return; }
      const dx = k === 'ArrowLeft' || k === 'Left' ? -1 : k === 'ArrowRight' || k === 'Right' ? 1 : 0;
      const dy = k === 'ArrowUp' || k === 'Up' ? -1 : k === 'ArrowDown' || k === 'Down' ? 1 : 0;
      if (!dx && !dy) return;
      ev.preventDefault();
      if (win.maximized) return;
      if (ev.shiftKey) { win.w += dx * KEY_STEP; win.h += dy * KEY_STEP; } else { win.x += dx * KEY_STEP; win.y += dy * KEY_STEP; }
      fit(win);
      place(win);
      changed();
    }

    // A click inside an iframe never reaches this document; the page losing
    // focus to one of our iframes is the sign that its window was clicked.
    window.addEventListener('blur', function () {
      setTimeout(function () {
        const a = document.activeElement;
        if (!a || a.tagName !== 'IFRAME') return;
        for (let i = 0; i < wins.length; i++) {
          if (wins[i].el.contains(a) && focused !== wins[i]) focus(wins[i]);
        }
      }, 0);
    });

    window.addEventListener('resize', function () {
      for (let i = 0; i < wins.length; i++) { fit(wins[i]); place(wins[i]); }
      changed();
    });

    function state(win) {
      const b = box(win);
      return {
        id: win.id, app: win.app, title: win.title, minimized: win.minimized, maximized: win.maximized,
        x: b.x, y: b.y, w: b.w, h: b.h, z: win.z, focused: win === focused
      };
    }

    return {
      open: open, focus: focus, minimize: minimize, toggleMax: toggleMax, close: close,
      list: function () { return wins.slice(); },
      focused: function () { return focused; },
      byApp: function (app) {
        for (let i = 0; i < wins.length; i++) if (wins[i].app === app) return wins[i];
        return null;
      },
      state: function () { return wins.map(state); },
      MIN_W: MIN_W, MIN_H: MIN_H
    };
  }

  window.ocWM = { create: createWM };
})();
