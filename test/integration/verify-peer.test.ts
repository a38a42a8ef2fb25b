/**
 * `verifyPeer` (the transport hook DANE uses): a refusal fails the connection before anything is sent
 * over TLS, a refused handshake's session is never resumed (resumption skips the certificate), and a
 * session that passed is resumed without asking again. TLS 1.2 and 1.3.
 */
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, TlsError } from '../../src/errors.js';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';
import { TlsSessionStore } from '../../src/transport/connect.js';
import { SmtpConnection } from '../../src/transport/connection.js';

let server: ScriptedSmtpServer | undefined;
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
  await server?.close();
  server = undefined;
});

describe.each(['TLSv1.2', 'TLSv1.3'] as const)('verifyPeer over %s', (version) => {
  const open = async (sessions: TlsSessionStore, tls: object, verifyPeer: (s: TLSSocket) => void) => {
    const c = new SmtpConnection({
      host: '127.0.0.1',
      port: server!.port,
      encryption: 'tls',
      tls,
      tlsSessions: sessions,
      verifyPeer,
    });
    cleanup.push(() => c.destroy());
    try {
      await c.connect();
      await c.noop(); // lets a TLS 1.3 ticket arrive
      return { reused: c.tlsSocket!.isSessionReused(), error: null };
    } catch (err) {
      return { reused: false, error: err as Error };
    }
  };

  it('a refused peer fails the connection and its session is never resumed', async () => {
    server = await startScriptedServer({ tls: { maxVersion: version } });
    const sessions = new TlsSessionStore();
    const tls = { rejectUnauthorized: false, maxVersion: version };
    let calls = 0;
    const refuse = () => {
      calls++;
      throw new TlsError('no match', { code: ErrorCodes.TLS_POLICY });
    };
    const first = await open(sessions, tls, refuse);
    expect(first.error).toMatchObject({ code: ErrorCodes.TLS_POLICY });
    const second = await open(sessions, tls, refuse);
    expect(second.error).toMatchObject({ code: ErrorCodes.TLS_POLICY });
    expect(calls).toBe(2);
    // Nothing but EHLO/STARTTLS reached the server in plaintext; nothing at all over TLS.
    expect(server.sessions.flatMap((s) => s.commands.map((c) => c.verb))).not.toContain('MAIL');
  });

  it('a session that passed is resumed without asking again', async () => {
    server = await startScriptedServer({ tls: { maxVersion: version } });
    const sessions = new TlsSessionStore();
    const tls = { rejectUnauthorized: false, maxVersion: version };
    let calls = 0;
    const accept = (s: TLSSocket) => {
      calls++;
      expect(s.getPeerCertificate().raw).toBeDefined();
    };
    expect((await open(sessions, tls, accept)).reused).toBe(false);
    expect((await open(sessions, tls, accept)).reused).toBe(true);
    expect(calls).toBe(1);
  });
});
