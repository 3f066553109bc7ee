// Shared by the sign-in page and the desktop (docs/DESKTOP-API.md): the
// tenant prefix, JSON requests, and branding. Plain ES2015 with no
// dependencies: the node serves this file as is, and it must run in old
// browsers. Nothing here writes HTML: text always goes in with textContent.
(function () {
  'use strict';

  const DEFAULT_LOGO = '/assets/desktop/opencloud.svg';

  // "/t/acme/login" -> "/t/acme"; "/login" (a tenant's own host name) -> "".
  function prefix() {
    const m = /^\/t\/([a-z0-9-]+)(\/|$)/.exec(location.pathname);
    return m ? '/t/' + m[1] : '';
  }

  // Resolves { status, body } for any answer (body is the parsed JSON or
  // null); rejects only when the server could not be reached. XMLHttpRequest
  // rather than fetch: it exists in every browser that runs ES2015.
  function request(method, path, body) {
    return new Promise(function (resolve, reject) {
      const xhr = new XMLHttpRequest();
      xhr.open(method, path, true);
      xhr.setRequestHeader('Accept', 'application/json');
      if (body !== undefined) xhr.setRequestHeader('Content-Type', 'application/json');
      xhr.timeout = 120000;
      xhr.onload = function () {
        let parsed = null;
        if (xhr.responseText) {
          try { parsed = JSON.parse(xhr.responseText); } catch (e) { parsed = null; }
        }
        resolve({ status: xhr.status, body: parsed });
      };
      xhr.onerror = function () { reject(new Error('the server could not be reached')); };
      xhr.ontimeout = function () { reject(new Error('the server did not answer in time')); };
      xhr.send(body === undefined ? null : JSON.stringify(body));
    });
  }

  // The message to show for a failed answer.
  function errorText(res, fallback) {
    if (res && res.body && typeof res.body.error === 'string' && res.body.error) return res.body.error;
    return fallback || 'something went wrong (' + (res ? res.status : 'no answer') + ')';
  }

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // ---- colours ----

  function parseColor(s) {
    if (typeof s !== 'string') return null;
    let m = /^#([0-9a-f])([0-9a-f])([0-9a-f])$/i.exec(s);
    if (m) return [m[1], m[2], m[3]].map(function (h) { return parseInt(h + h, 16); });
    m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(s);
    if (m) return [m[1], m[2], m[3]].map(function (h) { return parseInt(h, 16); });
    return null;
  }

  function hex(c) {
    return '#' + c.map(function (v) {
      const s = Math.round(Math.max(0, Math.min(255, v))).toString(16);
      return s.length < 2 ? '0' + s : s;
    }).join('');
  }

  function mix(a, b, t) {
    return [0, 1, 2].map(function (i) { return a[i] + (b[i] - a[i]) * t; });
  }

  function rgba(c, alpha) {
    return 'rgba(' + c.map(Math.round).join(',') + ',' + alpha + ')';
  }

  // WCAG relative luminance, to pick readable text on the primary colour.
  function luminance(c) {
    const l = c.map(function (v) {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
  }

  // Sets the brand colours and the shades derived from them, so panels,
  // borders and hovers follow a light or a dark brand alike.
  function applyColors(colors) {
    const root = document.documentElement.style;
    const cur = getComputedStyle(document.documentElement);
    const primary = parseColor(colors && colors.primary) || parseColor(cur.getPropertyValue('--primary').trim()) || [31, 111, 235];
    const bg = parseColor(colors && colors.background) || parseColor(cur.getPropertyValue('--background').trim()) || [13, 17, 23];
    const text = parseColor(colors && colors.text) || parseColor(cur.getPropertyValue('--text').trim()) || [230, 237, 243];
    const dark = luminance(bg) < 0.4;
    root.setProperty('--primary', hex(primary));
    root.setProperty('--background', hex(bg));
    root.setProperty('--text', hex(text));
    root.setProperty('--primary-text', luminance(primary) > 0.45 ? '#111111' : '#ffffff');
    root.setProperty('--primary-hover', hex(mix(primary, dark ? [255, 255, 255] : [0, 0, 0], 0.14)));
    root.setProperty('--primary-soft', rgba(primary, 0.22));
    root.setProperty('--surface', hex(mix(bg, text, 0.05)));
    root.setProperty('--surface-2', hex(mix(bg, text, 0.1)));
    root.setProperty('--surface-glass', rgba(mix(bg, text, 0.04), 0.86));
    root.setProperty('--border', rgba(text, 0.14));
    root.setProperty('--muted', rgba(text, 0.68));
    root.setProperty('--hover', rgba(text, 0.09));
    root.setProperty('--shadow', dark ? 'rgba(0,0,0,0.55)' : 'rgba(0,0,0,0.22)');
    document.documentElement.className = document.documentElement.className.replace(/\boc-(dark|light)\b/g, '') +
      (dark ? ' oc-dark' : ' oc-light');
  }

  // A URL for CSS url("..."): only same-origin paths and http(s) URLs, with
  // quotes and backslashes escaped so nothing breaks out of the string.
  function cssUrl(u) {
    if (typeof u !== 'string' || !/^(\/(?!\/)|https?:\/\/)/i.test(u)) return null;
    return 'url("' + u.replace(/["\\\n\r]/g, function (c) { return '\\' + c.charCodeAt(0).toString(16) + ' '; }) + '")';
  }

  function safeImageUrl(u) {
    return typeof u === 'string' && /^(\/(?!\/)|https?:\/\/)/i.test(u) ? u : null;
  }

  // Fetches the branding and applies what every page shares. Resolves the
  // branding (Opencloud defaults when the request fails) for page specifics.
  function loadBranding(titleSuffix) {
    const fallback = { product_name: 'Opencloud', colors: null, logo_url: null, wallpaper_url: null };
    return request('GET', prefix() + '/api/v1/branding').then(function (res) {
      return res.status === 200 && res.body && typeof res.body === 'object' ? res.body : fallback;
    }, function () { return fallback; }).then(function (b) {
      const name = typeof b.product_name === 'string' && b.product_name ? b.product_name : 'Opencloud';
      const brand = {
        name: name,
        logo: safeImageUrl(b.logo_url) || DEFAULT_LOGO,
        wallpaper: cssUrl(b.wallpaper_url)
      };
      applyColors(b.colors);
      document.title = titleSuffix ? name + ' \u2013 ' + titleSuffix : name;
      const names = document.querySelectorAll('.oc-product-name');
      for (let i = 0; i < names.length; i++) names[i].textContent = name;
      const logos = document.querySelectorAll('img.oc-logo');
      for (let i = 0; i < logos.length; i++) {
        logos[i].onerror = function () { this.onerror = null; this.src = DEFAULT_LOGO; };
        logos[i].src = brand.logo;
      }
      const walls = document.querySelectorAll('.oc-wallpaper');
      for (let i = 0; i < walls.length; i++) {
        if (brand.wallpaper) {
          walls[i].style.backgroundImage = brand.wallpaper;
          walls[i].className += ' oc-has-wallpaper';
        }
      }
      document.documentElement.className += ' oc-branded';
      return brand;
    });
  }

  // Query parameter without URLSearchParams (missing in some old browsers).
  function queryParam(name) {
    const parts = location.search.replace(/^\?/, '').split('&');
    for (let i = 0; i < parts.length; i++) {
      const kv = parts[i].split('=');
      if (decodeURIComponent(kv[0]) === name) return kv.length > 1 ? decodeURIComponent(kv.slice(1).join('=').replace(/\+/g, ' ')) : '';
    }
    return null;
  }

  window.ocCommon = {
    prefix: prefix, request: request, errorText: errorText, el: el, loadBranding: loadBranding,
    applyColors: applyColors, cssUrl: cssUrl, safeImageUrl: safeImageUrl, queryParam: queryParam,
    parseColor: parseColor, DEFAULT_LOGO: DEFAULT_LOGO
  };
})();
