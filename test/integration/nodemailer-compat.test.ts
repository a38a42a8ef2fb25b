/**
 * `smtpwire/nodemailer` against real nodemailer (issue 13): nodemailer's README-style SMTP usage,
 * written once as functions of the `nodemailer` module, so the only difference between the two runs
 * is which module is passed in (the import line). Both send to smtp-server; what the server received
 * (envelope, parsed message) and what sendMail resolved or rejected with are compared.
 */

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ParsedMail, simpleParser } from 'mailparser';
import realNodemailer from 'nodemailer';
import { afterEach, describe, expect, it } from 'vitest';
import ours, { createTransport } from '../../src/compat/nodemailer.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { testCertificates } from '../../src/testing/certs.js';
import { startScriptedServer } from '../../src/testing/index.js';
import {
  type ReceivedMessage,
  startSmtpServer,
  type TestServer,
  type TestServerOptions,
} from '../helpers/smtp-server.js';

// biome-ignore lint/suspicious/noExplicitAny: the examples are nodemailer's untyped README code
type Nodemailer = { createTransport: (...args: any[]) => any };
const real = realNodemailer as unknown as Nodemailer;
const mine = ours as unknown as Nodemailer;

interface Target {
  host: string;
  port: number;
  tls: { ca: string; servername: string };
}

const servers: TestServer[] = [];
const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  for (const s of servers.splice(0)) await s.close();
});

async function server(options: TestServerOptions = {}): Promise<{ target: Target; server: TestServer }> {
  const s = await startSmtpServer(options);
  servers.push(s);
  return {
    server: s,
    target: { host: '127.0.0.1', port: s.port, tls: { ca: testCertificates().ca, servername: 'localhost' } },
  };
}

