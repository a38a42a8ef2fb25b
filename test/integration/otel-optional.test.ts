/**
 * `@opentelemetry/api` is an optional peer: `import 'smtpwire'` never loads it, nor does importing
 * `smtpwire/otel`; only `instrument()` does, and without the package it rejects with a typed error.
 * Run in a child process whose module resolution refuses every `@opentelemetry/*` specifier.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const script = `
const smtpwire = await import(${JSON.stringify(join(root, 'src/index.ts'))});
const h = new smtpwire.SmtpProtocolHandler({ hostname: '127.0.0.1', port: 9, encryption: 'none' });
await h.close();
const otel = await import(${JSON.stringify(join(root, 'src/otel/index.ts'))});
try {
  await otel.instrument();
  console.log('instrument: resolved');
} catch (err) {
  console.log('instrument:', err.code, String(err.cause?.message ?? ''));
}
`;

function run(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--import', join(root, 'test/helpers/deny-otel.mjs'), '--input-type=module', '-e', script],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the OpenTelemetry peer is optional', () => {
  it('importing smtpwire and smtpwire/otel loads no @opentelemetry module; instrument() names the missing peer', async () => {
    const { code, stdout, stderr } = await run();
    expect(stderr).not.toContain('DENIED');
    expect(code).toBe(0);
    // The resolve hook did run (instrument's dynamic import was refused by it), so it was active all along.
    expect(stdout.trim()).toBe('instrument: ERR_SMTP_INVALID_ARGUMENT DENIED @opentelemetry/api');
  }, 30_000);
});
