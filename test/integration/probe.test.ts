import { afterEach, describe, expect, it } from 'vitest';
import { type ProbeCheck, type ProbeReport, probe } from '../../src/conform/probe.js';
import { type ScriptedServerOptions, type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';
import { startSmtpServer, type TestServer } from '../helpers/smtp-server.js';

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function scripted(options: ScriptedServerOptions = {}): Promise<ScriptedSmtpServer> {
  const server = await startScriptedServer(options);
  servers.push(server);
  return server;
}

const FAST = { command: 1000, greeting: 1000, connect: 1000, tls: 1000 };

function check(report: ProbeReport, name: ProbeCheck['name']): ProbeCheck {
  const found = report.checks.find((c) => c.name === name);
  if (!found) throw new Error(`no ${name} check in ${JSON.stringify(report.checks)}`);
  return found;
}

describe('probe against the scripted server', () => {
  it('reports a correct STARTTLS server with AUTH: capabilities before and after, verified certificate, passing checks', async () => {
    const server = await scripted({ tls: true, users: { alice: 'secret' }, maxMessageSize: 4000 });
    const report = await probe({
      host: 'localhost',
      port: server.port,
      tls: { ca: server.ca },
      username: 'alice',
      password: 'secret',
      timeouts: FAST,
      checks: { bareLfRecipient: 'probe@sink.example' },
    });
    expect(report.error).toBeNull();
    expect(report.greeting).toBe('220 localhost ESMTP');
    expect(report.capabilitiesBeforeTls).toContain('STARTTLS');
    expect(report.capabilities).not.toContain('STARTTLS');
    expect(report.capabilities).toContain('SIZE 4000');
    expect(report.secure).toBe(true);
    expect(report.tls?.mode).toBe('starttls');
    expect(report.tls?.protocol).toMatch(/^TLSv1\.[23]$/);
    expect(report.tls?.certificate).toMatchObject({ verified: true, verifyError: null });
    expect(report.tls?.certificate?.subject).toContain('CN=localhost');
    expect(report.authMechanisms).toEqual(expect.arrayContaining(['PLAIN', 'LOGIN']));
    expect(report.auth).toMatchObject({ attempted: true, ok: true });
    expect(report.timings.noop).toBeGreaterThan(0);
    expect(report.timings.starttls).toBeGreaterThan(0);
    for (const name of [
      'starttls',
      'pipelining',
      'size',
      'enhanced-status-codes',
      'vrfy',
      'unknown-command',
    ] as const) {
      expect(check(report, name).status, `${name}: ${check(report, name).reason}`).toBe('pass');
    }
    // The scripted server accepts bare LF by default: a warning, and the message really arrived.
    expect(check(report, 'bare-lf').status).toBe('warn');
    const bare = server.messages.find((m) => m.bareLf);
    expect(bare?.rcptTo).toEqual(['probe@sink.example']);
    // The pipelining check put MAIL, RCPT, RCPT and RSET in one write: all arrived before the MAIL reply.
    const pipelined = server.sessions
      .flatMap((s) => s.commands)
      .filter((c) => c.line.startsWith('MAIL FROM:<probe@smtpwire.invalid>') && !c.line.includes('SIZE'));
    expect(pipelined.length).toBeGreaterThan(0);
    expect(report.status).toBe('warnings');
  });

  it('does not send the probe message without a recipient: bare-lf is skipped and nothing is delivered', async () => {
    const server = await scripted();
    const report = await probe({ host: '127.0.0.1', port: server.port, timeouts: FAST });
    expect(check(report, 'bare-lf').status).toBe('skipped');
    expect(server.messages).toHaveLength(0);
    // Opportunistic by default: no STARTTLS is a warning, not a failure.
    expect(check(report, 'starttls')).toMatchObject({ status: 'warn' });
    expect(report.status).toBe('warnings');
  });

  it('is ok when every check passes (bare LF refused, STARTTLS, AUTH)', async () => {
    const server = await scripted({ tls: true, script: [{ on: 'DATA_END', reply: '550 5.6.11 bare LF not allowed' }] });
    const report = await probe({
      host: 'localhost',
      port: server.port,
      tls: { ca: server.ca },
      timeouts: FAST,
      checks: { bareLfRecipient: 'p@sink.example' },
    });
    expect(check(report, 'bare-lf')).toMatchObject({ status: 'pass', reason: expect.stringContaining('550') });
    expect(report.checks.every((c) => c.status === 'pass')).toBe(true);
    expect(report.status).toBe('ok');
  });

  it('fails STARTTLS when required and not offered', async () => {
    const server = await scripted();
    const report = await probe({ host: '127.0.0.1', port: server.port, encryption: 'tls', timeouts: FAST });
    expect(report.status).toBe('failure');
    expect(report.error?.code).toBe('ERR_SMTP_STARTTLS_UNAVAILABLE');
  });

  it('shows an untrusted certificate as NOT verified and never sends credentials over it', async () => {
    const server = await scripted({ tls: 'untrusted', users: { alice: 'secret' } });
    const report = await probe({
      host: 'localhost',
      port: server.port,
      username: 'alice',
      password: 'secret',
      timeouts: FAST,
    });
    expect(report.error).toBeNull();
    expect(report.tls?.certificate?.verified).toBe(false);
    expect(report.tls?.certificate?.verifyError).toMatch(/self.signed/i);
    expect(report.auth).toMatchObject({ attempted: false, ok: false });
    expect(server.commands.some((c) => c.verb === 'AUTH')).toBe(false);
    expect(report.status).not.toBe('ok');
  });

  it('stops at an untrusted certificate when retryUnverified is false', async () => {
    const server = await scripted({ tls: 'untrusted' });
    const report = await probe({ host: 'localhost', port: server.port, retryUnverified: false, timeouts: FAST });
    expect(report.status).toBe('failure');
    expect(report.error?.code).toBe('ERR_SMTP_TLS');
    expect(report.tls).toBeNull();
  });

  it('reports refused AUTH as a failure with the reason', async () => {
    const server = await scripted({ tls: true, users: { alice: 'secret' } });
    const report = await probe({
      host: 'localhost',
      port: server.port,
      tls: { ca: server.ca },
      username: 'alice',
      password: 'wrong',
      timeouts: FAST,
    });
    expect(report.auth).toMatchObject({ attempted: true, ok: false, error: expect.stringContaining('535') });
    expect(report.status).toBe('failure');
  });

  it('fails SIZE when an over-limit MAIL is accepted, and unknown-command when a made-up verb gets 250', async () => {
    const server = await scripted({
      maxMessageSize: 1000,
      script: [
        { on: 'MAIL', match: /SIZE=1001/, reply: '250 2.1.0 OK' },
        { on: 'XSMTPWIREPROBE', reply: '250 whatever' },
      ],
    });
    const report = await probe({ host: '127.0.0.1', port: server.port, encryption: 'none', timeouts: FAST });
    expect(check(report, 'size')).toMatchObject({ status: 'fail', reason: expect.stringContaining('SIZE=1001') });
    expect(check(report, 'unknown-command').status).toBe('fail');
    // conform's starttls-offered judges the plaintext EHLO even on a plaintext probe.
    expect(check(report, 'starttls').status).toBe('warn');
    expect(report.status).toBe('failure');
  });

  it('a check that throws is inconclusive (warn), never a failure: one rule with conform', async () => {
    const server = await scripted({ maxMessageSize: 1000, script: [{ on: 'MAIL', match: /SIZE=/, action: 'drop' }] });
    const report = await probe({ host: '127.0.0.1', port: server.port, encryption: 'none', timeouts: FAST });
    expect(check(report, 'size')).toMatchObject({ status: 'warn', reason: expect.stringMatching(/^inconclusive: /) });
    expect(report.error).toBeNull();
  });

  it('fails pipelining when pipelined commands are not all answered', async () => {
    const server = await scripted({ script: [{ on: 'RSET', action: 'silent' }] });
    const report = await probe({
      host: '127.0.0.1',
      port: server.port,
      encryption: 'none',
      timeouts: { ...FAST, command: 300 },
    });
    expect(check(report, 'pipelining')).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('not answered'),
    });
  });

  it('skips SIZE and pipelining when they are not advertised, and warns on VRFY that discloses', async () => {
    const server = await scripted({
      capabilities: ['8BITMIME'],
      script: [{ on: 'VRFY', reply: '250 2.1.5 Postmaster <postmaster@localhost>' }],
    });
    const report = await probe({ host: '127.0.0.1', port: server.port, encryption: 'none', timeouts: FAST });
    expect(check(report, 'size').status).toBe('skipped');
    expect(check(report, 'pipelining').status).toBe('skipped');
    expect(check(report, 'vrfy').status).toBe('warn');
    // conform judges ENHANCEDSTATUSCODES only when advertised.
    expect(check(report, 'enhanced-status-codes').status).toBe('skipped');
  });

  it('reports a refused connection as a failure without throwing', async () => {
    const server = await scripted();
    const port = server.port;
    await server.close();
    const report = await probe({ host: '127.0.0.1', port, timeouts: FAST });
    expect(report.status).toBe('failure');
    expect(report.error?.code).toBe('ERR_SMTP_CONNECTION');
    expect(report.greeting).toBeNull();
  });

  it('rejects unknown option keys with a did-you-mean, in the options and in checks', async () => {
    await expect(probe({ host: '127.0.0.1', usrname: 'a' } as never)).rejects.toThrow(/did you mean 'username'/);
    await expect(probe({ host: '127.0.0.1', checks: { bareLfRcpt: 'a@b' } as never })).rejects.toMatchObject({
      code: 'ERR_SMTP_INVALID_ARGUMENT',
    });
  });

  it('rejects an address option with angle brackets or spaces', async () => {
    await expect(probe({ host: '127.0.0.1', checks: { bareLfRecipient: 'a@b>\r\nRSET' } })).rejects.toMatchObject({
      code: 'ERR_SMTP_HEADER_INJECTION',
    });
    await expect(probe({ host: '127.0.0.1', checks: { bareLfRecipient: 'a@b> RSET' } })).rejects.toMatchObject({
      code: 'ERR_SMTP_INVALID_ARGUMENT',
    });
  });
});

