/**
 * SmtpProtocolHandler end to end: validation, MIME, pool, retry and the DeliveryResult it returns.
 */
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DeliveryResult,
  InvalidArgumentError,
  SmtpDeliveryStatus,
  SmtpProtocolHandler,
  type SmtpProtocolHandlerOptions,
} from '../../src/index.js';
import { type ScriptedSmtpServer, type ScriptRule, startScriptedServer } from '../../src/testing/index.js';
import { startSmtpServer, type TestServer } from '../helpers/smtp-server.js';

const fast = { delays: [5, 10, 20], jitter: 0 };
let scripted: ScriptedSmtpServer | undefined;
let real: TestServer | undefined;
const handlers: SmtpProtocolHandler[] = [];

afterEach(async () => {
  for (const h of handlers.splice(0)) await h.close();
  await scripted?.close();
  await real?.close();
  scripted = undefined;
  real = undefined;
});

async function withScript(
  rules: ScriptRule[],
  options: Partial<SmtpProtocolHandlerOptions> = {},
  server: Parameters<typeof startScriptedServer>[0] = {},
) {
  scripted = await startScriptedServer({ ...server, script: rules });
  const handler = new SmtpProtocolHandler({
    hostname: '127.0.0.1',
    port: scripted.port,
    encryption: 'none',
    fromAddress: 'sender@example.com',
    retryPolicy: fast,
    ...options,
  });
  handlers.push(handler);
  return { server: scripted, handler };
}

const msg = { toAddresses: ['rcpt@example.com'], subject: 'Hello', textBody: 'Body' };

