/**
 * Types (issue 21): a typed nodemailer program compiles unchanged against smtpwire/nodemailer's
 * types (no @types/nodemailer, no nodemailer types at all), and every subpath of the package has a
 * `typesVersions` entry, so it resolves under TypeScript 5's `moduleResolution: "node"` as well.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const FIXTURE = join(ROOT, 'fixtures', 'nodemailer-types');

function tsc(project: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TSC, '-p', project], { cwd: FIXTURE, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, out: `${stdout}${stderr}` });
    });
  });
}

describe('nodemailer-compatible types', () => {
  it('nodemailer-style typed program compiles with "nodemailer" mapped to smtpwire/nodemailer', async () => {
    const r = await tsc('tsconfig.json');
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  }, 120_000);

  it('the same program compiles against nodemailer 10.6 itself (it is genuine nodemailer usage)', async () => {
    const r = await tsc('tsconfig.nodemailer.json');
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  }, 120_000);

  it('typesVersions maps every exported subpath to the types file its export names', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      exports: Record<string, { types?: string } | string>;
      typesVersions: Record<string, Record<string, string[]>>;
    };
    const map = pkg.typesVersions['*']!;
    const subpaths = Object.entries(pkg.exports).filter(([k]) => k !== '.' && k !== './package.json');
    expect(subpaths.length).toBeGreaterThan(3);
    for (const [subpath, entry] of subpaths) {
      const types = typeof entry === 'string' ? entry : entry.types;
      expect(map[subpath.slice(2)], subpath).toEqual([types!.replace(/^\.\//, '')]);
    }
  });
});
