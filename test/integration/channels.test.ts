/**
 * The diagnostics channels as the README's table documents them: names, payload keys, order, and
 * nothing published (no payload built) without a subscriber.
 */
import diagnostics from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { CHANNEL_NAMES, SmtpProtocolHandler } from '../../src/index.js';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';
import { channels } from '../../src/util/channels.js';

let server: ScriptedSmtpServer | undefined;
const undo: (() => void)[] = [];
afterEach(async () => {
  for (const fn of undo.splice(0)) fn();
  await server?.close();
  server = undefined;
});

type Seen = { name: string; message: Record<string, unknown> };

/** Subscribes to every channel; returns the events in order, `tracing:x:phase` for tracing ones. */
function record(): Seen[] {
  const seen: Seen[] = [];
  const tracing = ['send', 'dkimSign', 'attempt', 'poolAcquire', 'connect', 'auth'] as const;
  for (const key of Object.keys(CHANNEL_NAMES) as (keyof typeof CHANNEL_NAMES)[]) {
    const name = CHANNEL_NAMES[key];
    if ((tracing as readonly string[]).includes(key)) {
      const handlers = Object.fromEntries(
        (['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const).map((phase) => [
          phase,
          (message: unknown) => seen.push({ name: `tracing:${name}:${phase}`, message: { ...(message as object) } }),
        ]),
      );
      const tc = diagnostics.tracingChannel(name);
      tc.subscribe(handlers as never);
      undo.push(() => tc.unsubscribe(handlers as never));
    } else {
      const fn = (message: unknown): void => void seen.push({ name, message: message as Record<string, unknown> });
      diagnostics.subscribe(name, fn);
      undo.push(() => diagnostics.unsubscribe(name, fn));
    }
  }
  return seen;
}

