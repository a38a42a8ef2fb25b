/**
 * What a conformance file registers for a real server that cannot run here (issue 7: skip loudly,
 * never silently; under CI, `realServersRequired()`, fail instead). One place for both files.
 */
import { it } from 'vitest';
import { realServersRequired, type ServerAvailability, unavailableBanner } from './servers/index.js';

export function reportUnavailable(entry: ServerAvailability<string>): void {
  it(`${entry.name} can run on this machine`, (ctx) => {
    console.warn(unavailableBanner(entry));
    if (realServersRequired()) throw new Error(`${entry.name} is required here but unavailable: ${entry.reason}`);
    // Conditional, at run time, with the banner above: the only skip in the suite.
    ctx.skip(`${entry.name} unavailable: ${entry.reason}`);
  });
}
