// Debian's Chromium driven by playwright-core. Never downloads a browser; every page
// records console errors, page errors, CSP violations and dialogs for the tests to check.
import { chromium } from 'playwright-core';
import { existsSync } from 'node:fs';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-default-apps', '--disable-extensions', '--mute-audio',
];

// extraArgs: more Chromium flags (the TLS test maps a name to the loopback and accepts
// its self-signed certificate).
export async function launchBrowser({ extraArgs = [] } = {}) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  // playwright gives every launch a fresh, empty --user-data-dir of its own.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...FLAGS, ...extraArgs], timeout: 60000 });
}

// A page in its own context (its own storage, like a separate person's browser).
// Returns { context, page, events } where events collects what went wrong.
export async function openPage(browser, { viewport = { width: 1280, height: 800 }, bypassCSP = false, colorScheme = 'light' } = {}) {
  const context = await browser.newContext({ viewport, bypassCSP, colorScheme, serviceWorkers: 'block' });
  const events = { console: [], pageErrors: [], csp: [], dialogs: [], requests: [], wsSent: [], wsReceived: [], wsUrls: [] };
  await context.exposeBinding('__reportCsp', (_src, v) => events.csp.push(v));
  // Runs before the page's own scripts and outside its CSP; only reports.
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__reportCsp({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample, source: e.sourceFile, line: e.lineNumber });
    }, true);
  });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') events.console.push(`${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => events.pageErrors.push(String(e && e.stack || e)));
  // A leave warning is accepted (the test meant to leave); anything else is refused.
  page.on('dialog', (d) => {
    events.dialogs.push(`${d.type()}: ${d.message()}`);
    (d.type() === 'beforeunload' ? d.accept() : d.dismiss()).catch(() => {});
  });
  page.on('request', (r) => events.requests.push(r.url()));
  page.on('websocket', (ws) => {
    events.wsUrls.push(ws.url());
    ws.on('framesent', (f) => events.wsSent.push(String(f.payload)));
    ws.on('framereceived', (f) => events.wsReceived.push(String(f.payload)));
  });
  return { context, page, events };
}
