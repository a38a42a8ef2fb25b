/**
 * One error code per fault class, whatever entry point, object or field it came from (issue 25):
 * CR/LF/NUL in any caller value → `ERR_SMTP_HEADER_INJECTION`; an unknown option key anywhere →
 * `ERR_SMTP_INVALID_ARGUMENT`; an unusable port → `ERR_SMTP_INVALID_ARGUMENT` with the same message.
 * No network: every case fails before a socket is opened.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTransport } from '../../src/compat/nodemailer.js';
import { conform } from '../../src/conform/conform.js';
import { probe } from '../../src/conform/probe.js';
import { SmtpMessageValidator } from '../../src/message/validator.js';
import { SmtpMxHandler } from '../../src/mx/handler.js';
import { SmtpOutbox, SmtpOutboxWorker } from '../../src/outbox/index.js';
import { SmtpConnectionPool } from '../../src/pool/pool.js';
import { SmtpProtocolHandler } from '../../src/send/handler.js';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';
import { SmtpConnection } from '../../src/transport/connection.js';

/** The error code of whatever `run` threw or rejected with, or of the DeliveryResult it returned. */
async function codeOf(run: () => unknown): Promise<{ code: string | undefined; message: string }> {
  try {
    const value = (await run()) as { error?: { code?: string; message: string } } | undefined;
    if (value?.error) return { code: value.error.code, message: value.error.message };
    return { code: undefined, message: 'no error' };
  } catch (err) {
    return { code: (err as { code?: string }).code, message: (err as Error).message };
  }
}

const handler = (o: object) => () => new SmtpProtocolHandler({ hostname: 'localhost', ...o } as never);
const connection = (o: object) => () => new SmtpConnection({ host: 'localhost', ...o } as never);
const pool = (o: object) => () => new SmtpConnectionPool(o as never);
const params = (o: object) => async () => {
  const p = new SmtpConnectionPool();
  try {
    return await p.getConnection({ host: 'localhost', encryption: 'none', ...o } as never);
  } finally {
    await p.closeAll();
  }
};
const probeWith = (o: object) => () => probe({ host: 'localhost', ...o } as never);
const conformWith = (o: object) => () => conform({ host: 'localhost', ...o } as never);
// A loopback resolver with one quick try: a value that passed the checks would stay on this machine.
const conformDomainWith = (o: object) => () =>
  conform({
    domain: 'example.invalid',
    resolver: { servers: [{ host: '127.0.0.1', port: 9 }], timeout: 200, tries: 1 },
    ...o,
  } as never);
const send = (o: object) => async () => {
  const h = new SmtpProtocolHandler({ hostname: 'localhost', encryption: 'none' });
  try {
    return await h.sendMessage({
      fromAddress: 'a@example.com',
      toAddresses: ['b@example.org'],
      subject: 's',
      textBody: 't',
      ...o,
    } as never);
  } finally {
    await h.close();
  }
};
const sendRaw = (o: object) => async () => {
  const h = new SmtpProtocolHandler({ hostname: 'localhost', encryption: 'none' });
  try {
    return await h.sendRaw({ from: 'a@example.com', to: ['b@example.org'] }, 'Subject: x\r\n\r\nx\r\n', o as never);
  } finally {
    await h.close();
  }
};
const transport = (o: object) => () => createTransport({ host: 'localhost', ...o } as never);
// Both fail on their options before any Redis connection is made.
const outbox = (o: object) => () => new SmtpOutbox(o as never);
const mx = (o: object) => () => new SmtpMxHandler(o as never);
const worker = (o: object) => () => new SmtpOutboxWorker({ handler: { hostname: 'localhost' }, ...o } as never);