/** Runs one example with both modules, each against a fresh server; returns what each saw. */
async function both<T>(
  example: (nodemailer: Nodemailer, target: Target) => Promise<T>,
  options: TestServerOptions = {},
): Promise<{ real: { value: T; messages: ReceivedMessage[] }; mine: { value: T; messages: ReceivedMessage[] } }> {
  const a = await server(options);
  const realValue = await example(real, a.target);
  const b = await server(options);
  const mineValue = await example(mine, b.target);
  return {
    real: { value: realValue, messages: a.server.messages },
    mine: { value: mineValue, messages: b.server.messages },
  };
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** What a reader sees in a message, for comparison (not the bytes: boundaries and encodings differ). */
async function view(m: ReceivedMessage) {
  const p: ParsedMail = await simpleParser(m.raw);
  const addr = (a: ParsedMail['to']) =>
    (Array.isArray(a) ? a : a ? [a] : []).flatMap((x) => x.value.map((v) => ({ name: v.name, address: v.address })));
  return {
    envelope: { from: m.from, to: m.to },
    from: addr(p.from),
    to: addr(p.to),
    cc: addr(p.cc),
    replyTo: addr(p.replyTo),
    bccHeader: p.headers.has('bcc'),
    subject: p.subject,
    text: p.text?.replace(/\r\n/g, '\n').trimEnd(),
    html: typeof p.html === 'string' ? p.html.trim() : p.html,
    custom: p.headers.get('x-custom') ?? null,
    inReplyTo: p.inReplyTo ?? null,
    references: p.references ?? null,
    attachments: p.attachments.map((a) => ({
      filename: a.filename,
      contentType: a.contentType,
      sha: sha(a.content),
      cid: a.cid ?? null,
      disposition: a.contentDisposition,
    })),
  };
}

/** The parts of `info` nodemailer users read. */
function infoView(info: {
  envelope: unknown;
  accepted: string[];
  rejected: string[];
  response: string;
  messageId: string;
}) {
  return {
    envelope: info.envelope,
    accepted: info.accepted,
    rejected: info.rejected,
    responseCode: info.response.slice(0, 3),
    messageId: /^<[^<>@]+@[^<>]+>$/.test(info.messageId),
  };
}

// ── nodemailer's README-style examples, unchanged but for the module they receive ──────────────

/** The README's first example: STARTTLS on 587 with a login, one message, text and HTML. */
async function readmeExample(nodemailer: Nodemailer, target: Target) {
  const transporter = nodemailer.createTransport({
    host: target.host,
    port: target.port,
    secure: false, // true for port 465, false for other ports
    auth: {
      user: 'maddison53@ethereal.email',
      pass: 'jn7jnAPss4f63QBp6D',
    },
    tls: target.tls,
  });
  const info = await transporter.sendMail({
    from: '"Maddison Foo Koch 👻" <maddison53@ethereal.email>', // sender address
    to: 'bar@example.com, baz@example.com', // list of receivers
    subject: 'Hello ✔', // Subject line
    text: 'Hello world?', // plain text body
    html: '<b>Hello world?</b>', // html body
  });
  transporter.close();
  return info;
}

/** A pooled transport, several messages, the common message fields and every attachment form. */
async function pooledExample(nodemailer: Nodemailer, target: Target) {
  const transporter = nodemailer.createTransport({
    pool: true,
    host: target.host,
    port: target.port,
    maxConnections: 2,
    maxMessages: 10,
    tls: target.tls,
  });
  const infos = [];
  for (let i = 0; i < 3; i++) {
    infos.push(
      await transporter.sendMail({
        from: { name: 'Sender Name', address: 'sender@example.com' },
        to: [{ name: 'Doe, John', address: 'john@example.org' }, 'jane@example.org'],
        cc: 'Carbon <cc@example.org>',
        bcc: 'hidden@example.org',
        replyTo: 'replies@example.com',
        inReplyTo: '<parent@example.com>',
        references: ['<root@example.com>', '<parent@example.com>'],
        subject: `Message ${i}`,
        text: 'Plain text body\nwith two lines',
        html: '<p>HTML body <img src="cid:logo@example"></p>',
        headers: { 'X-Custom': 'custom value' },
        messageId: `<fixed-${i}@example.com>`,
        date: new Date('2024-01-02T03:04:05Z'),
        attachments: [
          { filename: 'text1.txt', content: 'hello world!' },
          { filename: 'buffer.bin', content: Buffer.from([0, 1, 2, 255]) },
          { filename: 'base64.txt', content: 'aGVsbG8gd29ybGQh', encoding: 'base64' },
          { path: join(import.meta.dirname, '../../package.json') },
          { filename: 'logo.png', content: Buffer.from('89504e470d0a1a0a', 'hex'), cid: 'logo@example' },
          { filename: 'data.csv', content: 'a,b\n1,2\n', contentType: 'text/csv' },
        ],
      }),
    );
  }
  transporter.close();
  return infos;
}

/** Callback style: verify(), then sendMail(mail, callback), as in nodemailer's docs. */
function callbackExample(nodemailer: Nodemailer, target: Target) {
  return new Promise((resolve) => {
    const transporter = nodemailer.createTransport({ host: target.host, port: target.port, tls: target.tls });
    transporter.verify((error: Error | null, success: boolean) => {
      if (error) return resolve({ verifyError: error });
      transporter.sendMail(
        { from: 'a@example.com', to: 'b@example.com', subject: 'cb', text: 'body' },
        (err: Error | null, info: { accepted: string[] }) => {
          transporter.close();
          resolve({ success, err, accepted: info?.accepted });
        },
      );
    });
  });
}

/** Some recipients refused: info.rejected; all refused: EENVELOPE. */
async function refusalExample(nodemailer: Nodemailer, target: Target) {
  const transporter = nodemailer.createTransport({ host: target.host, port: target.port, tls: target.tls });
  const partial = await transporter.sendMail({
    from: 'a@example.com',
    to: 'ok@example.com, nobody@example.com',
    subject: 'x',
    text: 'y',
  });
  const all = await transporter
    .sendMail({ from: 'a@example.com', to: 'nobody@example.com', subject: 'x', text: 'y' })
    .catch((e: unknown) => e);
  transporter.close();
  return { partial, all };
}

const errorView = (e: unknown) => {
  const err = e as { code?: string; responseCode?: number; rejected?: string[] };
  return { isError: e instanceof Error, code: err.code, responseCode: err.responseCode, rejected: err.rejected };
};

describe('smtpwire/nodemailer beside nodemailer', () => {
  it('the README example: same envelope, same message as read back, same info fields', async () => {
    const run = await both(readmeExample, { users: { 'maddison53@ethereal.email': 'jn7jnAPss4f63QBp6D' } });
    expect(run.mine.messages).toHaveLength(1);
    expect(await view(run.mine.messages[0]!)).toEqual(await view(run.real.messages[0]!));
    expect(run.mine.messages[0]!.secure).toBe(true);
    expect(run.mine.messages[0]!.user).toBe('maddison53@ethereal.email');
    expect(infoView(run.mine.value)).toEqual(infoView(run.real.value));
    expect(run.mine.value.envelope).toEqual({
      from: 'maddison53@ethereal.email',
      to: ['bar@example.com', 'baz@example.com'],
    });
  });

  it('a pooled transport with addresses as objects, headers, Message-ID and every attachment form', async () => {
    const run = await both(pooledExample);
    expect(run.mine.messages).toHaveLength(3);
    for (let i = 0; i < 3; i++) {
      const mine = await view(run.mine.messages[i]!);
      expect(mine).toEqual(await view(run.real.messages[i]!));
      expect(mine.attachments).toHaveLength(6);
      expect(mine.bccHeader).toBe(false);
      const parsed = await simpleParser(run.mine.messages[i]!.raw);
      expect(parsed.date?.toISOString()).toBe('2024-01-02T03:04:05.000Z');
      expect(parsed.messageId).toBe(`<fixed-${i}@example.com>`);
      expect(infoView(run.mine.value[i]!)).toEqual(infoView(run.real.value[i]!));
      expect(run.mine.value[i]!.messageId).toBe(`<fixed-${i}@example.com>`);
    }
  });

  it('callback style: verify and sendMail call back the same way', async () => {
    const run = await both(callbackExample);
    expect(run.mine.value).toEqual(run.real.value);
    expect(run.mine.value).toMatchObject({ success: true, err: null, accepted: ['b@example.com'] });
  });

  it('refused recipients: info.rejected for some, EENVELOPE with rejected for all', async () => {
    const run = await both(refusalExample, { refuse: ['nobody@example.com'] });
    expect(run.mine.value.partial.rejected).toEqual(run.real.value.partial.rejected);
    expect(run.mine.value.partial.accepted).toEqual(['ok@example.com']);
    expect(run.mine.value.partial.rejectedErrors?.[0]?.responseCode).toBe(550);
    expect(errorView(run.mine.value.all)).toEqual(errorView(run.real.value.all));
    expect(errorView(run.mine.value.all)).toMatchObject({ code: 'EENVELOPE', rejected: ['nobody@example.com'] });
  });

  it('EAUTH for bad credentials, ECONNECTION for a closed port, EMESSAGE for a refused message: as nodemailer', async () => {
    const badAuth = await both(
      (nm, t) =>
        nm
          .createTransport({ host: t.host, port: t.port, auth: { user: 'u', pass: 'wrong' }, tls: t.tls })
          .sendMail({ from: 'a@example.com', to: 'b@example.com', text: 'x' })
          .catch((e: unknown) => e),
      { users: { u: 'right' } },
    );
    expect(errorView(badAuth.mine.value)).toMatchObject({ code: 'EAUTH', responseCode: 535 });
    expect(errorView(badAuth.mine.value).code).toBe(errorView(badAuth.real.value).code);

    const closed = await server();
    await closed.server.close();
    servers.splice(servers.indexOf(closed.server), 1);
    const refused = await Promise.all(
      [real, mine].map((nm) =>
        nm
          .createTransport({ host: '127.0.0.1', port: closed.target.port })
          .sendMail({ from: 'a@example.com', to: 'b@example.com', text: 'x' })
          .catch((e: unknown) => e),
      ),
    );
    expect(errorView(refused[1]).code).toBe('ESOCKET');
    expect(errorView(refused[1]).code).toBe(errorView(refused[0]).code);

    const dataRefused = await both(
      (nm, t) =>
        nm
          .createTransport({ host: t.host, port: t.port, tls: t.tls })
          .sendMail({ from: 'a@example.com', to: 'b@example.com', text: 'x' })
          .catch((e: unknown) => e),
      { failData: { code: 554, message: 'spam' } },
    );
    expect(errorView(dataRefused.mine.value)).toMatchObject({ code: 'EMESSAGE', responseCode: 554 });
    expect(errorView(dataRefused.mine.value).code).toBe(errorView(dataRefused.real.value).code);
  });

  it('ETIMEDOUT for a silent greeting, as nodemailer', async () => {
    const silent = await startScriptedServer({ script: [{ on: 'GREETING', action: 'silent' }] });
    closers.push(() => silent.close());
    const errors = await Promise.all(
      [real, mine].map((nm) =>
        nm
          .createTransport({ host: '127.0.0.1', port: silent.port, greetingTimeout: 200 })
          .sendMail({ from: 'a@example.com', to: 'b@example.com', text: 'x' })
          .catch((e: unknown) => e),
      ),
    );
    expect(errorView(errors[1]).code).toBe('ETIMEDOUT');
    expect(errorView(errors[1]).code).toBe(errorView(errors[0]).code);
  });
});

describe('where smtpwire/nodemailer is stricter or says more', () => {
  it('a lost reply after the final dot rejects with ERR_SMTP_OUTCOME_UNKNOWN and messageHandedOver', async () => {
    const s = await startScriptedServer({ script: [{ on: 'DATA_END', action: 'drop' }] });
    closers.push(() => s.close());
    const t = createTransport({ host: '127.0.0.1', port: s.port, ignoreTLS: true });
    closers.push(() => t.close());
    const err = await t
      .sendMail({ from: 'a@example.com', to: 'b@example.com', subject: 's', text: 'x', messageId: 'id-1@example.com' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'ERR_SMTP_OUTCOME_UNKNOWN',
      messageHandedOver: true,
      messageId: '<id-1@example.com>',
    });
    expect(s.messages).toHaveLength(1);
  });

  it('lmtp: true speaks LMTP (LHLO, one reply per recipient), as nodemailer does', async () => {
    const s = await startScriptedServer({ lmtp: true });
    closers.push(() => s.close());
    const t = createTransport({ lmtp: true, host: '127.0.0.1', port: s.port, ignoreTLS: true });
    closers.push(() => t.close());
    const info = await t.sendMail({
      from: 'a@example.com',
      to: ['b@example.com', 'c@example.com'],
      subject: 's',
      text: 'x',
    });
    expect(info.accepted).toEqual(['b@example.com', 'c@example.com']);
    expect(s.messages).toHaveLength(1);
    expect(s.messages[0]?.recipientReplies).toHaveLength(2);
  });

  it('transport options it cannot honour throw at createTransport, naming them', () => {
    expect(() => createTransport({ service: 'no-such-provider' } as never)).toThrow(/not a well-known service/);
    expect(() => createTransport({ hots: 'x' } as never)).toThrow(/did you mean 'host'/);
    expect(() => createTransport({ localAddress: 'not-an-ip' })).toThrow(/localAddress/);
    expect(() => createTransport({ port: 0 })).toThrow(InvalidArgumentError);
    expect(() => createTransport({ name: 'bad name\r\n' })).toThrow(InvalidArgumentError);
    expect(() => createTransport('ftp://host')).toThrow(/smtp: or smtps:/);
  });

  it('localAddress binds the source address, as nodemailer does', async () => {
    // 127.0.0.2 is on the loopback interface (127/8) without any setup, unlike the default source 127.0.0.1.
    const r = await both(async (nodemailer, target) => {
      const t = nodemailer.createTransport({ ...target, localAddress: '127.0.0.2' });
      try {
        return (await t.sendMail({ from: 'a@example.com', to: 'b@example.com', subject: 's', text: 'x' })).accepted;
      } finally {
        t.close();
      }
    });
    expect(r.mine.value).toEqual(r.real.value);
    expect(r.real.messages.map((m) => m.remoteAddress)).toEqual(['127.0.0.2']);
    expect(r.mine.messages.map((m) => m.remoteAddress)).toEqual(['127.0.0.2']);
  });

  it('OAuth2 with an access token authenticates with XOAUTH2; isIdle and the idle event', async () => {
    const { target, server: s } = await server({ users: { 'me@example.com': 'token-123' } });
    const t = createTransport({
      host: target.host,
      port: target.port,
      auth: { type: 'OAuth2', user: 'me@example.com', accessToken: 'token-123' },
      tls: target.tls,
    });
    closers.push(() => t.close());
    expect(t.isIdle()).toBe(true);
    let idle = 0;
    t.on('idle', () => idle++);
    expect(await t.verify()).toBe(true);
    const info = await t.sendMail({ from: 'me@example.com', to: 'b@example.com', subject: 's', text: 'x' });
    expect(info.accepted).toEqual(['b@example.com']);
    expect(info.response).toMatch(/^250/);
    expect(s.messages[0]!.user).toBe('me@example.com');
    expect(idle).toBe(1);
  });

  it('raw: a complete message is sent as is', async () => {
    const { target, server: s } = await server();
    const t = createTransport({ host: target.host, port: target.port, tls: target.tls });
    closers.push(() => t.close());
    const raw = readFileSync(join(import.meta.dirname, '../../LICENSE'), 'utf8').replace(/^/, 'Subject: raw\r\n\r\n');
    const info = await t.sendMail({ envelope: { from: 'a@example.com', to: ['b@example.com'] }, raw });
    expect(info.envelope).toEqual({ from: 'a@example.com', to: ['b@example.com'] });
    expect((await simpleParser(s.messages[0]!.raw)).subject).toBe('raw');
  });
});
