/**
 * `smtpwire sink` shows what it receives (a line per message, every peer string escaped; `--json`)
 * and keeps it with `--maildir DIR` (tmp/ → new/, answered 250 only once on disk). Spawned as in dev.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpProtocolHandler } from '../../src/index.js';

const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');

interface Sink {
  child: ChildProcess;
  port: number;
  output: () => string;
  stop: () => Promise<number | null>;
}

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn();
});

async function startSink(args: string[]): Promise<Sink> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'sink', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanup.push(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('latin1')));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sink did not start: ${out}`)), 20_000);
    child.stdout!.on('data', () => {
      const m = /port"?:? ?(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  return {
    child,
    port,
    output: () => out,
    stop: () =>
      new Promise((resolve) => {
        child.once('close', resolve);
        child.kill('SIGTERM');
      }),
  };
}

function handler(port: number): SmtpProtocolHandler {
  const h = new SmtpProtocolHandler({
    hostname: '127.0.0.1',
    port,
    encryption: 'none',
    retryPolicy: { maxRetries: 0 },
  });
  cleanup.push(() => h.close());
  return h;
}

/** A raw message whose Subject carries a terminal escape, a bidi override and a bell. */
const hostile = Buffer.from(
  'From: a@a.example\r\nTo: b@b.example\r\nSubject: hi \x1b[2J\x1b]0;owned\x07 \u202Egnp.exe\r\n' +
    'Message-ID: <m1@a.example>\r\n\r\nbody\r\n',
  'utf8',
);

describe('smtpwire sink', () => {
  it('prints a line per message with every client string escaped, never a raw control byte', async () => {
    const sink = await startSink([]);
    const h = handler(sink.port);
    const r = await h.sendRaw({ from: 'a@a.example', to: ['b@b.example', 'c@b.example'] }, hostile);
    expect(r.status).toBe('success');
    expect(await sink.stop()).toBe(0);
    const lines = sink.output().trim().split('\n');
    expect(lines).toHaveLength(3);
    const line = lines[1]!;
    expect(line).toMatch(/#1 {2}\d+ B via DATA {2}from <a@a\.example> to b@b\.example \(\+1\)/);
    expect(line).toContain('Subject: hi \\x1b[2J\\x1b]0;owned\\x07 \\u202egnp.exe');
    expect(line).toContain('<m1@a.example>');
    // Nothing but the line feeds is a control character, and no bidi override got through.
    expect(sink.output().replace(/\n/g, '')).not.toMatch(/[\x00-\x1f\x7f\u202e]/);
    expect(lines[2]).toBe('smtpwire sink stopped after 1 messages');
  }, 30_000);

  it('--json: one message event per message, terminal-safe', async () => {
    const sink = await startSink(['--json']);
    const h = handler(sink.port);
    expect((await h.sendRaw({ from: 'a@a.example', to: ['b@b.example'] }, hostile)).status).toBe('success');
    await sink.stop();
    const events = sink
      .output()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.map((e) => e.event)).toEqual(['listening', 'message', 'stopped']);
    expect(events[1]).toMatchObject({
      n: 1,
      from: 'a@a.example',
      to: ['b@b.example'],
      via: 'DATA',
      subject: 'hi \x1b[2J\x1b]0;owned\x07 \u202egnp.exe',
      messageId: '<m1@a.example>',
      file: null,
      stored: null,
    });
    expect(sink.output()).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f\u202e]/);
  }, 30_000);

  it('--maildir: each message lands in new/ (nothing left in tmp/), Return-Path first, bytes intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smtpwire-maildir-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const sink = await startSink(['--maildir', dir, '--json']);
    const h = handler(sink.port);
    const second = Buffer.from('Subject: two\r\n\r\n.leading dot\r\nend\r\n');
    expect((await h.sendRaw({ from: 'a@a.example', to: ['b@b.example'] }, hostile)).status).toBe('success');
    expect((await h.sendRaw({ from: 's@a.example', to: ['b@b.example'] }, second)).status).toBe('success');
    await sink.stop();
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    expect(readdirSync(join(dir, 'cur'))).toEqual([]);
    const files = readdirSync(join(dir, 'new')).sort();
    expect(files).toHaveLength(2);
    const events = sink
      .output()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; file?: string; stored?: boolean });
    const stored = events.filter((e) => e.event === 'message');
    expect(stored.map((e) => e.stored)).toEqual([true, true]);
    expect(stored.map((e) => e.file!.slice(4)).sort()).toEqual(files);
    const contents = stored.map((e) => readFileSync(join(dir, e.file!)));
    expect(contents[0]).toEqual(Buffer.concat([Buffer.from('Return-Path: <a@a.example>\r\n'), hostile]));
    expect(contents[1]).toEqual(Buffer.concat([Buffer.from('Return-Path: <s@a.example>\r\n'), second]));
  }, 30_000);

  it('--maildir: a message that cannot be stored is answered 451, never 250', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smtpwire-maildir-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const sink = await startSink(['--maildir', dir]);
    // The Maildir breaks under the running sink: its tmp/ is gone.
    rmSync(join(dir, 'tmp'), { recursive: true });
    const r = await handler(sink.port).sendRaw({ from: 'a@a.example', to: ['b@b.example'] }, hostile);
    expect(r.smtpCode).toBe(451);
    expect(r.status).not.toBe('success');
    await sink.stop();
    expect(sink.output()).toMatch(/NOT STORED \(451\): ENOENT/);
    // Refused, so not counted as received.
    expect(sink.output()).toMatch(/smtpwire sink stopped after 0 messages/);
    expect(readdirSync(join(dir, 'new'))).toEqual([]);
  }, 30_000);
});
