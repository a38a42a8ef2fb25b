/**
 * Issue 10: one owner per rule, so the four doors agree. Each row is a bad (or once-disputed) input
 * walked through SmtpMessageValidator, buildMessage, sendMessage and sendRaw: same verdict, same code.
 * Plus the send-path additions: response, UNKNOWN keeps acceptedRecipients, the envelope option,
 * unknown keys, timings, and what sendRaw does with a stream it cannot read ahead.
 */
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  SmtpDeliveryStatus,
  SmtpMessageValidator,
  SmtpProtocolHandler,
  type SmtpProtocolHandlerOptions,
} from '../../src/index.js';
import { buildMessage } from '../../src/message/mime/index.js';
import type { MessageInput } from '../../src/message/types.js';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';
import { SmtpConnection } from '../../src/transport/connection.js';

const FROM = 'sender@example.com';
const base: MessageInput = { toAddresses: ['rcpt@example.com'], subject: 'Hi', textBody: 'Body' };

interface Row {
  name: string;
  /** Patch on `base` for validator, builder and sendMessage; null when not applicable. */
  message: Partial<MessageInput> | null;
  /** The sendRaw call; null when not applicable. */
  raw: { from?: string; to?: string[]; body?: string } | null;
  /** Expected code, or null for "valid". */
  code: string | null;
  /** The builder does not own this rule (a limit of the handler/validator): skip it there. */
  builderOwns?: boolean;
}

const rows: Row[] = [
  {
    name: 'CR/LF in a recipient',
    message: { toAddresses: ['a@b.example\r\nBcc: x@y.example'] },
    raw: { to: ['a@b.example\r\nBcc: x@y.example'] },
    code: 'ERR_SMTP_HEADER_INJECTION',
  },
  {
    name: 'CR/LF in the subject',
    message: { subject: 'Hi\r\nBcc: evil@example.com' },
    raw: null,
    code: 'ERR_SMTP_HEADER_INJECTION',
  },
  {
    name: 'a sender that is not an address',
    message: { fromAddress: 'nobody' },
    raw: { from: 'nobody' },
    code: 'ERR_SMTP_INVALID_ADDRESS',
  },
  {
    name: 'a group of recipients (once refused by the validator only)',
    message: { toAddresses: ['Team: a@x.example, b@x.example;'] },
    raw: { to: ['Team: a@x.example, b@x.example;'] },
    code: null,
  },
  {
    name: 'cid with angle brackets (once refused by the validator only)',
    message: { htmlBody: '<img src="cid:logo">', attachments: [{ filename: 'l.png', data: 'aGk=', cid: '<logo>' }] },
    raw: null,
    code: null,
  },
  {
    name: 'a content type with a garbage parameter (once accepted by the validator)',
    message: { attachments: [{ filename: 'a.txt', data: 'aGk=', contentType: 'text/plain; garbage' }] },
    raw: null,
    code: 'ERR_SMTP_INVALID_ATTACHMENT',
  },
  {
    name: 'a header name with a space',
    message: { customHeaders: { 'X Bad': 'v' } },
    raw: null,
    code: 'ERR_SMTP_INVALID_HEADER',
  },
  {
    name: 'a header the builder writes itself',
    message: { customHeaders: { Subject: 'again' } },
    raw: null,
    code: 'ERR_SMTP_INVALID_HEADER',
  },
  {
    name: 'attachment data that is not base64',
    message: { attachments: [{ filename: 'x', data: 'not base64!' }] },
    raw: null,
    code: 'ERR_SMTP_INVALID_ATTACHMENT',
  },
  {
    name: 'an attachment with two sources',
    message: { attachments: [{ filename: 'x', data: 'aGk=', content: 'hi' }] },
    raw: null,
    code: 'ERR_SMTP_INVALID_ATTACHMENT',
  },
  {
    name: 'a domain without a TLD (a limit)',
    message: { toAddresses: ['user@example'] },
    raw: { to: ['user@example'] },
    code: 'ERR_SMTP_INVALID_ADDRESS',
    builderOwns: false,
  },
  {
    name: 'a 999-octet line in a raw message (once FAILED although nothing was sent)',
    message: { textBody: `${'x'.repeat(999)}\n` },
    raw: { body: `Subject: long\r\n\r\n${'x'.repeat(999)}\r\n` },
    code: 'ERR_SMTP_BODY_LINE_TOO_LONG',
  },
];

