/**
 * LMTP (RFC 2033) end to end against the testing server's LMTP mode: LHLO, one final reply per
 * accepted recipient (with PIPELINING, DATA and BDAT), per-recipient results in the handler, retries
 * that go only to the recipients still open, and Unix domain sockets.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpConnectionPool } from '../../src/pool/pool.js';
import { SmtpProtocolHandler } from '../../src/send/handler.js';
import { type ScriptedServerOptions, type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';
import { SmtpConnection } from '../../src/transport/connection.js';

const servers: ScriptedSmtpServer[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function lmtpServer(options: ScriptedServerOptions = {}): Promise<ScriptedSmtpServer> {
  const s = await startScriptedServer({ lmtp: true, ...options });
  servers.push(s);
  return s;
}

function connection(server: ScriptedSmtpServer, extra: { chunking?: boolean; pipelining?: boolean } = {}) {
  const conn = new SmtpConnection({
    host: server.host,
    port: server.port,
    encryption: 'none',
    protocol: 'lmtp',
    ...extra,
  });
  cleanups.push(() => conn.destroy());
  return conn;
}

const MESSAGE = 'Subject: lmtp\r\n\r\nhello\r\n';
const OVER_QUOTA = { on: 'LMTP_RCPT', match: /^full@/, reply: '552 5.2.2 Mailbox full' } as const;

describe('SmtpConnection with protocol: lmtp', () => {
  it('says LHLO and defaults to port 24', async () => {
    const server = await lmtpServer();
    expect(new SmtpConnection({ host: 'x.example', protocol: 'lmtp', encryption: 'none' }).port).toBe(24);
    const conn = connection(server);
    await conn.connect();
    expect(server.commands[0]?.line).toMatch(/^LHLO /);
    expect(server.lastSession?.heloVerb).toBe('LHLO');
  });

  it('an LMTP server refuses EHLO; an SMTP client against it fails rather than guessing', async () => {
    const server = await lmtpServer();
    const smtp = new SmtpConnection({ host: server.host, port: server.port, encryption: 'none' });
    cleanups.push(() => smtp.destroy());
    await expect(smtp.connect()).rejects.toBeTruthy();
  });

  for (const chunking of [false, true]) {
    it(`one reply per accepted recipient after ${chunking ? 'BDAT LAST' : 'the final dot'}, in RCPT order`, async () => {
      const server = await lmtpServer({
        script: [OVER_QUOTA, { on: 'RCPT', match: /<nobody@/, reply: '550 5.1.1 No such user' }],
      });
      const conn = connection(server, { chunking });
      await conn.connect();
      const outcome = await conn.sendMail(
        { from: 's@x.example', to: ['a@x.example', 'nobody@x.example', 'full@x.example', 'b@x.example'] },
        MESSAGE,
      );
      expect(outcome.via).toBe(chunking ? 'BDAT' : 'DATA');
      expect(outcome.delivered).toBe(true);
      expect(outcome.recipientReplies?.map((r) => [r.recipient, r.reply.code])).toEqual([
        ['a@x.example', 250],
        ['full@x.example', 552],
        ['b@x.example', 250],
      ]);
      expect(outcome.accepted).toEqual(['a@x.example', 'b@x.example']);
      expect(outcome.rejected.map((r) => [r.recipient, r.reply.code])).toEqual([
        ['nobody@x.example', 550],
        ['full@x.example', 552],
      ]);
      expect(server.messages[0]?.recipientReplies?.map((r) => r.accepted)).toEqual([true, false, true]);
      // The FIFO stays aligned: the connection goes on.
      await conn.noop();
    });
  }

  it('pipelined transactions keep their replies apart', async () => {
    const server = await lmtpServer({ script: [OVER_QUOTA] });
    const conn = connection(server);
    await conn.connect();
    const [one, two] = await Promise.all([
      conn.sendMail({ from: 's@x.example', to: ['a@x.example', 'full@x.example', 'b@x.example'] }, MESSAGE),
      conn.sendMail({ from: 's@x.example', to: ['full@x.example', 'c@x.example'] }, MESSAGE),
    ]);
    expect(one.recipientReplies?.map((r) => r.reply.code)).toEqual([250, 552, 250]);
    expect(two.recipientReplies?.map((r) => r.reply.code)).toEqual([552, 250]);
    expect(server.messages).toHaveLength(2);
  });

  it('a Unix domain socket path as host', async () => {
    const server = await lmtpServer();
    const dir = await mkdtemp(join(tmpdir(), 'smtpwire-lmtp-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'lmtp.sock');
    // A Unix-socket front for the TCP testing server.
    const front = net.createServer((client) => {
      const upstream = net.connect(server.port, server.host);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => front.listen(path, resolve));
    cleanups.push(() => new Promise<void>((resolve) => front.close(() => resolve())));
    const conn = new SmtpConnection({ host: path, encryption: 'none', protocol: 'lmtp' });
    cleanups.push(() => conn.destroy());
    await conn.connect();
    const outcome = await conn.sendMail({ from: 's@x.example', to: ['a@x.example'] }, MESSAGE);
    expect(outcome.delivered).toBe(true);
    expect(server.messages[0]?.rcptTo).toEqual(['a@x.example']);
  });
});

describe('Unix socket errors', () => {
  it('a missing socket path is a ConnectionError naming the path', async () => {
    const conn = new SmtpConnection({ host: '/nonexistent/smtpwire/lmtp', protocol: 'lmtp', encryption: 'none' });
    await expect(conn.connect()).rejects.toMatchObject({
      code: 'ERR_SMTP_CONNECTION',
      message: expect.stringContaining('cannot connect to /nonexistent/smtpwire/lmtp: ENOENT'),
    });
  });
});

describe('SmtpConnectionPool with protocol: lmtp', () => {
  it('the protocol is part of the pool key: an SMTP checkout never gets a parked LMTP connection', async () => {
    const server = await lmtpServer();
    const pool = new SmtpConnectionPool({ maxConnections: 2 });
    cleanups.push(() => pool.closeAll());
    const where = { host: server.host, port: server.port, encryption: 'none' as const };
    const lmtp = await pool.getConnection({ ...where, protocol: 'lmtp' });
    expect(lmtp.protocol).toBe('lmtp');
    pool.releaseConnection(lmtp);
    expect(await pool.getConnection({ ...where, protocol: 'lmtp' })).toBe(lmtp);
    pool.releaseConnection(lmtp);
    // A new SMTP connection says EHLO, which this LMTP server refuses.
    await expect(pool.getConnection(where)).rejects.toMatchObject({ replyCode: 500 });
  });
});

describe('SmtpProtocolHandler with protocol: lmtp', () => {
  const handlerFor = (server: ScriptedSmtpServer, maxRetries = 2) => {
    const handler = new SmtpProtocolHandler({
      hostname: server.host,
      port: server.port,
      encryption: 'none',
      protocol: 'lmtp',
      fromAddress: 's@x.example',
      retryPolicy: { maxRetries, delays: [10, 10, 10] },
    });
    cleanups.push(() => handler.close());
    return handler;
  };

  it('defaults to port 24 and checks the protocol option', () => {
    expect(new SmtpProtocolHandler({ hostname: 'mx.example', protocol: 'lmtp', encryption: 'none' }).port).toBe(24);
    expect(new SmtpProtocolHandler({ hostname: 'mx.example', encryption: 'none' }).port).toBe(25);
    expect(() => new SmtpProtocolHandler({ hostname: 'mx.example', protocol: 'lmpt' as never })).toThrow(
      expect.objectContaining({ field: 'protocol' }),
    );
    expect(() => new SmtpConnection({ host: 'mx.example', protocol: 'x' as never })).toThrow(
      expect.objectContaining({ field: 'protocol' }),
    );
    expect(() => new SmtpProtocolHandler({ hostname: 'mx.example', scramMinIterations: 0 })).toThrow(
      expect.objectContaining({ field: 'scramMinIterations' }),
    );
  });

  it('SUCCESS when every recipient was delivered', async () => {
    const server = await lmtpServer();
    const result = await handlerFor(server).sendMessage({
      toAddresses: ['a@x.example', 'b@x.example'],
      subject: 's',
      textBody: 'b',
    });
    expect(result.status).toBe('success');
    expect(result.acceptedRecipients).toEqual(['a@x.example', 'b@x.example']);
    expect(result.recipientFailures).toEqual({});
  });

  it('a permanent per-recipient failure is in recipientFailures; nothing is resent', async () => {
    const server = await lmtpServer({ script: [OVER_QUOTA] });
    const result = await handlerFor(server).sendMessage({
      toAddresses: ['a@x.example', 'full@x.example'],
      subject: 's',
      textBody: 'b',
    });
    expect(result.status).toBe('success');
    expect(result.acceptedRecipients).toEqual(['a@x.example']);
    expect(result.recipientFailures).toEqual({ 'full@x.example': '552 5.2.2 Mailbox full' });
    expect(server.messages).toHaveLength(1);
  });

  it('every recipient refused after the data: FAILED', async () => {
    const server = await lmtpServer({ script: [{ on: 'LMTP_RCPT', reply: '554 5.6.0 Rejected' }] });
    const result = await handlerFor(server).sendMessage({
      toAddresses: ['a@x.example', 'b@x.example'],
      subject: 's',
      textBody: 'b',
    });
    expect(result.status).toBe('failed');
    expect(Object.keys(result.recipientFailures)).toEqual(['a@x.example', 'b@x.example']);
    expect(server.messages).toHaveLength(1);
  });

  it('a transient per-recipient failure is retried for that recipient only', async () => {
    const server = await lmtpServer({
      script: [{ on: 'LMTP_RCPT', match: /^busy@/, reply: '452 4.2.2 Mailbox busy', once: true }, OVER_QUOTA],
    });
    const result = await handlerFor(server).sendMessage({
      toAddresses: ['a@x.example', 'busy@x.example', 'full@x.example'],
      subject: 's',
      textBody: 'b',
    });
    expect(server.messages.map((m) => m.rcptTo)).toEqual([
      ['a@x.example', 'busy@x.example', 'full@x.example'],
      ['busy@x.example'],
    ]);
    expect(result.status).toBe('success');
    expect(result.retryCount).toBe(1);
    expect(result.acceptedRecipients).toEqual(['a@x.example', 'busy@x.example']);
    expect(result.recipientFailures).toEqual({ 'full@x.example': '552 5.2.2 Mailbox full' });
  });

  it('a retry that fails still names the recipients an earlier attempt delivered to (no resend to them)', async () => {
    const server = await lmtpServer({
      script: [
        { on: 'LMTP_RCPT', match: /^busy@/, reply: '452 4.2.2 Mailbox busy', once: true },
        OVER_QUOTA,
        // The retry (to busy@ only) loses its connection before the data: no more attempts are left.
        { on: 'RCPT', match: /busy@/, action: 'drop', nth: 2 },
      ],
    });
    const result = await handlerFor(server, 1).sendMessage({
      toAddresses: ['a@x.example', 'busy@x.example', 'full@x.example'],
      subject: 's',
      textBody: 'b',
    });
    expect(server.messages.map((m) => m.rcptTo)).toEqual([['a@x.example', 'busy@x.example', 'full@x.example']]);
    // Delivered to a@: SUCCESS (never FAILED once someone has it), naming both sides; no resend invited.
    expect(result.status).toBe('success');
    expect(result.isRetryable).toBe(false);
    expect(result.deliveredRecipients).toEqual(['a@x.example']);
    expect(result.pendingRecipients).toEqual(['busy@x.example']);
    expect(Object.keys(result.recipientFailures).sort()).toEqual(['busy@x.example', 'full@x.example']);
    expect(result.recipientFailures['full@x.example']).toBe('552 5.2.2 Mailbox full');
  });

  it('the connection lost between per-recipient replies: UNKNOWN, never resent, the confirmed one kept', async () => {
    const server = await lmtpServer({ script: [{ on: 'LMTP_RCPT', nth: 2, action: 'drop' }] });
    const result = await handlerFor(server).sendMessage({
      toAddresses: ['a@x.example', 'b@x.example'],
      subject: 's',
      textBody: 'b',
    });
    expect(result.status).toBe('unknown');
    expect(result.messageId).toMatch(/^<.+>$/);
    expect(result.deliveredRecipients).toEqual(['a@x.example']);
    expect(result.acceptedRecipients).toEqual(['a@x.example', 'b@x.example']);
    expect(server.messages).toHaveLength(1);
    // The server answered a@ and dropped the connection instead of answering b@.
    expect(server.messages[0]?.recipientReplies?.map((r) => [r.accepted, r.reply === null])).toEqual([
      [true, false],
      [false, true],
    ]);
  });

  it('out of retries: SUCCESS for the delivered, with what is still open, and no resend invited', async () => {
    const server = await lmtpServer({
      script: [{ on: 'LMTP_RCPT', match: /^busy@/, reply: '452 4.2.2 Mailbox busy' }],
    });
    const result = await handlerFor(server, 1).sendMessage({
      toAddresses: ['a@x.example', 'busy@x.example'],
      subject: 's',
      textBody: 'b',
    });
    // a@ has it: a resend of the whole message would duplicate, so nothing invites one; busy@ alone may be
    // sent to again (pendingRecipients, the resume option).
    expect(result.status).toBe('success');
    expect(result.isRetryable).toBe(false);
    expect(result.acceptedRecipients).toEqual(['a@x.example']);
    expect(result.deliveredRecipients).toEqual(['a@x.example']);
    expect(result.pendingRecipients).toEqual(['busy@x.example']);
    expect(result.recipientFailures).toEqual({ 'busy@x.example': '452 4.2.2 Mailbox busy' });
    expect(server.messages.map((m) => m.rcptTo)).toEqual([['a@x.example', 'busy@x.example'], ['busy@x.example']]);
  });
});
