/**
 * Results that are true end to end (issue 23), through SmtpProtocolHandler and the scripted server: a 4xx at
 * RCPT gets a follow-up transaction to that recipient alone; UNKNOWN keeps a 550 known before the dot; a caller's
 * abort after the hand-over ends its own wait only (the message pipelined behind it is delivered and reported
 * truly); an LMTP server that sends too few per-recipient replies is never credited with the next reply.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpProtocolHandler, type SmtpProtocolHandlerOptions } from '../../src/send/handler.js';
import { type ScriptedSmtpServer, type ScriptRule, startScriptedServer } from '../../src/testing/index.js';

let server: ScriptedSmtpServer | undefined;
let handler: SmtpProtocolHandler | undefined;
afterEach(async () => {
  await handler?.close();
  await server?.close();
  handler = undefined;
  server = undefined;
});

async function setup(script: ScriptRule[], extra: Partial<SmtpProtocolHandlerOptions> = {}, lmtp = false) {
  server = await startScriptedServer({ script, ...(lmtp ? { lmtp: true } : {}) });
  handler = new SmtpProtocolHandler({
    hostname: '127.0.0.1',
    port: server.port,
    encryption: 'none',
    retryPolicy: { delays: [10], jitter: 0 },
    ...(lmtp ? { protocol: 'lmtp' as const } : {}),
    ...extra,
  });
  return handler;
}

const msg = (to: string[], subject = 's') => ({
  fromAddress: 'from@x.example',
  toAddresses: to,
  subject,
  textBody: 'b',
});

describe('results that are true', () => {
  it('4xx at RCPT for one recipient: a follow-up transaction to that one alone, on the same policy', async () => {
    const h = await setup([{ on: 'RCPT', match: /busy@/, reply: '450 4.2.1 Busy', times: 2 }]);
    const result = await h.sendMessage(msg(['a@x.example', 'busy@x.example']));
    expect(result).toMatchObject({ status: 'success', retryCount: 2, isRetryable: false });
    expect(result.deliveredRecipients).toEqual(['a@x.example', 'busy@x.example']);
    expect(result.recipientFailures).toEqual({});
    expect(server!.messages.map((m) => m.rcptTo)).toEqual([['a@x.example'], ['busy@x.example']]);
  });

  it('UNKNOWN (dropped after the dot) keeps the 550 known before the dot', async () => {
    const h = await setup([
      { on: 'RCPT', match: /gone@/, reply: '550 5.1.1 No such user' },
      { on: 'DATA_END', action: 'drop' },
    ]);
    const result = await h.sendMessage(msg(['a@x.example', 'gone@x.example']));
    expect(result.status).toBe('unknown');
    expect(result.recipientFailures).toEqual({ 'gone@x.example': '550 5.1.1 No such user' });
    expect(result.acceptedRecipients).toEqual(['a@x.example']);
    expect(result.deliveredRecipients).toEqual([]);
  });

  it('an abort after the hand-over ends that caller’s wait only: the message pipelined behind is delivered', async () => {
    const h = await setup([{ on: 'DATA_END', delay: 300, once: true }], { poolSize: 1 });
    const ac = new AbortController();
    const first = h.sendMessage({
      ...msg(['a@x.example'], 'first'),
      signal: ac.signal,
      onBeforeHandOver: () => void setTimeout(() => ac.abort(), 50),
    });
    const second = h.sendMessage(msg(['b@x.example'], 'second'));
    const [r1, r2] = await Promise.all([first, second]);
    expect(r1.status).toBe('unknown');
    expect(r1.error?.messageHandedOver).toBe(true);
    expect(r2).toMatchObject({ status: 'success', retryCount: 0 });
    // One connection carried both; the server took both.
    expect(server!.sessions).toHaveLength(1);
    expect(server!.messages.map((m) => m.accepted)).toEqual([true, true]);
  });

  it('LMTP: too few per-recipient replies never count the next reply as a delivery', async () => {
    const h = await setup(
      [{ on: 'LMTP_RCPT', match: /^short@/, raw: '' }],
      { poolSize: 1, timeouts: { finalReply: 400 } },
      true,
    );
    const [r1, r2] = await Promise.all([
      h.sendMessage(msg(['a@x.example', 'short@x.example'], 'first')),
      h.sendMessage(msg(['b@x.example'], 'second')),
    ]);
    expect(r1.status).toBe('unknown');
    expect(r1.deliveredRecipients).toEqual(['a@x.example']);
    expect(r1.deliveredRecipients).not.toContain('short@x.example');
    expect(r2).toMatchObject({ status: 'success', deliveredRecipients: ['b@x.example'] });
    expect(server!.messages.filter((m) => m.data.toString().includes('Subject: second'))).toHaveLength(1);
  });

  it('LMTP: a caller leaving after the hand-over does not let the next message read its missing replies', async () => {
    const h = await setup(
      [{ on: 'LMTP_RCPT', match: /^short@/, raw: '' }],
      { poolSize: 1, timeouts: { finalReply: 400 } },
      true,
    );
    const ac = new AbortController();
    const first = h.sendMessage({
      ...msg(['a@x.example', 'short@x.example'], 'first'),
      signal: ac.signal,
      onBeforeHandOver: () => void setTimeout(() => ac.abort(), 50),
    });
    const second = h.sendMessage(msg(['b@x.example'], 'second'));
    const [r1, r2] = await Promise.all([first, second]);
    expect(r1.status).toBe('unknown');
    expect(r2).toMatchObject({ status: 'success', deliveredRecipients: ['b@x.example'] });
    expect(server!.messages.filter((m) => m.data.toString().includes('Subject: second'))).toHaveLength(1);
  });

  it('result keys are the address part as the caller wrote it (no display name), for every recipient list', async () => {
    const h = await setup([
      { on: 'RCPT', match: /gone@/i, reply: '550 5.1.1 No such user' },
      { on: 'RCPT', match: /busy@/i, reply: '450 4.2.1 Busy' },
    ]);
    const result = await h.sendMessage({
      ...msg(['"Doe, John" <John@Example.org>', 'Gone@Example.org']),
      ccAddresses: [{ name: 'Busy', address: 'Busy@Example.org' }],
      retry: false,
    });
    expect(result.status).toBe('success');
    expect(result.deliveredRecipients).toEqual(['John@Example.org']);
    expect(Object.keys(result.recipientFailures).sort()).toEqual(['Busy@Example.org', 'Gone@Example.org']);
    expect(result.pendingRecipients).toEqual(['Busy@Example.org']);
    const raw = await h.sendRaw(
      { from: 'from@x.example', to: ['"Gone" <Gone@Example.org>', 'John@Example.org'] },
      'From: from@x.example\r\nSubject: raw\r\n\r\nb\r\n',
    );
    expect(Object.keys(raw.recipientFailures)).toEqual(['Gone@Example.org']);
    expect(raw.deliveredRecipients).toEqual(['John@Example.org']);
  });

  it('a factory body that is a plain async iterator is closed (return()) when its attempt ends before DATA', async () => {
    const h = await setup([{ on: 'MAIL', reply: '550 5.7.1 Sender refused' }]);
    let opened = 0;
    let closed = 0;
    // What a caller's factory may give: an iterator over a resource it opened (a file, a cursor), closed by return().
    const factory = () => {
      opened++;
      let sent = false;
      return {
        [Symbol.asyncIterator]() {
          return this;
        },
        async next() {
          if (sent) return { done: true as const, value: undefined };
          sent = true;
          return { done: false as const, value: 'From: from@x.example\r\nSubject: it\r\n\r\nb\r\n' };
        },
        async return() {
          closed++;
          return { done: true as const, value: undefined };
        },
      };
    };
    const result = await h.sendRaw({ from: 'from@x.example', to: ['a@x.example'] }, factory as never);
    expect(result.status).toBe('rejected');
    expect(opened).toBe(1);
    expect(closed).toBe(1);
  });
});