let server: ScriptedSmtpServer;
let handler: SmtpProtocolHandler;

beforeAll(async () => {
  server = await startScriptedServer();
  handler = new SmtpProtocolHandler({
    hostname: '127.0.0.1',
    port: server.port,
    encryption: 'none',
    fromAddress: FROM,
    retryPolicy: { maxRetries: 0 },
  });
});
afterAll(async () => {
  await handler.close();
  await server.close();
});

describe('the agreement table: validator, buildMessage, sendMessage and sendRaw', () => {
  it.each(rows)('$name', async (row) => {
    const delivered = server.messages.length;
    if (row.message !== null) {
      const input = { ...base, ...row.message } as MessageInput;
      const v = SmtpMessageValidator.validateMessage(input);
      const sent = await handler.sendMessage(input);
      let builtCode: string | null = null;
      try {
        buildMessage({ fromAddress: FROM, ...input });
      } catch (err) {
        builtCode = (err as { code: string }).code;
      }
      // A long text line is not bad for a built message: the builder encodes it. Only raw bytes can be.
      const messageCode = row.code === 'ERR_SMTP_BODY_LINE_TOO_LONG' ? null : row.code;
      expect(v.valid).toBe(messageCode === null);
      expect(v.code ?? null).toBe(messageCode);
      if (row.builderOwns !== false) expect(builtCode).toBe(messageCode);
      expect(sent.status).toBe(messageCode === null ? SmtpDeliveryStatus.SUCCESS : SmtpDeliveryStatus.INVALID);
      expect(sent.error?.code ?? null).toBe(messageCode);
    }
    if (row.raw !== null) {
      const raw = await handler.sendRaw(
        { from: row.raw.from ?? FROM, to: row.raw.to ?? ['rcpt@example.com'] },
        row.raw.body ?? 'Subject: raw\r\n\r\nhello\r\n',
      );
      expect(raw.status).toBe(row.code === null ? SmtpDeliveryStatus.SUCCESS : SmtpDeliveryStatus.INVALID);
      expect(raw.error?.code ?? null).toBe(row.code);
    }
    const expectedNew = row.code === null ? (row.message ? 1 : 0) + (row.raw ? 1 : 0) : 0;
    const messageOk = row.code === 'ERR_SMTP_BODY_LINE_TOO_LONG' ? 1 : 0;
    expect(server.messages.length - delivered).toBe(expectedNew + messageOk);
  });
});

