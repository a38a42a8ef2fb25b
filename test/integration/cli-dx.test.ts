/**
 * The CLI as a user meets it (issue 13): --version, one encryption naming with the library, the
 * reply printed once, camelCase JSON from one serializer, and `sink --json`. Spawned as in dev.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpProtocolHandler } from '../../src/index.js';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';

const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');

function start(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = start(args);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn();
});
async function scripted(options: Parameters<typeof startScriptedServer>[0] = {}): Promise<ScriptedSmtpServer> {
  const s = await startScriptedServer(options);
  cleanup.push(() => s.close());
  return s;
}

const SEND = ['send', '--from', 'a@a.example', '--to', 'b@b.example', '--text', 'x'];

describe('smtpwire CLI (issue 13)', () => {
  it('--version prints the package version', async () => {
    const run = await cli(['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^smtpwire \d+\.\d+\.\d+/);
  });

  it('a bare --tls is refused with what to write; --encryption none works like --plain', async () => {
    const bad = await cli([...SEND, '--tls', '127.0.0.1:1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--tls is ambiguous: write --encryption ssl');
    const server = await scripted();
    const ok = await cli([...SEND, '--encryption', 'none', `127.0.0.1:${server.port}`]);
    expect(ok.code).toBe(0);
    expect(server.messages).toHaveLength(1);
  });

  it('--ssl speaks implicit TLS (the library name ssl)', async () => {
    const server = await scripted({ tls: true, implicitTls: true });
    const run = await cli([...SEND, '--ssl', '--insecure', `127.0.0.1:${server.port}`]);
    expect(run.stdout).toContain('status      success');
    expect(server.lastSession?.tls).toBe(true);
  });

  it('send prints the reply once; --json is camelCase with the same reply', async () => {
    const server = await scripted({ script: [{ on: 'MAIL', reply: '530 5.7.0 Authentication required' }] });
    const text = await cli([...SEND, '--plain', `127.0.0.1:${server.port}`]);
    expect(text.code).toBe(2);
    expect(text.stdout).toContain('reply       530 5.7.0 Authentication required\n');
    expect(text.stdout.match(/530/g)).toHaveLength(1);
    const json = await cli([...SEND, '--plain', '--json', `127.0.0.1:${server.port}`]);
    const parsed = JSON.parse(json.stdout) as Record<string, unknown>;
    for (const key of Object.keys(parsed)) expect(key).toMatch(/^[a-z][a-zA-Z]*$/);
    expect(parsed).toMatchObject({ status: 'rejected', smtpCode: 530, enhancedCode: '5.7.0', retryCount: 0 });
  });

  it('probe --json rounds durations to µs', async () => {
    const server = await scripted();
    const run = await cli(['probe', '--plain', '--json', `127.0.0.1:${server.port}`]);
    const report = JSON.parse(run.stdout) as { timings: Record<string, number> };
    expect(Object.keys(report.timings).length).toBeGreaterThan(0);
    for (const t of Object.values(report.timings)) expect(Math.round(t * 1000) / 1000).toBe(t);
  });

  it('sink --json: a listening line, messages taken, a stopped line with the count', async () => {
    const child = start(['sink', '--port', '0', '--json']);
    cleanup.push(() => child.kill('SIGKILL'));
    let out = '';
    const listening = await new Promise<{ event: string; host: string; port: number }>((resolve) => {
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const nl = out.indexOf('\n');
        if (nl !== -1 && !out.slice(0, nl).includes('stopped')) resolve(JSON.parse(out.slice(0, nl)));
      });
    });
    expect(listening).toMatchObject({ event: 'listening', host: '127.0.0.1' });
    const handler = new SmtpProtocolHandler({ hostname: '127.0.0.1', port: listening.port, encryption: 'none' });
    const result = await handler.sendMessage({
      fromAddress: 'a@a.example',
      toAddresses: ['b@b.example'],
      subject: 's',
      textBody: 'x',
    });
    await handler.close();
    expect(result.status).toBe('success');
    const exit = new Promise((resolve) => child.once('close', resolve));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.at(-1)).toEqual({ event: 'stopped', messages: 1 });
  });
});
