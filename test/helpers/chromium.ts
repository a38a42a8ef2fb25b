/**
 * Headless Chromium (Debian package chromium) for the suites that render a page in a real browser: its
 * availability for `reportUnavailable`, and one run with a throw-away profile and no network chatter.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import type { ServerAvailability, ServerName } from '../conformance/servers/index.js';

export const CHROMIUM = '/usr/bin/chromium';

const run = promisify(execFile);

/** Whether Chromium can run here. */
export function chromiumAvailability(): ServerAvailability {
  return existsSync(CHROMIUM)
    ? { name: 'chromium' as ServerName, available: true }
    : {
        name: 'chromium' as ServerName,
        available: false,
        reason: `${CHROMIUM} not installed (chromium; run .ci/install-servers.sh as root)`,
      };
}

/** Runs headless Chromium with `args` (e.g. `--dump-dom URL`) and the profile directory `profile`; its stdout. */
export async function headlessChromium(args: string[], profile: string): Promise<string> {
  const flags = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    `--user-data-dir=${profile}`,
  ];
  const { stdout } = await run(CHROMIUM, [...flags, ...args], { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}