describe('diagnostics channels', () => {
  it('a send with one retry: every stage in order, with the documented payloads', async () => {
    server = await startScriptedServer({ script: [{ on: 'RCPT', reply: '451 4.2.0 Greylisted', once: true }] });
    const seen = record();
    const h = new SmtpProtocolHandler({
      hostname: '127.0.0.1',
      port: server.port,
      encryption: 'none',
      retryPolicy: { maxRetries: 1, delays: [5], jitter: 0 },
    });
    const result = await h.sendMessage({
      fromAddress: 'a@a.example',
      toAddresses: ['b@b.example'],
      subject: 's',
      textBody: 'x',
    });
    await h.close();
    expect(result.status).toBe('success');
    // Protocol lines (smtpwire:transcript) and the synchronous `end` / `asyncStart` of tracing calls aside.
    const names = seen
      .map((s) => s.name)
      .filter((n) => n !== 'smtpwire:transcript' && !/^tracing:.*:(end|asyncStart)$/.test(n))
      .map((n) => n.replace(/^tracing:/, ''));
    expect(names).toEqual([
      'smtpwire:send:start',
      'smtpwire:send:prepared',
      'smtpwire:attempt:start',
      'smtpwire:pool:acquire:start',
      'smtpwire:connection:connect:start',
      'smtpwire:connection:connected',
      'smtpwire:connection:connect:asyncEnd',
      'smtpwire:pool:acquire:asyncEnd',
      'smtpwire:transaction:reply', // MAIL 250
      'smtpwire:transaction:reply', // RCPT 451
      'smtpwire:transaction:end',
      'smtpwire:pool:release',
      'smtpwire:attempt:asyncEnd',
      'smtpwire:attempt:retry',
      'smtpwire:attempt:start',
      'smtpwire:pool:acquire:start',
      'smtpwire:pool:acquire:asyncEnd',
      'smtpwire:transaction:reply', // MAIL
      'smtpwire:transaction:reply', // RCPT
      'smtpwire:transaction:reply', // DATA 354
      'smtpwire:pool:release', // released at the hand-over, before the final reply
      'smtpwire:transaction:reply', // FINAL 250
      'smtpwire:transaction:end',
      'smtpwire:attempt:asyncEnd',
      'smtpwire:send:asyncEnd',
      'smtpwire:connection:closed', // close(): QUIT
    ]);
    const of = (name: string) => seen.filter((s) => s.name.replace(/^tracing:/, '') === name).map((s) => s.message);
    expect(seen.filter((s) => s.name === 'smtpwire:transcript').length).toBeGreaterThan(10);
    expect(of('smtpwire:send:start')[0]).toEqual({
      kind: 'message',
      host: '127.0.0.1',
      port: server.port,
    });
    const prepared = of('smtpwire:send:prepared')[0]!;
    expect(Object.keys(prepared).sort()).toEqual(['messageId', 'recipients', 'size']);
    expect(prepared).toMatchObject({ messageId: result.messageId, recipients: 1 });
    expect(of('smtpwire:attempt:start').map((m) => m.attempt)).toEqual([0, 1]);
    expect(of('smtpwire:attempt:start')[0]).toEqual({ host: '127.0.0.1', attempt: 0, messageId: result.messageId });
    expect(of('smtpwire:attempt:retry')[0]).toMatchObject({ host: '127.0.0.1', attempt: 1, delayMs: 5 });
    const replies = of('smtpwire:transaction:reply').map((m) => [
      m.command,
      (m.reply as { code: number }).code,
      m.recipient,
    ]);
    expect(replies).toEqual([
      ['MAIL', 250, undefined],
      ['RCPT', 451, 'b@b.example'],
      ['MAIL', 250, undefined],
      ['RCPT', 250, 'b@b.example'],
      ['DATA', 354, undefined],
      ['FINAL', 250, undefined],
    ]);
    const ends = of('smtpwire:transaction:end');
    expect(ends[0]).toMatchObject({ host: '127.0.0.1', error: null, handedOverAt: 0 });
    expect(ends[1]!.handedOverAt).toBeGreaterThan(0);
    expect((ends[1]!.outcome as { bytesSent: number }).bytesSent).toBeGreaterThan(0);
    expect(of('smtpwire:pool:release').map((m) => m.parked)).toEqual([true, true]);
    const sendEnd = of('smtpwire:send:asyncEnd')[0]!;
    expect(sendEnd.result).toBe(result);
  });

  it('LMTP: one FINAL reply per recipient, each naming it', async () => {
    server = await startScriptedServer({
      lmtp: true,
      script: [{ on: 'LMTP_RCPT', match: /c@/, reply: '452 4.2.2 Full' }],
    });
    const seen = record();
    const h = new SmtpProtocolHandler({
      hostname: '127.0.0.1',
      port: server.port,
      encryption: 'none',
      protocol: 'lmtp',
      retryPolicy: { maxRetries: 0 },
    });
    await h.sendRaw({ from: 'a@a.example', to: ['b@b.example', 'c@b.example'] }, 'Subject: x\r\n\r\nx\r\n', {
      retry: false,
    });
    await h.close();
    const finals = seen
      .filter((s) => s.name === 'smtpwire:transaction:reply' && s.message.command === 'FINAL')
      .map((s) => [s.message.recipient, (s.message.reply as { code: number }).code]);
    expect(finals).toEqual([
      ['b@b.example', 250],
      ['c@b.example', 452],
    ]);
  });

  it('without a subscriber nothing is published', async () => {
    server = await startScriptedServer();
    for (const name of Object.values(CHANNEL_NAMES)) {
      expect(diagnostics.channel(name).hasSubscribers, name).toBe(false);
    }
    expect(channels.send.hasSubscribers).toBe(false);
    // A spy on publish sees no call during a whole send (the guards keep payloads from being built).
    const calls: string[] = [];
    const plain = Object.entries(channels).filter(([, c]) => c instanceof diagnostics.Channel) as [
      string,
      diagnostics.Channel,
    ][];
    const originals = plain.map(([key, c]) => {
      const original = c.publish.bind(c);
      c.publish = (m: unknown) => {
        calls.push(key);
        original(m);
      };
      // Restored by removing the own property: the prototype's publish (active or not) shows through again.
      return () => {
        delete (c as { publish?: unknown }).publish;
      };
    });
    undo.push(...originals);
    const h = new SmtpProtocolHandler({ hostname: '127.0.0.1', port: server.port, encryption: 'none' });
    expect((await h.sendRaw({ from: 'a@a.example', to: ['b@b.example'] }, 'Subject: x\r\n\r\nx\r\n')).status).toBe(
      'success',
    );
    await h.close();
    expect(calls).toEqual([]);
  });
});
