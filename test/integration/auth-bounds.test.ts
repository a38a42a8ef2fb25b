/**
 * Local steps of AUTH are bounded (issue 23): a token provider that never answers ends in a timeout instead of
 * hanging the send; a SCRAM iteration count past the cap is refused at once; concurrent logins with one salt run
 * one PBKDF2 between them (the thread pool is not stalled); an abort during the key derivation is honoured at once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SCRAM_MAX_ITERATIONS, scramPbkdf2Runs } from '../../src/protocol/sasl/scram.js';
import { SmtpProtocolHandler } from '../../src/send/handler.js';
import { type ScriptedServerOptions, type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';
import { SmtpConnection } from '../../src/transport/connection.js';

const servers: ScriptedSmtpServer[] = [];
const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(options: ScriptedServerOptions) {
  const s = await startScriptedServer({ users: { alice: 'wonderland' }, ...options });
  servers.push(s);
  return s;
}

function connection(s: ScriptedSmtpServer) {
  const conn = new SmtpConnection({ host: '127.0.0.1', port: s.port, encryption: 'none' });
  closers.push(() => conn.destroy());
  return conn;
}

/** Fails the test instead of hanging it (today's code waits forever). */
function within<T>(ms: number, p: Promise<T>): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms)),
  ]);
}

describe('AUTH local steps are bounded', () => {
  it('an accessToken provider that never resolves: a timeout, not a hang', async () => {
    const s = await server({ authMechanisms: ['XOAUTH2'] });
    const handler = new SmtpProtocolHandler({
      hostname: '127.0.0.1',
      port: s.port,
      encryption: 'none',
      username: 'alice',
      accessToken: () => new Promise<string>(() => {}),
      timeouts: { command: 300 },
      retryPolicy: { maxRetries: 0 },
    });
    closers.push(() => handler.close());
    const result = await within(
      3000,
      handler.sendMessage({ fromAddress: 'a@x.example', toAddresses: ['b@x.example'], subject: 's', textBody: 'b' }),
    );
    expect(result.status).toBe('temp_failed');
    expect(result.error?.name).toBe('TimeoutError');
    expect(result.smtpError).toContain('accessToken provider');
  });

  it(`a SCRAM iteration count above ${SCRAM_MAX_ITERATIONS} is refused before any key stretching`, async () => {
    const s = await server({ authMechanisms: ['SCRAM-SHA-256'], scramIterations: 10_000_000 });
    const conn = connection(s);
    await conn.connect();
    const runs = scramPbkdf2Runs();
    const started = performance.now();
    await expect(conn.login({ username: 'alice', password: 'wonderland' })).rejects.toMatchObject({
      code: 'ERR_SMTP_AUTH_CHALLENGE',
    });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(scramPbkdf2Runs()).toBe(runs);
  });

  it('8 logins at once with the same salt run one PBKDF2 between them', async () => {
    const s = await server({ authMechanisms: ['SCRAM-SHA-256'], scramIterations: 200_000, hostname: 'eight.test' });
    const conns = Array.from({ length: 8 }, () => connection(s));
    await Promise.all(conns.map((c) => c.connect()));
    const runs = scramPbkdf2Runs();
    await Promise.all(conns.map((c) => c.login({ username: 'alice', password: 'wonderland' })));
    expect(conns.every((c) => c.authenticated)).toBe(true);
    expect(scramPbkdf2Runs() - runs).toBe(1);
  });

  it('an abort during the key derivation ends the login at once', async () => {
    const s = await server({
      authMechanisms: ['SCRAM-SHA-256'],
      scramIterations: SCRAM_MAX_ITERATIONS,
      hostname: 'abort.test',
    });
    const conn = connection(s);
    await conn.connect();
    const ac = new AbortController();
    const login = conn.login({ username: 'alice', password: 'wonderland' }, { signal: ac.signal });
    const runs = scramPbkdf2Runs();
    // Abort once the derivation has started (the server's challenge arrived).
    await within(
      3000,
      (async () => {
        while (scramPbkdf2Runs() === runs) await new Promise((r) => setTimeout(r, 2));
      })(),
    );
    const aborted = performance.now();
    ac.abort();
    await expect(login).rejects.toMatchObject({ code: 'ERR_SMTP_ABORTED' });
    expect(performance.now() - aborted).toBeLessThan(100);
  });
});
