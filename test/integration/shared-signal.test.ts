/**
 * One AbortSignal shared by many sends at once (an application's shutdown signal) is a normal use: it must not
 * set off Node's MaxListenersExceededWarning, and aborting it still ends every send.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpConnectionPool, SmtpProtocolHandler } from '../../src/index.js';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';

let server: ScriptedSmtpServer | undefined;
let handler: SmtpProtocolHandler | undefined;
afterEach(async () => {
  await handler?.close();
  await server?.close();
});

describe('a signal shared by many sends', () => {
  it('40 sends at once with one signal: no MaxListenersExceededWarning; all delivered', async () => {
    server = await startScriptedServer({ script: [{ on: 'DATA_END', delay: 50 }] });
    handler = new SmtpProtocolHandler({ hostname: '127.0.0.1', port: server.port, encryption: 'none', poolSize: 4 });
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const { signal } = new AbortController();
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          handler!.sendMessage({
            fromAddress: 'a@sender.example',
            toAddresses: ['b@rcpt.example'],
            subject: `m${i}`,
            textBody: 'x',
            signal,
          }),
        ),
      );
      expect(results.every((r) => r.status === 'success')).toBe(true);
      // Node emits its warnings on the next tick.
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning'))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('the engine alone: 20 connections of a pool checked out and used with one signal, no warning', async () => {
    server = await startScriptedServer();
    const pool = new SmtpConnectionPool({ maxConnections: 2 });
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const { signal } = new AbortController();
      const params = { host: '127.0.0.1', port: server.port, encryption: 'none' as const };
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          const conn = await pool.getConnection(params, { signal });
          try {
            await conn.noop({ signal });
          } finally {
            pool.releaseConnection(conn);
          }
        }),
      );
      await new Promise((r) => setImmediate(r));
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      await pool.closeAll();
    }
  });

  it('aborting the shared signal ends every send waiting on it', async () => {
    server = await startScriptedServer({ script: [{ on: 'DATA_END', delay: 2000 }] });
    handler = new SmtpProtocolHandler({ hostname: '127.0.0.1', port: server.port, encryption: 'none', poolSize: 2 });
    const ac = new AbortController();
    const sends = Array.from({ length: 20 }, () =>
      handler!.sendMessage({
        fromAddress: 'a@sender.example',
        toAddresses: ['b@rcpt.example'],
        subject: 's',
        textBody: 'x',
        signal: ac.signal,
      }),
    );
    setTimeout(() => ac.abort(new Error('shutdown')), 200);
    const results = await Promise.all(sends);
    // Each ends: the two whose dot left are UNKNOWN (never retried), the rest failed without a send.
    expect(results.every((r) => r.status !== 'success')).toBe(true);
  });
});
