/**
 * Importing the package root loads only what every caller needs: never node:tls (issue 11 shape;
 * shared/DESIGN.md "Importing smtpwire must not load node:tls").
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('the package root', () => {
  it('does not load node:tls when imported', () => {
    const script =
      "await import('./src/index.ts'); console.log(JSON.stringify(process.moduleLoadList.filter((m) => /\\btls\\b|_tls_/.test(m))))";
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.trim().split('\n').pop()!)).toEqual([]);
  });
});