describe('sendMessage outcomes', () => {
  it('succeeds and returns the Message-ID the server received', async () => {
    const { server, handler } = await withScript([]);
    const result = await handler.sendMessage(msg);
    expect(result).toBeInstanceOf(DeliveryResult);
    expect(result.status).toBe(SmtpDeliveryStatus.SUCCESS);
    expect(result.smtpCode).toBe(250);
    expect(result.sentAt).toBeInstanceOf(Date);
    expect(result.retryCount).toBe(0);
    const parsed = await simpleParser(server.messages[0]!.data);
    expect(parsed.messageId).toBe(result.messageId);
    expect(result.messageId).toMatch(/^<[^@>]+@example\.com>$/);
  });

  it('retries 451 twice and then succeeds, reporting retryCount 2', async () => {
    const { server, handler } = await withScript([{ on: 'DATA_END', reply: '451 4.3.0 Try again later', times: 2 }]);
    const result = await handler.sendMessage(msg);
    expect(result.status).toBe('success');
    expect(result.retryCount).toBe(2);
    expect(server.messages.filter((m) => m.accepted)).toHaveLength(1);
    expect(new Set(server.messages.map((m) => m.data.toString())).size).toBe(1);
  });

  it('does not retry a 550 after the data: FAILED, retryCount 0', async () => {
    const { server, handler } = await withScript([{ on: 'DATA_END', reply: '550 5.7.1 Content rejected' }]);
    const result = await handler.sendMessage(msg);
    expect(result).toMatchObject({
      status: 'failed',
      smtpCode: 550,
      enhancedCode: '5.7.1',
      retryCount: 0,
      isRetryable: false,
    });
    expect(server.messages).toHaveLength(1);
  });

  it('reports UNKNOWN with the Message-ID when the connection dies after the final dot, and never resends', async () => {
    const { server, handler } = await withScript([{ on: 'DATA_END', action: 'drop' }]);
    const result = await handler.sendMessage(msg);
    expect(result.status).toBe(SmtpDeliveryStatus.UNKNOWN);
    expect(result.messageId).toMatch(/^<.+>$/);
    expect(result.error?.code).toBe('ERR_SMTP_OUTCOME_UNKNOWN');
    await new Promise((r) => setTimeout(r, 50));
    expect(server.messages).toHaveLength(1);
    expect(server.connectionCount).toBe(1);
  });

  it('awaits onBeforeHandOver before the final dot, once per attempt that reaches it', async () => {
    const { server, handler } = await withScript([]);
    const seen: number[] = [];
    const result = await handler.sendMessage({
      ...msg,
      onBeforeHandOver: async () => {
        seen.push(server.messages.length);
        await new Promise((r) => setTimeout(r, 20));
      },
    });
    expect(result.status).toBe(SmtpDeliveryStatus.SUCCESS);
    // Called while the server had stored nothing yet: the dot had not left.
    expect(seen).toEqual([0]);
    expect(server.messages).toHaveLength(1);
  });

  it('a refusing onBeforeHandOver sends no final dot: FAILED, not retried, nothing stored', async () => {
    for (const chunking of [false, true]) {
      const { server, handler } = await withScript([], { chunking });
      let calls = 0;
      const result = await handler.sendRaw(
        { from: 'sender@example.com', to: ['rcpt@example.com'] },
        'Subject: x\r\n\r\nbody\r\n',
        {
          onBeforeHandOver: () => {
            calls++;
            throw new Error('redis down');
          },
        },
      );
      expect(result.status).toBe(SmtpDeliveryStatus.FAILED);
      expect(result.error?.code).toBe('ERR_SMTP_HANDOVER_REFUSED');
      expect(result.error?.messageHandedOver).toBe(false);
      expect(calls).toBe(1);
      await new Promise((r) => setTimeout(r, 30));
      expect(server.messages).toHaveLength(0);
      await handler.close();
      await server.close();
    }
  });

  it('retries a 421 greeting and ends TEMP_FAILED, retryable, after the retries', async () => {
    const { server, handler } = await withScript([{ on: 'GREETING', reply: '421 4.3.2 Too busy' }]);
    const result = await handler.sendMessage(msg);
    expect(result).toMatchObject({ status: 'temp_failed', isRetryable: true, retryCount: 3, smtpCode: 421 });
    expect(server.connectionCount).toBe(4);
  });

  it('retries a one-shot stream attachment when the failed attempt never read it', async () => {
    const { Readable } = await import('node:stream');
    const { server, handler } = await withScript([{ on: 'GREETING', reply: '421 4.3.2 Busy', once: true }]);
    const attachment = Readable.from([Buffer.from('streamed attachment bytes')]);
    const result = await handler.sendMessage({ ...msg, attachments: [{ filename: 'a.txt', content: attachment }] });
    expect(result).toMatchObject({ status: 'success', retryCount: 1 });
    const parsed = await simpleParser(server.messages[0]!.data);
    expect(parsed.attachments[0]!.content.toString()).toBe('streamed attachment bytes');
  });

  it('does not resend a one-shot stream that a failed attempt consumed', async () => {
    const { Readable } = await import('node:stream');
    const { server, handler } = await withScript([{ on: 'DATA_END', reply: '451 4.3.0 Try later' }]);
    const attachment = Readable.from([Buffer.from('once')]);
    const result = await handler.sendMessage({ ...msg, attachments: [{ filename: 'a.txt', content: attachment }] });
    expect(result).toMatchObject({ status: 'temp_failed', isRetryable: true, retryCount: 0 });
    expect(server.messages).toHaveLength(1);
  });

  it('with retry off, a temporary failure is RETRY and attempted once', async () => {
    const { server, handler } = await withScript([{ on: 'MAIL', reply: '451 4.7.1 Greylisted' }]);
    const result = await handler.sendMessage({ ...msg, retry: false });
    expect(result).toMatchObject({ status: 'retry', isRetryable: true, retryCount: 0, smtpCode: 451 });
    expect(server.commands.filter((c) => c.verb === 'MAIL')).toHaveLength(1);
  });

  it('takes a fresh connection after a 421 mid-session', async () => {
    const { server, handler } = await withScript([{ on: 'MAIL', reply: '421 4.3.2 Going down', once: true }]);
    const result = await handler.sendMessage(msg);
    expect(result).toMatchObject({ status: 'success', retryCount: 1 });
    expect(server.connectionCount).toBe(2);
  });

  it('REJECTED when the sender is refused', async () => {
    const { handler } = await withScript([{ on: 'MAIL', reply: '553 5.7.1 Sender not allowed' }]);
    const result = await handler.sendMessage(msg);
    expect(result).toMatchObject({ status: 'rejected', smtpCode: 553, retryCount: 0 });
  });

  it('REJECTED when every recipient is refused, with each refusal keyed by the caller’s address', async () => {
    const { server, handler } = await withScript([{ on: 'RCPT', reply: '550 5.1.1 No such user' }]);
    const result = await handler.sendMessage({ ...msg, toAddresses: ['"A" <a@example.com>', 'b@example.com'] });
    expect(result.status).toBe('rejected');
    expect(result.recipientFailures).toEqual({
      'a@example.com': '550 5.1.1 No such user',
      'b@example.com': '550 5.1.1 No such user',
    });
    expect(server.messages).toHaveLength(0);
  });

  it('SUCCESS with recipientFailures when some recipients are refused', async () => {
    const { server, handler } = await withScript([{ on: 'RCPT', match: /bad@/, reply: '550 5.1.1 No such user' }]);
    const result = await handler.sendMessage({
      ...msg,
      toAddresses: ['good@example.com'],
      ccAddresses: ['bad@example.com'],
      bccAddresses: ['hidden@example.com'],
    });
    expect(result.status).toBe('success');
    expect(result.recipientFailures).toEqual({ 'bad@example.com': '550 5.1.1 No such user' });
    expect(result.acceptedRecipients).toEqual(['good@example.com', 'hidden@example.com']);
    const parsed = await simpleParser(server.messages[0]!.data);
    expect(parsed.headers.has('bcc')).toBe(false);
    expect(server.messages[0]!.rcptTo).toContain('hidden@example.com');
  });

  it('INVALID, with nothing sent, for header injection or a bad address', async () => {
    const { server, handler } = await withScript([]);
    const results = await Promise.all([
      handler.sendMessage({ ...msg, subject: 'Hi\r\nBcc: victim@example.com' }),
      handler.sendMessage({ ...msg, toAddresses: ['user@example'] }),
      handler.sendMessage({ ...msg, customHeaders: { 'X-Evil': 'a\nb' } }),
      handler.sendMessage({ ...msg, attachments: [{ filename: 'x\r\n.txt', content: 'x' }] }),
    ]);
    for (const r of results) {
      expect(r.status).toBe(SmtpDeliveryStatus.INVALID);
      expect(r.smtpError).toBeTruthy();
    }
    expect(server.connectionCount).toBe(0);
  });

  it('never falls back to plaintext when STARTTLS is required: FAILED, nothing sent', async () => {
    const { server, handler } = await withScript([], { encryption: 'tls' });
    const result = await handler.sendMessage(msg);
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('ERR_SMTP_STARTTLS_UNAVAILABLE');
    expect(server.commands.filter((c) => c.verb === 'MAIL')).toHaveLength(0);
  });

  it('sends a raw message with sendRaw and reads its Message-ID', async () => {
    const { server, handler } = await withScript([]);
    const raw =
      'From: a@example.com\r\nTo: b@example.com\r\nMessage-ID: <raw-1@example.com>\r\nSubject: raw\r\n\r\nraw body\r\n';
    const result = await handler.sendRaw({ from: 'a@example.com', to: ['"B" <b@example.com>'] }, raw);
    expect(result).toMatchObject({ status: 'success', messageId: '<raw-1@example.com>' });
    expect(server.messages[0]!.data.toString()).toBe(raw);
  });

  it('aborts a send waiting for its backoff', async () => {
    const { handler } = await withScript([{ on: 'MAIL', reply: '451 4.7.1 Later' }], {
      retryPolicy: { delays: [10_000], jitter: 0 },
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const t0 = Date.now();
    const result = await handler.sendMessage({ ...msg, signal: controller.signal });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(result.status).not.toBe('success');
    expect(result.error?.code).toBe('ERR_SMTP_ABORTED');
  });
});

describe('connect, testConnection, authenticate, close', () => {
  it('testConnection sends a real NOOP; connect and authenticate report booleans', async () => {
    const { server, handler } = await withScript([], { username: 'alice', password: 'pw' }, { users: { alice: 'pw' } });
    expect(await handler.connect()).toBe(true);
    expect(await handler.authenticate()).toBe(true);
    expect(await handler.testConnection()).toBe(true);
    expect(server.commands.some((c) => c.verb === 'NOOP')).toBe(true);
    expect(server.lastSession!.authUser).toBe('alice');
  });

  it('returns false and keeps the error when the server cannot be reached or refuses the login', async () => {
    const { handler } = await withScript([], { username: 'alice', password: 'wrong' }, { users: { alice: 'pw' } });
    expect(await handler.connect()).toBe(false);
    expect(handler.lastError?.code).toBe('ERR_SMTP_AUTH');
    const nowhere = new SmtpProtocolHandler({ hostname: '127.0.0.1', port: 1, encryption: 'none', retryPolicy: fast });
    handlers.push(nowhere);
    expect(await nowhere.testConnection()).toBe(false);
    expect(nowhere.lastError?.code).toBe('ERR_SMTP_CONNECTION');
  });

  it('close() waits for sends in flight, then QUITs', async () => {
    const { server, handler } = await withScript([{ on: 'DATA_END', delay: 100 }]);
    const pending = handler.sendMessage(msg);
    await new Promise((r) => setTimeout(r, 20));
    await handler.close();
    expect((await pending).status).toBe('success');
    expect(server.commands.some((c) => c.verb === 'QUIT')).toBe(true);
    await expect(handler.sendMessage(msg)).rejects.toMatchObject({ code: 'ERR_SMTP_CLOSED' });
  });

  it('a send refused because close() has begun is not sent anyway', async () => {
    const { server, handler } = await withScript([{ on: 'DATA_END', delay: 100 }]);
    const pending = handler.sendMessage(msg);
    await new Promise((r) => setTimeout(r, 20));
    const closing = handler.close();
    // close() is still waiting for `pending`: the pool is open, yet this send must not go.
    await expect(handler.sendMessage({ ...msg, subject: 'Late' })).rejects.toMatchObject({ code: 'ERR_SMTP_CLOSED' });
    await closing;
    expect((await pending).status).toBe('success');
    expect(server.messages).toHaveLength(1);
    expect(server.commands.filter((c) => c.verb === 'MAIL')).toHaveLength(1);
  });

  it('validates options eagerly, naming the field', () => {
    const bad: [Partial<SmtpProtocolHandlerOptions>, string][] = [
      [{ hostname: '' }, 'hostname'],
      [{ port: 70000 }, 'port'],
      [{ encryption: 'starttls' as never }, 'encryption'],
      [{ poolSize: 0 }, 'poolSize'],
      [{ password: 'x' }, 'username'],
      [{ timeouts: { command: -1 } }, 'timeouts.command'],
      [{ retryPolicy: { maxRetries: -1 } }, 'retryPolicy.maxRetries'],
      [{ limits: { maxRecipients: 0 } }, 'limits.maxRecipients'],
      [{ authMethod: 'NTLM' as never }, 'authMethod'],
      [{ fromAddress: 'not an address' }, 'fromAddress'],
    ];
    for (const [options, field] of bad) {
      let error: unknown;
      try {
        new SmtpProtocolHandler({ hostname: 'smtp.example.com', ...options });
      } catch (err) {
        error = err;
      }
      expect(error, field).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).field).toBe(field);
    }
  });
});

