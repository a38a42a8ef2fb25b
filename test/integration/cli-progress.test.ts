/**
 * `smtpwire conform` shows each check as it runs when stdout is a terminal (run under a pty with
 * util-linux `script`), and prints no progress when stdout is a pipe.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';
import { runCli } from '../helpers/cli.js';

const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');
const servers: ScriptedSmtpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** Runs `args` under a pseudo-terminal; resolves with everything the terminal received. */
function inPty(args: string[]): Promise<{ code: number | null; out: string }> {
  const quote = (a: string): string => `'${a.replace(/'/g, `'\\''`)}'`;
  // A wide terminal, so that no status line is cut.
  const command = `stty cols 200; ${[process.execPath, '--import', 'tsx', MAIN, ...args].map(quote).join(' ')}`;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out }));
  });
}

/** One quick check against the scripted server, the same run on a terminal and to a pipe. */
const conformArgs = (port: number): string[] => [
  'conform',
  `127.0.0.1:${port}`,
  '--encryption',
  'none',
  '--only',
  'pipelining',
  '--timeout',
  '1000',
];

describe('conform progress', () => {
  it('on a terminal: a status line per check as it starts and ends, cleared before the report', async () => {
    const server = await startScriptedServer();
    servers.push(server);
    const { code, out } = await inPty(conformArgs(server.port));
    expect(code).not.toBeNull();
    // Each update rewrites the line: carriage return, erase line, the text.
    const updates = out.split('\r\x1b[2K').slice(1);
    const starts = updates.filter((u) => u.includes('running'));
    const total = Number(/^\[0\/(\d+)\]/.exec(starts[0] ?? '')?.[1]);
    expect(total).toBeGreaterThanOrEqual(1);
    expect(starts[0]).toMatch(/^\[0\/\d+\] running pipelining\/[\w-]+ {2}pass 0 · warn 0 · fail 0 · skipped 0$/);
    expect(starts).toHaveLength(total);
    // After each check, the count of those done; the last write clears the line, then the report.
    const ends = updates.slice(0, -1).filter((u) => !u.includes('running'));
    expect(ends.map((u) => Number(/^\[(\d+)\//.exec(u)?.[1]))).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(ends.at(-1)).toMatch(new RegExp(`^\\[${total}/${total}\\] pass \\d+`));
    expect(updates.at(-1)).toMatch(/^smtpwire conform 127\.0\.0\.1:/);
  }, 60_000);

  it('to a pipe: no progress line, no escape sequence', async () => {
    const server = await startScriptedServer();
    servers.push(server);
    const run = await runCli(conformArgs(server.port));
    expect(run.stdout).not.toContain('\x1b');
    expect(run.stdout).not.toContain('\r');
  }, 60_000);
});
