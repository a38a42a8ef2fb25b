/**
 * TLS session resumption for pooled connections (issue 10): a new connection to the same destination
 * resumes the previous one's session; a different TLS configuration never does.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpConnectionPool } from '../../src/index.js';
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

describe('TLS session resumption', () => {
  it('a pool resumes the session of its previous connection to the same destination', async () => {
    server = await startScriptedServer({ tls: true });
    const pool = new SmtpConnectionPool({ maxConnections: 1, maxMessagesPerConnection: 1 });
    cleanup.push(() => pool.closeAll());
    const params = {
      host: 'localhost',
      port: server.port,
      encryption: 'tls' as const,
      connection: { tls: { ca: server.ca } },
    };
    const reused: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      const conn = await pool.getConnection(params);
      expect(conn.secure).toBe(true);
      reused.push(conn.tlsSocket!.isSessionReused());
      await conn.noop();
      pool.releaseConnection(conn); // worn out after one checkout: closed, the next one is new
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(reused[0]).toBe(false);
    expect(reused.slice(1)).toEqual([true, true]);
  });

  it('never resumes a session under another TLS configuration', async () => {
    server = await startScriptedServer({ tls: true });
    const sessions = new TlsSessionStore();
    const open = async (tls: object) => {
      const c = new SmtpConnection({
        host: 'localhost',
        port: server!.port,
        encryption: 'tls',
        tls,
        tlsSessions: sessions,
      });
      cleanup.push(() => c.destroy());
      await c.connect();
      await c.noop(); // lets the TLS 1.3 ticket arrive
      return c.tlsSocket!.isSessionReused();
    };
    const a = { ca: server.ca };
    const b = { ca: server.ca, minVersion: 'TLSv1.2' as const };
    expect(await open(a)).toBe(false);
    expect(await open(a)).toBe(true);
    expect(await open(b)).toBe(false);
  });
});
