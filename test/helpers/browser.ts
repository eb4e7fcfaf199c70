/**
 * Shared headless-Chromium launcher for browser tests (Debian `chromium` driven by playwright-core).
 * `browserUnavailable()` says why a browser test must skip; tests print it via `t.log`/`test.skip`.
 */
import fs from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

/** A reason to skip browser tests, or undefined when Chromium is installed. */
export function browserUnavailable(executablePath = CHROMIUM_PATH): string | undefined {
  return fs.existsSync(executablePath)
    ? undefined
    : `browser test skipped: ${executablePath} not found (install the Debian \`chromium\` package)`;
}

export function launchChromium(executablePath = CHROMIUM_PATH): Promise<Browser> {
  return chromium.launch({ executablePath, args: [...CHROMIUM_ARGS], timeout: 30_000 });
}

/** Collects page errors and console errors so a test can assert the page ran cleanly. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return errors;
}
