/**
 * SCRAM(-PLUS), OAUTHBEARER and the classic mechanisms end to end: the engine's client against the
 * testing server's server side (src/testing/auth-server.ts), over plaintext, TLS 1.2 and TLS 1.3.
 */
import type tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { scramPbkdf2Runs } from '../../src/protocol/sasl/scram.js';
import { SmtpProtocolHandler } from '../../src/send/handler.js';
import { type ScriptedServerOptions, type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';
import { SmtpConnection, type SmtpConnectionOptions, type TranscriptEntry } from '../../src/transport/connection.js';

const SCRAM = ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN', 'LOGIN', 'OAUTHBEARER', 'XOAUTH2'];
const servers: ScriptedSmtpServer[] = [];
const conns: SmtpConnection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function setup(
  server: ScriptedServerOptions,
  client: Partial<SmtpConnectionOptions> = {},
): Promise<{ server: ScriptedSmtpServer; conn: SmtpConnection; transcript: TranscriptEntry[] }> {
  const s = await startScriptedServer({ users: { alice: 'wonderland' }, authMechanisms: SCRAM, ...server });
  servers.push(s);
  const transcript: TranscriptEntry[] = [];
  const tlsOptions: tls.ConnectionOptions = { ca: s.ca, ...client.tls };
  const conn = new SmtpConnection({
    host: '127.0.0.1',
    port: s.port,
    encryption: server.tls ? 'tls' : 'none',
    onTranscript: (e) => transcript.push(e),
    ...client,
    tls: { ...tlsOptions, servername: 'localhost' },
  });
  conns.push(conn);
  await conn.connect();
  return { server: s, conn, transcript };
}

const clientLines = (t: TranscriptEntry[]): string[] => t.filter((e) => e.direction === 'client').map((e) => e.line);

describe('SCRAM against the testing server', () => {
  it('chooses SCRAM-SHA-256 over PLAIN in plaintext, and never sends the password', async () => {
    const { server, conn, transcript } = await setup({});
    await conn.login({ username: 'alice', password: 'wonderland' });
    expect(conn.authMechanism).toBe('SCRAM-SHA-256');
    expect(server.lastSession).toMatchObject({ authUser: 'alice', authMechanism: 'SCRAM-SHA-256' });
    const wire = server.commands.map((c) => c.line).join('\n');
    expect(wire).not.toContain(Buffer.from('wonderland').toString('base64'));
    expect(wire).not.toMatch(/AUTH PLAIN|AUTH LOGIN/);
    // The transcript shows the verb and mechanism, never a payload.
    expect(clientLines(transcript).filter((l) => /^AUTH|^\*{4}$/.test(l))).toEqual([
      'AUTH SCRAM-SHA-256 ****',
      '****',
      '****',
    ]);
  });

  it('SCRAM-SHA-1 when configured', async () => {
    const { server, conn } = await setup({});
    await conn.login({ username: 'alice', password: 'wonderland' }, { method: 'SCRAM-SHA-1' });
    expect(server.lastSession?.authMechanism).toBe('SCRAM-SHA-1');
  });

  it('a wrong password is a 535 AuthError with the reply kept; the connection stays usable', async () => {
    const { conn } = await setup({});
    const err = await conn.login({ username: 'alice', password: 'wrong' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_SMTP_AUTH', replyCode: 535 });
    // The refusing reply's text, as ReplyError keeps it (nodemailer's `response` is built from it).
    expect((err as { lines: string[] }).lines.join(' ')).toMatch(/\S/);
    expect((err as Error).message).toContain((err as { lines: string[] }).lines.join(' '));
    expect(conn.isBroken).toBe(false);
  });

  it('a wrong server signature (v=) is ERR_SMTP_AUTH_SERVER_PROOF and drops the connection', async () => {
    const bogus = Buffer.from(`v=${Buffer.alloc(32, 1).toString('base64')}`).toString('base64');
    const { conn } = await setup({ script: [{ on: 'AUTH_RESPONSE', nth: 1, reply: `334 ${bogus}` }] });
    await expect(conn.login({ username: 'alice', password: 'wonderland' })).rejects.toMatchObject({
      code: 'ERR_SMTP_AUTH_SERVER_PROOF',
    });
    expect(conn.isBroken).toBe(true);
  });

  it('refuses a server asking for fewer than 4096 iterations (configurable) and cancels with *', async () => {
    const { conn, transcript } = await setup({ scramIterations: 1024 });
    await expect(conn.login({ username: 'alice', password: 'wonderland' })).rejects.toMatchObject({
      code: 'ERR_SMTP_AUTH_CHALLENGE',
    });
    expect(clientLines(transcript)).toContain('*');
    const relaxed = await setup({ scramIterations: 1024 }, { scramMinIterations: 1000 });
    await relaxed.conn.login({ username: 'alice', password: 'wonderland' });
    expect(relaxed.conn.authenticated).toBe(true);
  });

  it('PBKDF2 runs once for many logins with the same password and salt (a pool)', async () => {
    const password = `pool-${Math.random()}`;
    const s = await startScriptedServer({ users: { bob: password }, authMechanisms: ['SCRAM-SHA-256'] });
    servers.push(s);
    const before = scramPbkdf2Runs();
    for (let i = 0; i < 3; i++) {
      const conn = new SmtpConnection({ host: '127.0.0.1', port: s.port, encryption: 'none' });
      conns.push(conn);
      await conn.connect();
      await conn.login({ username: 'bob', password });
    }
    // Client and server share this process's cache: one derivation in all.
    expect(scramPbkdf2Runs() - before).toBe(1);
  });

  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`SCRAM-SHA-256-PLUS over ${version} (${version === 'TLSv1.3' ? 'tls-exporter' : 'tls-server-end-point'})`, async () => {
      const { server, conn, transcript } = await setup(
        { tls: { minVersion: version, maxVersion: version } },
        { tls: { maxVersion: version } },
      );
      expect(conn.tlsSocket?.getProtocol()).toBe(version);
      await conn.login({ username: 'alice', password: 'wonderland' });
      expect(server.lastSession).toMatchObject({ authMechanism: 'SCRAM-SHA-256-PLUS', tls: true });
      const first = server.commands.find((c) => c.line.startsWith('AUTH '))!.line.split(' ')[2]!;
      const binding = version === 'TLSv1.3' ? 'tls-exporter' : 'tls-server-end-point';
      expect(Buffer.from(first, 'base64').toString()).toMatch(new RegExp(`^p=${binding},,n=alice,r=`));
      expect(clientLines(transcript)).toContain('AUTH SCRAM-SHA-256-PLUS ****');
    });
  }

  it('a channel binding that differs from the server view fails (a man in the middle)', async () => {
    // A relay in the middle has two TLS sessions, so the client's binding data is not the server's.
    // Simulated by making the client's exporter give other bytes than the real session's.
    const { conn } = await setup({ tls: { minVersion: 'TLSv1.3' } });
    const socket = conn.tlsSocket!;
    socket.exportKeyingMaterial = () => Buffer.alloc(32, 0xaa);
    await expect(conn.login({ username: 'alice', password: 'wonderland' })).rejects.toMatchObject({ replyCode: 535 });
  });

  it('sends y when TLS could bind but -PLUS is not advertised: a server that supports -PLUS detects the stripping', async () => {
    // A man in the middle removes SCRAM-SHA-256-PLUS from the EHLO reply; the server still supports it.
    const strip = (caps: string[]) => caps.map((c) => c.replace(' SCRAM-SHA-256-PLUS', ''));
    const { server, conn } = await setup({ tls: true, capabilities: strip });
    expect(conn.capabilities?.authMechanisms).not.toContain('SCRAM-SHA-256-PLUS');
    await expect(conn.login({ username: 'alice', password: 'wonderland' })).rejects.toMatchObject({ replyCode: 535 });
    const first = server.commands.find((c) => c.line.startsWith('AUTH '))!.line.split(' ')[2]!;
    expect(Buffer.from(first, 'base64').toString()).toMatch(/^y,,n=alice,r=/);
    // A server without -PLUS support accepts y.
    const plain = await setup({ tls: true, authMechanisms: ['SCRAM-SHA-256'] });
    await plain.conn.login({ username: 'alice', password: 'wonderland' });
    expect(plain.server.lastSession?.authMechanism).toBe('SCRAM-SHA-256');
    // -PLUS offered and SCRAM-SHA-256 chosen by name: n, accepted.
    const chosen = await setup({ tls: true });
    await chosen.conn.login({ username: 'alice', password: 'wonderland' }, { method: 'SCRAM-SHA-256' });
    const line = chosen.server.commands.find((c) => c.line.startsWith('AUTH '))!.line.split(' ')[2]!;
    expect(Buffer.from(line, 'base64').toString()).toMatch(/^n,,n=alice,r=/);
  });
});

describe('SCRAM through the handler', () => {
  it('authMethod SCRAM-SHA-256 (-PLUS by default over TLS) and a delivered message', async () => {
    const server = await startScriptedServer({ users: { alice: 'wonderland' }, authMechanisms: SCRAM, tls: true });
    servers.push(server);
    for (const authMethod of [undefined, 'SCRAM-SHA-256'] as const) {
      const handler = new SmtpProtocolHandler({
        hostname: '127.0.0.1',
        port: server.port,
        username: 'alice',
        password: 'wonderland',
        tls: { ca: server.ca, servername: 'localhost' },
        fromAddress: 'alice@x.example',
        ...(authMethod ? { authMethod } : {}),
      });
      try {
        const result = await handler.sendMessage({ toAddresses: ['b@x.example'], subject: 's', textBody: 'b' });
        expect(result.status).toBe('success');
      } finally {
        await handler.close();
      }
    }
    expect(server.messages.map((m) => m.authUser)).toEqual(['alice', 'alice']);
    expect(server.sessions.map((s) => s.authMechanism)).toEqual(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']);
  });

  it('the handler refuses an unknown authMethod', () => {
    expect(() => new SmtpProtocolHandler({ hostname: 'h.example', authMethod: 'SCRAM-SHA-512' as never })).toThrow(
      expect.objectContaining({ field: 'authMethod' }),
    );
  });
});

describe('OAUTHBEARER and XOAUTH2 against the testing server', () => {
  it('OAUTHBEARER with a valid token', async () => {
    const { server, conn } = await setup({ users: { alice: 'token-1' } });
    await conn.login({ username: 'alice', accessToken: 'token-1' });
    expect(server.lastSession).toMatchObject({ authUser: 'alice', authMechanism: 'OAUTHBEARER' });
  });

  it('an expired token: JSON challenge, \\x01, then one more try with a fresh token from the provider', async () => {
    const { server, conn } = await setup({ users: { alice: 'fresh' } });
    const handed: string[] = [];
    const provider = (): string => {
      const token = handed.length === 0 ? 'expired' : 'fresh';
      handed.push(token);
      return token;
    };
    await conn.login({ username: 'alice', accessToken: provider });
    expect(handed).toEqual(['expired', 'fresh']);
    const lines = server.commands.map((c) => c.line);
    expect(lines.filter((l) => l.startsWith('AUTH OAUTHBEARER'))).toHaveLength(2);
    expect(lines).toContain('AQ==');
    expect(server.lastSession?.authUser).toBe('alice');
  });

  it('a token the provider cannot refresh fails with the 535', async () => {
    const { conn } = await setup({ users: { alice: 'fresh' } });
    await expect(conn.login({ username: 'alice', accessToken: () => 'stale' })).rejects.toMatchObject({
      replyCode: 535,
    });
  });

  it('XOAUTH2 still works when OAUTHBEARER is not offered', async () => {
    const { server, conn } = await setup({ users: { alice: 'tok' }, authMechanisms: ['PLAIN', 'XOAUTH2'] });
    await conn.login({ username: 'alice', accessToken: 'tok' });
    expect(server.lastSession?.authMechanism).toBe('XOAUTH2');
  });
});