describe('DeliveryResult', () => {
  it('serialises like the reference to_dict(): snake_case, ISO dates', () => {
    const sentAt = new Date('2026-01-02T03:04:05.000Z');
    const r = new DeliveryResult({
      status: 'success',
      messageId: '<a@b>',
      smtpCode: 250,
      sentAt,
      recipientFailures: { 'x@y.example': '550 no' },
      retryCount: 1,
    });
    expect(r.toJSON()).toMatchObject({
      status: 'success',
      message_id: '<a@b>',
      smtp_code: 250,
      smtp_error: null,
      recipient_failures: { 'x@y.example': '550 no' },
      sent_at: '2026-01-02T03:04:05.000Z',
      retry_count: 1,
      is_retryable: false,
    });
    expect(JSON.parse(JSON.stringify(r)).sent_at).toBe('2026-01-02T03:04:05.000Z');
  });
});

describe('the pool under load (smtp-server)', () => {
  it('delivers 1,000 messages through a pool of 4 exactly once each, never over 4 connections', async () => {
    real = await startSmtpServer();
    const handler = new SmtpProtocolHandler({
      hostname: '127.0.0.1',
      port: real.port,
      encryption: 'none',
      poolSize: 4,
      fromAddress: 's@example.com',
      retryPolicy: fast,
    });
    handlers.push(handler);
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        handler.sendMessage({ toAddresses: [`r${i}@example.com`], subject: `n${i}`, textBody: `message ${i}` }),
      ),
    );
    expect(results.filter((r) => r.status !== 'success')).toEqual([]);
    const ids = real.messages.map((m) => /^Message-ID: (.+)$/im.exec(m.raw.toString())?.[1]);
    expect(real.messages).toHaveLength(1000);
    expect(new Set(ids).size).toBe(1000);
    expect(new Set(results.map((r) => r.messageId))).toEqual(new Set(ids));
    expect(real.maxOpen).toBeLessThanOrEqual(4);
  });
});
