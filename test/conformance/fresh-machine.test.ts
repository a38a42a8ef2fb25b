/**
 * A machine with nothing but Node (issue 13): the real-server suite whose independent client (swaks)
 * is missing must skip with the loud banner, and fail when real servers are required (CI).
 * Runs that suite in a child vitest with swaks pointed at a missing file. The whole no-server path is
 * also proven by hand with /work/shared/tools/nothing-but-node.sh (README, Development).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const VITEST = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');

function suite(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const base = Object.fromEntries(
      Object.entries(process.env).filter(
        ([k]) => k !== 'CI' && k !== 'SMTPWIRE_REQUIRE_REAL_SERVERS' && !k.startsWith('VITEST'),
      ),
    );
    const child = spawn(process.execPath, [VITEST, 'run', 'test/conformance/servers.test.ts'], {
      cwd: ROOT,
      env: { ...base, SMTPWIRE_SWAKS: '/nonexistent/swaks', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out }));
  });
}

describe('without swaks', () => {
  it('skips loudly outside CI and fails when real servers are required', async () => {
    const [relaxed, strict] = await Promise.all([suite({}), suite({ SMTPWIRE_REQUIRE_REAL_SERVERS: '1' })]);
    expect(relaxed.out).toContain('IS NOT AVAILABLE, ITS TESTS ARE SKIPPED');
    expect(relaxed.out).toContain('/nonexistent/swaks (the independent client of these checks) is missing');
    expect(relaxed.out).not.toContain('is missing: run .ci/install-servers.sh as root\n    at');
    expect(relaxed.code, relaxed.out).toBe(0);
    expect(strict.code).not.toBe(0);
    expect(strict.out).toMatch(/is required here but unavailable/);
  }, 60_000);
});
