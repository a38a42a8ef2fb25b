/**
 * The raw session shared by probe and conform: STARTTLS through connect.ts with the plaintext
 * behind the 220 dropped, AUTH with redacted evidence, evidence escaping; and probe's raw
 * session authenticating where the server requires AUTH (issue 13 finding).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { probe } from '../../src/conform/probe.js';
import { escapeBytes, RawSession } from '../../src/conform/raw-session.js';
import { type ScriptedServerOptions, type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';

const servers: ScriptedSmtpServer[] = [];
const sessions: RawSession[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function scripted(options: ScriptedServerOptions = {}): Promise<ScriptedSmtpServer> {
  const server = await startScriptedServer(options);
  servers.push(server);
  return server;
}

async function open(server: ScriptedSmtpServer, tls?: object): Promise<RawSession> {
  const session = await RawSession.connect({
    host: 'localhost',
    port: server.port,
    implicitTls: false,
    tls: { ca: server.ca, ...tls },
    connectTimeout: 2000,
    tlsTimeout: 2000,
    replyTimeout: 2000,
  });
  sessions.push(session);
  return session;
}

describe('RawSession', () => {
  it('drops plaintext the server sent behind the STARTTLS 220 (RFC 3207 §6) and reads the real EHLO reply under TLS', async () => {
    const server = await scripted({
      tls: true,
      // Same write as the 220: already buffered when the handshake starts.
      script: [{ on: 'STARTTLS', append: '250-injected\r\n250 AUTH PLAIN\r\n' }],
    });
    const session = await open(server);
    await session.hello('client.test');
    await session.startTls();
    const info = await session.ehlo('client.test');
    expect(session.plaintextDiscarded).toBeGreaterThan(0);
    expect(session.tlsSocket?.encrypted).toBe(true);
    expect(info.startTls).toBe(false);
    expect(info.authMechanisms).toEqual([]);
    // The evidence shows what arrived, and that it was dropped.
    const received = session.evidence.received;
    expect(received.indexOf('(what followed the 220 in plaintext was dropped: RFC 3207 §6)')).toBeGreaterThan(
      received.indexOf('250-injected'),
    );
    expect(session.pending).toBe(0);
  });

  it('verifies the certificate through connect.ts (SNI from the host name): an untrusted one fails the handshake', async () => {
    const server = await scripted({ tls: 'untrusted' });
    const session = await open(server);
    await session.hello('client.test');
    await expect(session.startTls()).rejects.toMatchObject({ code: 'ERR_SMTP_TLS' });
  });

  it('authenticates with the engine mechanisms and never records the secret', async () => {
    const server = await scripted({ tls: true, users: { alice: 's3cret-pw' }, requireAuth: true });
    const session = await open(server);
    await session.hello('client.test');
    await session.startTls();
    await session.ehlo('client.test');
    expect((await session.auth('LOGIN', 'alice', 's3cret-pw')).code).toBe(235);
    expect((await session.command('MAIL FROM:<a@b.example>')).code).toBe(250);
    const sent = session.evidence.sent.join('\n');
    expect(sent).toContain('AUTH LOGIN');
    expect(sent).not.toContain(Buffer.from('s3cret-pw').toString('base64'));
    expect(sent).not.toContain('s3cret-pw');
  });

  it('collect() ends on the wanted reply, on close, or on silence, and poisons on a malformed reply', async () => {
    const server = await scripted({ script: [{ on: 'HELP', raw: 'garbage\r\n' }] });
    const session = await open(server);
    await session.hello('client.test');
    session.write('NOOP\r\nQUIT\r\n');
    expect(await session.collect((r) => r.code === 221)).toMatchObject({
      end: 'until',
      replies: [{ code: 250 }, { code: 221 }],
    });
    const silent = await open(server);
    await silent.hello('client.test');
    expect((await silent.collect(() => false, 10, 100)).end).toBe('timeout');
    silent.write('HELP\r\n');
    await expect(silent.collect(() => false)).rejects.toMatchObject({ code: 'ERR_SMTP_PROTOCOL' });
    expect(silent.evidence.received.at(-1)).toMatch(/malformed/);
  });

  it('escapes control bytes in evidence and cuts long entries', () => {
    expect(escapeBytes('a\r\n.\n\0\t\\\x1b')).toBe('a\\r\\n.\\n\\0\\t\\\\\\x1b');
    const long = escapeBytes('x'.repeat(1000));
    expect(long).toMatch(/^x{400}… \(600 more octets\)$/);
  });
});

describe('probe on the shared raw session', () => {
  it('passes pipelining on a submission server that requires AUTH: the raw session authenticates too', async () => {
    const server = await scripted({ tls: true, users: { alice: 'pw' }, requireAuth: true });
    const report = await probe({
      host: 'localhost',
      port: server.port,
      tls: { ca: server.ca },
      username: 'alice',
      password: 'pw',
      timeouts: { command: 2000, connect: 2000, greeting: 2000, tls: 2000 },
    });
    expect(report.auth?.ok).toBe(true);
    expect(report.authMechanisms).toEqual(['PLAIN', 'LOGIN', 'CRAM-MD5', 'XOAUTH2']);
    expect(report.checks.find((c) => c.name === 'pipelining')).toMatchObject({ status: 'pass' });
    // Every session of the run authenticated before MAIL (the engine's and the raw one).
    const withMail = server.sessions.filter((s) => s.commands.some((c) => c.verb === 'MAIL'));
    expect(withMail.length).toBeGreaterThanOrEqual(2);
    for (const s of withMail) expect(s.authUser).toBe('alice');
  });

  it('importing the package root does not load node:tls', async () => {
    const run = promisify(execFile);
    const code =
      "await import('./src/index.ts'); process.stdout.write(String(process.moduleLoadList.some((m) => m === 'NativeModule tls')))";
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: new URL('../..', import.meta.url).pathname,
      timeout: 30_000,
    });
    expect(stdout).toBe('false');
  });
});