describe('probe against smtp-server', () => {
  it('upgrades with STARTTLS, authenticates and passes the conformance checks that apply', async () => {
    const server: TestServer = await startSmtpServer({ users: { bob: 'pw' }, size: 2000 });
    servers.push(server);
    const { testCertificates } = await import('../../src/testing/index.js');
    const report = await probe({
      host: 'localhost',
      port: server.port,
      tls: { ca: testCertificates().ca },
      username: 'bob',
      password: 'pw',
      timeouts: FAST,
    });
    expect(report.error).toBeNull();
    expect(report.secure).toBe(true);
    expect(report.auth?.ok).toBe(true);
    expect(check(report, 'starttls').status).toBe('pass');
    expect(check(report, 'pipelining').status).not.toBe('fail');
    expect(check(report, 'size').status).toBe('pass');
    expect(check(report, 'unknown-command').status).not.toBe('fail');
  });
});

describe('probe over implicit TLS', () => {
  it('reports mode implicit, a verified certificate and no STARTTLS step', async () => {
    const server = await scripted({ implicitTls: true, tls: true });
    const report = await probe({
      host: 'localhost',
      port: server.port,
      encryption: 'ssl',
      tls: { ca: server.ca },
      timeouts: FAST,
    });
    expect(report.error).toBeNull();
    expect(report.tls).toMatchObject({ mode: 'implicit', certificate: { verified: true } });
    expect(report.capabilitiesBeforeTls).toBeNull();
    expect(report.timings.tls).toBeGreaterThan(0);
    expect(check(report, 'starttls')).toMatchObject({ status: 'skipped', reason: expect.stringContaining('implicit') });
    // The raw pipelining session also speaks implicit TLS.
    expect(check(report, 'pipelining').status).toBe('pass');
  });
});

describe('probe defaults', () => {
  it('uses port 25 with opportunistic STARTTLS when neither port nor encryption is given', async () => {
    // Nothing listens on 127.0.0.1:25 in the test environment: the report names the port it tried.
    const report = await probe({ host: '127.0.0.1', timeouts: FAST, checks: { enabled: false } });
    expect(report.port).toBe(25);
    expect(report.encryption).toBe('tls');
    const implicit = await probe({ host: '127.0.0.1', encryption: 'ssl', timeouts: FAST, checks: { enabled: false } });
    expect(implicit.port).toBe(465);
  });
});
