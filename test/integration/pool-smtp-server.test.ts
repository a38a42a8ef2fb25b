import { afterEach, describe, expect, it } from 'vitest';
import { ReplyError } from '../../src/errors.js';
import { type PoolConnectionParams, SmtpConnectionPool } from '../../src/pool/pool.js';
import { testCertificates } from '../../src/testing/certs.js';
import { waitFor } from '../../src/testing/index.js';
import type { SmtpConnection } from '../../src/transport/connection.js';
import { startSmtpServer, type TestServer, type TestServerOptions } from '../helpers/smtp-server.js';

const certs = testCertificates();

let server: TestServer | undefined;
let pool: SmtpConnectionPool | undefined;

afterEach(async () => {
  pool?.destroy();
  pool = undefined;
  await server?.close();
  server = undefined;
});

async function serve(options: TestServerOptions = {}): Promise<TestServer> {
  server = await startSmtpServer(options);
  return server;
}

const params = (port: number, extra: Partial<PoolConnectionParams> = {}): PoolConnectionParams => ({
  host: '127.0.0.1',
  port,
  encryption: 'none',
  connection: { clientName: 'pool.test' },
  ...extra,
});

const message = (n: number) =>
  Buffer.from(
    `From: a@sender.example\r\nTo: b@rcpt.example\r\nMessage-ID: <m${n}@pool.test>\r\nSubject: ${n}\r\n\r\nBody ${n}\r\n`,
  );

/** Takes a connection, sends, releases from onHandedOver (or after a failure before it). */
let warmCheckouts = 0;
async function send(p: SmtpConnectionPool, at: PoolConnectionParams, n: number): Promise<boolean> {
  const conn = await p.getConnection(at);
  // Handed out while the previous message's final reply is still awaited: pipelined behind it.
  if (conn.pendingReplies > 0) warmCheckouts++;
  let released = false;
  const release = () => {
    if (!released) {
      released = true;
      p.releaseConnection(conn);
    }
  };
  try {
    const outcome = await conn.sendMail({ from: 'a@sender.example', to: ['b@rcpt.example'] }, message(n), {
      onHandedOver: release,
    });
    return outcome.delivered;
  } finally {
    release();
  }
}

const messageIds = (s: TestServer) =>
  s.messages.map((m) => /^Message-ID: (.*)$/im.exec(m.raw.toString('latin1'))?.[1]?.trim());

