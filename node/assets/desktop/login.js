// The sign-in page (docs/DESKTOP-API.md, "Sign-in"). The form works without
// this script (a plain post to {prefix}/login); with it, submit goes through
// the JSON API so errors, the captcha and waits show without a reload.
(function () {
  'use strict';

  const C = window.ocCommon;
  const P = C.prefix();
  const $ = function (id) { return document.getElementById(id); };

  const form = $('oc-login-form');
  const user = $('oc-username');
  const pass = $('oc-password');
  const errorBox = $('oc-login-error');
  const submit = $('oc-submit');
  const submitLabel = $('oc-submit-label');
  const captchaBox = $('oc-captcha');
  const captchaImg = $('oc-captcha-img');
  const captchaId = $('oc-captcha-id');
  const captchaAnswer = $('oc-captcha-answer');
  const captchaNew = $('oc-captcha-new');
  const reveal = $('oc-reveal');
  const caps = $('oc-caps');

  // Messages for the codes of the no-JavaScript fallback's redirect. Only
  // these fixed texts are shown: a link cannot put its own words here.
  const FALLBACK_ERRORS = {
    failed: 'Wrong username or password.',
    captcha: 'Please type the characters in the image as well.',
    wait: 'Too many attempts. Please wait a moment and try again.',
    unavailable: 'The company directory is not answering; try again shortly.'
  };

  let busy = false;
  let waitUntil = 0;
  let waitTimer = null;

  form.setAttribute('action', P + '/login');
  document.documentElement.className += ' oc-js';
  C.loadBranding('Sign in');

  function sentence(s) {
    s = String(s);
    s = s.charAt(0).toUpperCase() + s.slice(1);
    return /[.!?…]$/.test(s) ? s : s + '.';
  }

  function showError(text, level) {
    errorBox.textContent = text ? sentence(text) : '';
    errorBox.className = 'oc-alert' + (level === 'warning' ? ' oc-alert-warning' : '');
    errorBox.hidden = !text;
  }

  function setBusy(b) {
    busy = b;
    submit.className = 'oc-button oc-button-primary oc-submit' + (b ? ' oc-busy' : '');
    submit.setAttribute('aria-busy', b ? 'true' : 'false');
    refreshButton();
  }

  function refreshButton() {
    const left = Math.ceil((waitUntil - Date.now()) / 1000);
    if (left > 0) {
      submit.disabled = true;
      submitLabel.textContent = 'Wait ' + left + ' s';
    } else {
      submit.disabled = busy;
      submitLabel.textContent = busy ? 'Signing in\u2026' : 'Sign in';
    }
  }

  // 429: the button stays disabled and counts down the wait.
  function startWait(seconds) {
    waitUntil = Date.now() + Math.max(1, seconds) * 1000;
    if (waitTimer) clearInterval(waitTimer);
    waitTimer = setInterval(function () {
      refreshButton();
      if (Date.now() >= waitUntil) {
        clearInterval(waitTimer);
        waitTimer = null;
        showError('');
        user.focus();
      }
    }, 250);
    refreshButton();
  }

  function showCaptcha(c) {
    captchaBox.hidden = false;
    captchaAnswer.value = '';
    captchaAnswer.required = true;
    if (c && typeof c.id === 'string' && C.safeImageUrl(c.image_url)) {
      captchaId.value = c.id;
      captchaImg.src = c.image_url;
    } else {
      newCaptcha();
    }
  }

  function newCaptcha() {
    captchaNew.disabled = true;
    return C.request('POST', P + '/api/v1/captcha').then(function (res) {
      captchaNew.disabled = false;
      if (res.status === 200 && res.body && typeof res.body.id === 'string' && C.safeImageUrl(res.body.image_url)) {
        captchaId.value = res.body.id;
        captchaImg.src = res.body.image_url;
        captchaAnswer.value = '';
      } else {
        showError(C.errorText(res, 'a new image could not be loaded'));
      }
    }, function (e) {
      captchaNew.disabled = false;
      showError(e.message);
    });
  }

  captchaNew.addEventListener('click', function () {
    newCaptcha().then(function () { captchaAnswer.focus(); });
  });

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (busy || Date.now() < waitUntil) return;
    const username = user.value.trim();
    if (!username) { showError('Please enter your user name.'); user.focus(); return; }
    if (!pass.value) { showError('Please enter your password.'); pass.focus(); return; }
    const body = { username: username, password: pass.value };
    if (!captchaBox.hidden) {
      if (!captchaAnswer.value.trim()) {
        showError('Please type the characters in the image.');
        captchaAnswer.focus();
        return;
      }
      body.captcha = { id: captchaId.value, answer: captchaAnswer.value.trim() };
    }
    setBusy(true);
    showError('');
    C.request('POST', P + '/api/v1/login', body).then(function (res) {
      if (res.status === 200) {
        submitLabel.textContent = 'Opening your desktop\u2026';
        location.assign(P + '/');
        return;
      }
      setBusy(false);
      const b = res.body || {};
      if (res.status === 429) {
        showError(C.errorText(res, 'too many attempts'), 'warning');
        startWait(typeof b.retry_after_s === 'number' ? b.retry_after_s : 30);
        return;
      }
      if (res.status === 503) {
        showError(C.errorText(res, 'the company directory is not answering; try again shortly'), 'warning');
        return;
      }
      showError(C.errorText(res, res.status === 401 ? 'wrong username or password' : null));
      if (b.captcha_required) showCaptcha(b.captcha);
      if (res.status === 401) {
        const captchaWrong = b.captcha_wrong === true;
        if (!captchaWrong) pass.value = '';
        (captchaWrong ? captchaAnswer : pass).focus();
      }
    }, function (e) {
      setBusy(false);
      showError(e.message + '; check your connection and try again', 'warning');
    });
  });

  // Password reveal and a Caps Lock hint: small things that save a failed
  // attempt (and, after three, a captcha).
  reveal.hidden = false;
  reveal.addEventListener('click', function () {
    const show = pass.type === 'password';
    pass.type = show ? 'text' : 'password';
    reveal.textContent = show ? 'Hide' : 'Show';
    reveal.setAttribute('aria-pressed', show ? 'true' : 'false');
    reveal.setAttribute('aria-label', show ? 'Hide password' : 'Show password');
    pass.focus();
  });
  function capsCheck(ev) {
    if (ev.getModifierState) caps.hidden = !ev.getModifierState('CapsLock');
  }
  pass.addEventListener('keydown', capsCheck);
  pass.addEventListener('keyup', capsCheck);
  pass.addEventListener('blur', function () { caps.hidden = true; });

  const code = C.queryParam('error');
  if (code && Object.prototype.hasOwnProperty.call(FALLBACK_ERRORS, code)) {
    showError(FALLBACK_ERRORS[code], code === 'failed' ? null : 'warning');
    if (code === 'captcha') showCaptcha(null);
  }

  window.ocLogin = {
    get captcha() { return !captchaBox.hidden; },
    get captchaId() { return captchaId.value; },
    get error() { return errorBox.hidden ? null : errorBox.textContent; },
    get waiting() { return Math.max(0, Math.ceil((waitUntil - Date.now()) / 1000)); }
  };
})();