const CLASSES: { fault: string; code: string; cases: Record<string, () => unknown> }[] = [
  {
    fault: 'CR, LF or NUL in a caller value',
    code: 'ERR_SMTP_HEADER_INJECTION',
    cases: {
      'handler hostname': handler({ hostname: 'mail\r\nRSET' }),
      'handler username': handler({ username: 'u\r\nRSET', password: 'p' }),
      'handler clientName': handler({ clientName: 'me\nRSET' }),
      'connection host': connection({ host: 'a\0b' }),
      'connection clientName': connection({ clientName: 'me\r\n' }),
      'connection command()': () => new SmtpConnection({ host: 'localhost' }).command('NOOP\r\nRSET'),
      'pool params host': params({ host: 'a\nb' }),
      'probe host': probeWith({ host: 'a\r\nb' }),
      'probe checks.sender': probeWith({ checks: { sender: 'a@b\r\nRSET' } }),
      'conform rcpt': conformWith({ rcpt: 'a@b\r\nRSET' }),
      'conform username': conformWith({ username: 'u\nx', password: 'p' }),
      'sendMessage subject': send({ subject: 'hi\r\nBcc: x@y' }),
      'sendMessage address': send({ toAddresses: ['b@example.org\r\nRCPT TO:<c@d>'] }),
      'outbox worker handler hostname': worker({ handler: { hostname: 'a\r\nb' } }),
    },
  },
  {
    fault: 'an unknown option key',
    code: 'ERR_SMTP_INVALID_ARGUMENT',
    cases: {
      handler: handler({ hostnmae: 'x' }),
      'handler timeouts': handler({ timeouts: { comand: 1 } }),
      'handler pool': handler({ pool: { idleTimeot: 1 } }),
      connection: connection({ clientNmae: 'x' }),
      pool: pool({ maxConection: 1 }),
      'pool params': params({ usrname: 'x' }),
      probe: probeWith({ usrname: 'x' }),
      'probe checks': probeWith({ checks: { bareLfRcpt: 'a@b' } }),
      conform: conformWith({ rcpt_to: 'a@b' }),
      'conform domain': conformDomainWith({ hostCheck: ['limits'] }),
      sendMessage: send({ subjcet: 'x' }),
      sendRaw: sendRaw({ messageID: 'x' }),
      'address object': send({ toAddresses: [{ address: 'b@example.org', nmae: 'B' }] }),
      'attachment object': send({ attachments: [{ filename: 'a.txt', conten: 'x' }] }),
      'nodemailer transport': transport({ hots: 'x' }),
      'outbox producer': outbox({ conection: 'redis://127.0.0.1:1' }),
      'outbox worker': worker({ concurency: 1 }),
    },
  },
  {
    fault: 'a port that is not an integer from 1 to 65535',
    code: 'ERR_SMTP_INVALID_ARGUMENT',
    cases: {
      'handler 70000': handler({ port: 70000 }),
      'handler 1.5': handler({ port: 1.5 }),
      'connection 70000': connection({ port: 70000 }),
      'pool params 1.5': params({ port: 1.5 }),
      'probe 70000': probeWith({ port: 70000 }),
      'conform 70000': conformWith({ port: 70000 }),
      'conform 1.5': conformWith({ port: 1.5 }),
      'conform domain 70000': conformDomainWith({ port: 70000 }),
      'mx handler 70000': mx({ port: 70000 }),
      'conform domain mtaSts.port 0': conformDomainWith({ mtaSts: { port: 0 } }),
      'outbox worker handler 70000': worker({ handler: { hostname: 'localhost', port: 70000 } }),
    },
  },
  {
    fault: 'a count that is not a positive integer (options.ts positiveInteger)',
    code: 'ERR_SMTP_INVALID_ARGUMENT',
    cases: {
      'handler poolSize 0': handler({ poolSize: 0 }),
      'mx handler poolSize 1.5': mx({ poolSize: 1.5 }),
      'outbox worker concurrency 0': worker({ concurrency: 0 }),
      'outbox worker concurrency 1.5': worker({ concurrency: 1.5 }),
      'outbox worker limiter.max 0': worker({ limiter: { max: 0, duration: 1000 } }),
      'conform unknownCommandLimit 0': conformWith({ unknownCommandLimit: 0 }),
      'conform domain addressesPerHost 0': conformDomainWith({ addressesPerHost: 0 }),
    },
  },
  {
    fault: 'a path the caller named that does not resolve',
    code: 'ERR_SMTP_INVALID_ARGUMENT',
    cases: {
      'outbox worker attachmentRoot missing': worker({ attachmentRoot: '/nonexistent/smtpwire-attachment-root' }),
    },
  },
];

describe('one error code per fault class, across every entry point', () => {
  for (const { fault, code, cases } of CLASSES) {
    it(`${fault} → ${code}`, async () => {
      const got: Record<string, string | undefined> = {};
      for (const [where, run] of Object.entries(cases)) got[where] = (await codeOf(run)).code;
      expect(got).toEqual(Object.fromEntries(Object.keys(cases).map((k) => [k, code])));
    });
  }

  it('a bad port gets the same message from the handler, conform and the MX handler', async () => {
    const fromHandler = await codeOf(handler({ port: 70000 }));
    const fromConform = await codeOf(conformWith({ port: 70000 }));
    expect(fromConform.message).toBe(fromHandler.message);
    expect((await codeOf(conformDomainWith({ port: 70000 }))).message).toBe(fromHandler.message);
    expect((await codeOf(mx({ port: 70000 }))).message).toBe(fromHandler.message);
    expect(fromConform.message).toMatch(/port must be an integer from 1 to 65535, not 70000/);
  });

  it('attachments that are not an array: the validator and the builder agree', async () => {
    const fromValidator = SmtpMessageValidator.validateAttachments('x' as never);
    const fromSend = await codeOf(send({ attachments: 'x' }));
    expect(fromValidator.code).toBe(fromSend.code);
    expect(fromSend.code).toBe('ERR_SMTP_INVALID_ATTACHMENT');
  });
});

describe('the class and the reply code travel with the code', () => {
  const servers: ScriptedSmtpServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('a refused STARTTLS is a TlsError that keeps the reply code (as every reply-caused error does)', async () => {
    const server = await startScriptedServer({
      tls: true,
      script: [{ on: 'STARTTLS', reply: '454 4.7.0 TLS not available' }],
    });
    servers.push(server);
    const conn = new SmtpConnection({
      host: 'localhost',
      port: server.port,
      encryption: 'tls',
      tls: { ca: server.ca },
    });
    const err = await conn.connect().then(
      () => null,
      (e: unknown) => e as { name: string; code: string; replyCode: number | null; enhancedCode: string | null },
    );
    conn.destroy();
    expect(err).toMatchObject({ name: 'TlsError', code: 'ERR_SMTP_TLS', replyCode: 454, enhancedCode: '4.7.0' });
  });

  it('a consumed body is ERR_SMTP_BODY_SOURCE, from the builder as from the handler', async () => {
    const { buildMessage } = await import('../../src/message/mime/builder.js');
    const { Readable } = await import('node:stream');
    const msg = buildMessage({
      fromAddress: 'a@example.com',
      toAddresses: ['b@example.org'],
      subject: 's',
      attachments: [{ filename: 'x', content: Readable.from([Buffer.from('x')]) }],
    });
    await msg.toBuffer();
    expect((await codeOf(() => msg.stream())).code).toBe('ERR_SMTP_BODY_SOURCE');
  });
});