describe('sendMessage and sendRaw options (issue 12 items in the send path)', () => {
  let s: ScriptedSmtpServer | undefined;
  const hs: SmtpProtocolHandler[] = [];
  afterEach(async () => {
    for (const h of hs.splice(0)) await h.close();
    await s?.close();
    s = undefined;
  });
  async function make(
    serverOptions: Parameters<typeof startScriptedServer>[0] = {},
    options: Partial<SmtpProtocolHandlerOptions> = {},
  ) {
    s = await startScriptedServer(serverOptions);
    const h = new SmtpProtocolHandler({
      hostname: '127.0.0.1',
      port: s.port,
      encryption: 'none',
      fromAddress: FROM,
      retryPolicy: { maxRetries: 0 },
      ...options,
    });
    hs.push(h);
    return { server: s, handler: h };
  }

  it('an unknown key is INVALID, naming the key and the nearest known one; nothing is sent', async () => {
    const { server: srv, handler: h } = await make();
    const r = await h.sendMessage({ ...base, ccAdresses: ['x@example.com'] } as MessageInput);
    expect(r.status).toBe(SmtpDeliveryStatus.INVALID);
    expect(r.smtpError).toMatch(/'ccAdresses'.*'ccAddresses'/);
    const raw = await h.sendRaw({ from: FROM, to: ['a@example.com'] }, 'x\r\n', { signl: null } as never);
    expect(raw.status).toBe(SmtpDeliveryStatus.INVALID);
    expect(raw.smtpError).toMatch(/'signl'.*'signal'/);
    expect(srv.messages).toHaveLength(0);
  });

  it('response carries the full deciding reply, also on success; toJSON adds it', async () => {
    const { handler: h } = await make({ script: [{ on: 'DATA_END', reply: '250 2.0.0 Ok: queued as 4F2A1' }] });
    const r = await h.sendMessage(base);
    expect(r.status).toBe(SmtpDeliveryStatus.SUCCESS);
    expect(r.response).toBe('250 2.0.0 Ok: queued as 4F2A1');
    expect(r.toJSON().response).toBe('250 2.0.0 Ok: queued as 4F2A1');
  });

  it('UNKNOWN keeps acceptedRecipients', async () => {
    const { handler: h } = await make({ script: [{ on: 'DATA_END', action: 'drop' }] });
    const r = await h.sendMessage({ ...base, toAddresses: ['a@example.com', 'b@example.com'] });
    expect(r.status).toBe(SmtpDeliveryStatus.UNKNOWN);
    expect(r.acceptedRecipients).toEqual(['a@example.com', 'b@example.com']);
    expect(r.toJSON().accepted_recipients).toEqual(['a@example.com', 'b@example.com']);
  });

  it('envelope overrides the SMTP envelope; the headers stay as written', async () => {
    const { server: srv, handler: h } = await make();
    const r = await h.sendMessage({
      ...base,
      envelope: { from: 'bounce@example.com', to: ['real@example.com'] },
    } as MessageInput);
    expect(r.status).toBe(SmtpDeliveryStatus.SUCCESS);
    expect(srv.messages[0]!.mailFrom).toBe('bounce@example.com');
    expect(srv.messages[0]!.rcptTo).toEqual(['real@example.com']);
    expect(srv.messages[0]!.data.toString()).toMatch(/^To: rcpt@example\.com\r$/m);
  });

  it('the outcome has per-step timings when asked for them, and none otherwise', async () => {
    s = await startScriptedServer();
    const c = new SmtpConnection({ host: '127.0.0.1', port: s.port, encryption: 'none' });
    await c.connect();
    try {
      const plain = await c.sendMail({ from: FROM, to: ['a@example.com'] }, 'Subject: t\r\n\r\nx\r\n');
      expect(plain.timings).toBeUndefined();
      const outcome = await c.sendMail({ from: FROM, to: ['a@example.com'] }, 'Subject: t\r\n\r\nx\r\n', {
        timings: true,
      });
      const timings = outcome.timings!;
      for (const k of ['mail', 'rcpt', 'data', 'body', 'final'] as const) {
        expect(timings[k]).toBeGreaterThanOrEqual(0);
      }
      expect(timings.mail + timings.final).toBeGreaterThan(0);
    } finally {
      c.destroy();
    }
  });

  const eightBitStream = () =>
    Readable.from([Buffer.from('Subject: s\r\n\r\n'), Buffer.from('caf\xc3\xa9\r\n', 'latin1')]);

  it.each([false, true])(
    'sendRaw: an 8-bit stream to a server without 8BITMIME fails before the dot (chunking %s)',
    async (chunking) => {
      const { server: srv, handler: h } = await make(
        { capabilities: (d) => d.filter((c) => c !== '8BITMIME' && c !== 'SMTPUTF8') },
        { chunking },
      );
      const r = await h.sendRaw({ from: FROM, to: ['a@example.com'] }, eightBitStream());
      expect(r.status).toBe(SmtpDeliveryStatus.FAILED);
      expect(r.error?.code).toBe('ERR_SMTP_8BITMIME_UNSUPPORTED');
      expect(srv.messages).toHaveLength(0);
      // Declared, it is refused before a byte of the transaction.
      const declared = await h.sendRaw({ from: FROM, to: ['a@example.com'], eightBit: true }, eightBitStream());
      expect(declared.error?.code).toBe('ERR_SMTP_8BITMIME_UNSUPPORTED');
      expect(srv.messages).toHaveLength(0);
    },
  );

  it('sendRaw: a stream over the server SIZE fails before the dot', async () => {
    const { server: srv, handler: h } = await make({ maxMessageSize: 1000 });
    const big = Readable.from([Buffer.from(`Subject: s\r\n\r\n${'x'.repeat(70)}\r\n`.repeat(40))]);
    const r = await h.sendRaw({ from: FROM, to: ['a@example.com'] }, big);
    expect(r.status).toBe(SmtpDeliveryStatus.FAILED);
    expect(r.error?.code).toBe('ERR_SMTP_SIZE_EXCEEDED');
    expect(srv.messages).toHaveLength(0);
  });
});
