// Shared by the browser test scripts: starts Debian's chromium through
// playwright-core (which never downloads a browser of its own).
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.OC_CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',                // tests run as root
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--ignore-certificate-errors', // nodes use self-signed certificates in tests
  '--disable-dev-shm-usage',     // /dev/shm may be small in containers
  // A hidden/occluded page must still draw and run timers at full speed.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
  // sRGB output so canvas readback equals the decoded image bytes.
  '--force-color-profile=srgb',
];

// Returns { browser, context, page, close() }. Playwright gives every launch a
// fresh temporary profile and removes it on close.
export async function launch({ viewport = { width: 1024, height: 768 }, headless = true } = {}) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless,
    args: CHROMIUM_ARGS,
  });
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport,
    deviceScaleFactor: 1,
  });
  const page = await context.newPage();
  return {
    browser,
    context,
    page,
    close: async () => {
      await context.close().catch(() => {});
      await browser.close().catch(() => {});
    },
  };
}

export function log(...args) {
  process.stderr.write(`[browser] ${args.join(' ')}\n`);
}