describe('SmtpConnectionPool against smtp-server', () => {
  it('sends 1,000 messages through a pool of 4, pipelined via onHandedOver: each arrives exactly once, never more than 4 sockets', async () => {
    const s = await serve();
    pool = new SmtpConnectionPool({ maxConnections: 4 });
    const at = params(s.port);
    warmCheckouts = 0;
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => send(pool!, at, i)));
    expect(warmCheckouts).toBeGreaterThan(0);
    expect(results.every(Boolean)).toBe(true);
    const ids = messageIds(s);
    expect(ids).toHaveLength(1000);
    expect(new Set(ids).size).toBe(1000);
    expect(ids.every((id) => id !== undefined)).toBe(true);
    // Never more than 4 sockets at the server, although each connection is recycled after its
    // 100th message (the default maxMessagesPerConnection) while the others keep sending.
    expect(s.maxOpen).toBeLessThanOrEqual(4);
    expect(s.connections).toBeGreaterThanOrEqual(10);
    const stats = pool.getStats();
    expect(stats).toMatchObject({ busy: 0, errors: 0, waiting: 0, connecting: 0, created: s.connections });
    expect(stats.total).toBeLessThanOrEqual(4);
    expect(stats.created + stats.reused).toBe(1000);
    await pool.closeAll();
    expect(pool.getStats()).toMatchObject({ total: 0, closing: 0, closed: s.connections });
  });

  it('recycles connections after maxMessagesPerConnection without exceeding the limit', async () => {
    const s = await serve();
    pool = new SmtpConnectionPool({ maxConnections: 2, maxMessagesPerConnection: 5 });
    const at = params(s.port);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => send(pool!, at, i)));
    expect(results.every(Boolean)).toBe(true);
    expect(new Set(messageIds(s)).size).toBe(40);
    expect(s.maxOpen).toBeLessThanOrEqual(2);
    expect(s.connections).toBeGreaterThanOrEqual(8);
    await pool.closeAll();
  });

  it('replaces a connection the server dropped while idle, transparently', async () => {
    // smtp-server closes a silent session after socketTimeout with a 421 (long enough that the second
    // session's own handshake is not cut on a loaded machine).
    const s = await serve({ socketTimeout: 600 });
    pool = new SmtpConnectionPool({ maxConnections: 1 });
    const at = params(s.port);
    const first = await pool.getConnection(at);
    pool.releaseConnection(first);
    await waitFor(() => first.isBroken, 10_000);
    expect(first.error).toBeInstanceOf(ReplyError);
    const second = await pool.getConnection(at);
    expect(second).not.toBe(first);
    const outcome = await second.sendMail({ from: 'a@sender.example', to: ['b@rcpt.example'] }, message(1));
    expect(outcome.delivered).toBe(true);
    pool.releaseConnection(second);
    expect(s.messages).toHaveLength(1);
    expect(pool.getStats()).toMatchObject({ created: 2, reused: 0 });
  });

  it('health-checks a parked connection with a real NOOP and reuses it', async () => {
    const s = await serve();
    const transcript: string[] = [];
    pool = new SmtpConnectionPool({ maxConnections: 1, healthCheckAfter: 0 });
    const at = params(s.port, { connection: { onTranscript: (e) => transcript.push(`${e.direction} ${e.line}`) } });
    const a = await pool.getConnection(at);
    pool.releaseConnection(a);
    const b = await pool.getConnection(at);
    expect(b).toBe(a);
    expect(transcript).toContain('client NOOP');
    pool.releaseConnection(b);
  });

  it('logs in with credentials and keys connections by them', async () => {
    const s = await serve({ users: { alice: 'wonder', bob: 'builder' } });
    pool = new SmtpConnectionPool({ maxConnections: 2 });
    const tls = (extra: Partial<PoolConnectionParams>) =>
      params(s.port, { host: 'localhost', encryption: 'tls', connection: { tls: { ca: certs.ca } }, ...extra });
    const alice = await pool.getConnection(tls({ username: 'alice', password: 'wonder' }));
    expect(alice.authenticated).toBe(true);
    expect(alice.secure).toBe(true);
    pool.releaseConnection(alice);
    const bob = await pool.getConnection(tls({ username: 'bob', password: 'builder' }));
    expect(bob).not.toBe(alice);
    pool.releaseConnection(bob);
    expect(await pool.getConnection(tls({ username: 'alice', password: 'wonder' }))).toBe(alice);
    pool.releaseConnection(alice);
    await expect(pool.getConnection(tls({ username: 'bob', password: 'wrong' }))).rejects.toMatchObject({
      name: 'AuthError',
    });
    expect(JSON.stringify(pool.getStats())).not.toMatch(/wonder|builder|wrong/);
    expect(pool.getStats()).toMatchObject({ total: 2, connecting: 0, errors: 1 });
  });

  it('a refused connect rejects with ConnectionError and frees the slot', async () => {
    const s = await serve();
    const port = s.port;
    await s.close();
    server = undefined;
    pool = new SmtpConnectionPool({ maxConnections: 1 });
    await expect(pool.getConnection(params(port))).rejects.toMatchObject({ name: 'ConnectionError' });
    await expect(pool.getConnection(params(port))).rejects.toMatchObject({ name: 'ConnectionError' });
    expect(pool.getStats()).toMatchObject({ total: 0, connecting: 0, errors: 2 });
  });

  it('the rate limit is observable: 6 messages at 3 per 300 ms take at least 300 ms', async () => {
    const s = await serve();
    pool = new SmtpConnectionPool({ maxConnections: 2, rateLimit: { messages: 3, interval: 300 } });
    const at = params(s.port);
    const started = Date.now();
    const times: number[] = [];
    await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        await send(pool!, at, i);
        times.push(Date.now() - started);
      }),
    );
    times.sort((a, b) => a - b);
    // The 4th token comes 100 ms after the burst of 3, the 6th 300 ms after.
    expect(times[5]!).toBeGreaterThanOrEqual(280);
    expect(s.messages).toHaveLength(6);
  });

  it('closeAll says QUIT on every connection and the server sees them all closed', async () => {
    const s = await serve();
    pool = new SmtpConnectionPool({ maxConnections: 3 });
    const at = params(s.port);
    const conns = await Promise.all([pool.getConnection(at), pool.getConnection(at), pool.getConnection(at)]);
    for (const c of conns) pool.releaseConnection(c);
    await pool.closeAll();
    expect(conns.every((c: SmtpConnection) => c.isBroken)).toBe(true);
    for (let i = 0; i < 50 && s.open > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(s.open).toBe(0);
  });
});
