/**
 * The engine against a misbehaving server (smtpwire/testing): every fault ends in a typed error or
 * an honest outcome, with no hang and no message silently lost or sent twice.
 */
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AbortError,
  ConnectionError,
  InvalidArgumentError,
  ProtocolError,
  ReplyError,
  TimeoutError,
} from '../../src/errors.js';
import {
  garbage,
  longLine,
  type ScriptedServerOptions,
  type ScriptedSmtpServer,
  type ScriptRule,
  startScriptedServer,
} from '../../src/testing/index.js';
import { SmtpConnection, type SmtpConnectionOptions, type TranscriptEntry } from '../../src/transport/connection.js';

let server: ScriptedSmtpServer | undefined;
const conns: SmtpConnection[] = [];

afterEach(async () => {
  for (const c of conns.splice(0)) c.destroy();
  await server?.close();
  server = undefined;
});

async function serve(options: ScriptedServerOptions = {}): Promise<ScriptedSmtpServer> {
  server = await startScriptedServer(options);
  return server;
}

function connect(s: ScriptedSmtpServer, options: Partial<SmtpConnectionOptions> = {}): SmtpConnection {
  const c = new SmtpConnection({ host: '127.0.0.1', port: s.port, encryption: 'none', tls: { ca: s.ca }, ...options });
  conns.push(c);
  return c;
}

const envelope = { from: 'a@sender.example', to: ['b@rcpt.example', 'c@rcpt.example'] };
const body = Buffer.from('Subject: t\r\n\r\nhello\r\n');
const script = (...rules: ScriptRule[]) => ({ script: rules });

describe('pipelining on the wire', () => {
  it('sends MAIL, every RCPT and DATA before the first reply comes back', async () => {
    const s = await serve();
    const c = connect(s);
    await c.connect();
    await c.sendMail(envelope, body);
    const cmds = s.lastSession!.commands.filter((x) => ['MAIL', 'RCPT', 'DATA'].includes(x.verb));
    expect(cmds.map((x) => x.verb)).toEqual(['MAIL', 'RCPT', 'RCPT', 'DATA']);
    expect(new Set(cmds.map((x) => x.repliesBefore)).size).toBe(1);
    expect(s.messages[0]!.data.equals(body)).toBe(true);
  });

  it('puts the next message’s MAIL right behind the previous final dot', async () => {
    const s = await serve(script({ on: 'DATA_END', delay: 50 }));
    const c = connect(s);
    await c.connect();
    const [a, b] = await Promise.all([c.sendMail(envelope, body), c.sendMail(envelope, body)]);
    expect(a.delivered && b.delivered).toBe(true);
    const cmds = s.lastSession!.commands;
    const mails = cmds.filter((x) => x.verb === 'MAIL');
    expect(mails).toHaveLength(2);
    // The second MAIL reached the server before it answered the first message's final dot.
    const firstDotReply = s.lastSession!.replies.findIndex((r) => r.event === 'DATA_END');
    expect(mails[1]!.repliesBefore).toBeLessThanOrEqual(firstDotReply);
  });

  it('without PIPELINING waits for each reply', async () => {
    const s = await serve({ capabilities: (d) => d.filter((x) => x !== 'PIPELINING') });
    const c = connect(s);
    await c.connect();
    await c.sendMail(envelope, body);
    const cmds = s.lastSession!.commands.filter((x) => ['MAIL', 'RCPT', 'DATA'].includes(x.verb));
    expect(new Set(cmds.map((x) => x.repliesBefore)).size).toBe(4);
  });
});

describe('reply parsing on real sockets', () => {
  it('reassembles a reply split at every byte', async () => {
    const s = await serve(
      script({ on: 'EHLO', split: 'byte', splitDelay: 0 }, { on: 'DATA_END', split: 'byte', splitDelay: 1 }),
    );
    const c = connect(s);
    const info = await c.connect();
    expect(info.pipelining).toBe(true);
    expect((await c.sendMail(envelope, body)).delivered).toBe(true);
  });

  it('poisons the connection on an over-long line, and every later call gets the same error', async () => {
    const s = await serve(script({ on: 'NOOP', reply: longLine(5000) }));
    const c = connect(s);
    await c.connect();
    const err = await c.noop().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err).toMatchObject({ code: 'ERR_SMTP_LINE_TOO_LONG' });
    expect(c.isBroken).toBe(true);
    await expect(c.sendMail(envelope, body)).rejects.toBe(err);
    await expect(c.rset()).rejects.toBe(err);
  });

  it('poisons the connection on garbage', async () => {
    const s = await serve(script({ on: 'RSET', raw: garbage(64) }));
    const c = connect(s);
    await c.connect();
    await expect(c.rset()).rejects.toBeInstanceOf(ProtocolError);
    expect(c.isBroken).toBe(true);
  });

  it('treats a reply nobody asked for as a protocol error', async () => {
    const s = await serve(script({ on: 'NOOP', reply: ['250 ok', '250 extra'] }));
    const c = connect(s);
    await c.connect();
    await c.noop();
    await expect.poll(() => c.error?.code).toBe('ERR_SMTP_UNEXPECTED_REPLY');
  });
});

describe('greeting and EHLO', () => {
  for (const code of [421, 554]) {
    it(`types a ${code} greeting`, async () => {
      const s = await serve(script({ on: 'GREETING', reply: `${code} 4.3.2 Go away` }));
      const err = await connect(s)
        .connect()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReplyError);
      expect(err).toMatchObject({ code: 'ERR_SMTP_GREETING_REFUSED', replyCode: code });
    });
  }

  it('times out a silent greeting, naming the phase', async () => {
    const s = await serve(script({ on: 'GREETING', action: 'silent' }));
    const err = await connect(s, { timeouts: { greeting: 200 } })
      .connect()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ phase: 'greeting', timeout: 200 });
  });

  it('explains a silent greeting from an implicit-TLS port when connecting in plaintext', async () => {
    const s = await serve({ implicitTls: true });
    const err = await connect(s, { encryption: 'tls', timeouts: { greeting: 200 } })
      .connect()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ phase: 'greeting' });
    expect((err as Error).message).toMatch(/implicit TLS.*encryption "ssl"/);
  });

  it('falls back to HELO when EHLO is not recognised', async () => {
    const s = await serve(script({ on: 'EHLO', reply: '502 5.5.1 Not implemented' }));
    const c = connect(s);
    const info = await c.connect();
    expect(info.esmtp).toBe(false);
    expect(info.pipelining).toBe(false);
    expect((await c.sendMail({ from: 'a@sender.example', to: ['b@rcpt.example'] }, body)).delivered).toBe(true);
    expect(s.lastSession!.heloVerb).toBe('HELO');
  });
});

describe('STARTTLS', () => {
  it('discards plaintext injected after the 220 and re-reads capabilities over TLS (RFC 3207 §6)', async () => {
    const s = await serve({ tls: true, ...script({ on: 'STARTTLS', append: '250-INJECTED\r\n250 AUTH PLAIN\r\n' }) });
    const transcript: TranscriptEntry[] = [];
    const c = connect(s, { encryption: 'tls', host: 'localhost', onTranscript: (e) => transcript.push(e) });
    const info = await c.connect();
    expect(c.secure).toBe(true);
    expect(c.plaintextDiscarded).toBeGreaterThan(0);
    expect(info.keywords.has('INJECTED')).toBe(false);
    expect((await c.sendMail(envelope, body)).delivered).toBe(true);
    expect(s.messages[0]!.tls).toBe(true);
  });

  it('does not continue when the STARTTLS reply is an error', async () => {
    const s = await serve({ tls: true, ...script({ on: 'STARTTLS', reply: '454 4.7.0 TLS not available' }) });
    const err = await connect(s, { encryption: 'tls', host: 'localhost' })
      .connect()
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'TlsError' });
    expect(s.messages).toHaveLength(0);
  });
});

describe('the outcome of a message', () => {
  it('reports an unknown outcome when the connection dies after the final dot', async () => {
    const s = await serve(script({ on: 'DATA_END', action: 'drop' }));
    const c = connect(s);
    await c.connect();
    const err = await c.sendMail(envelope, body).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toMatchObject({ code: 'ERR_SMTP_OUTCOME_UNKNOWN', messageHandedOver: true });
    expect(s.messages).toHaveLength(1);
  });

  it('reports an unknown outcome when the final reply times out', async () => {
    const s = await serve(script({ on: 'DATA_END', action: 'silent' }));
    const c = connect(s, { timeouts: { finalReply: 200 } });
    await c.connect();
    const err = await c.sendMail(envelope, body).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ phase: 'finalReply', messageHandedOver: true });
  });

  it('a drop after the 354 is a plain connection failure: nothing was handed over', async () => {
    const s = await serve(script({ on: 'DATA', action: 'drop-after-reply' }));
    const c = connect(s);
    await c.connect();
    // The rest of the body comes late, so the drop is seen before the final dot is written.
    const late = Readable.from(
      (async function* () {
        yield Buffer.from('Subject: t\r\n\r\n');
        await new Promise((r) => setTimeout(r, 100));
        yield Buffer.from('hello\r\n');
      })(),
    );
    const err = await c.sendMail(envelope, late).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toMatchObject({ messageHandedOver: false });
  });

  it('a 421 mid-session ends the transaction as an outcome and the connection as closed', async () => {
    const s = await serve(script({ on: 'MAIL', reply: '421 4.3.2 Shutting down' }));
    const c = connect(s);
    await c.connect();
    const outcome = await c.sendMail(envelope, body);
    expect(outcome).toMatchObject({ delivered: false, stage: 'mail' });
    expect(outcome.reply.code).toBe(421);
    await expect.poll(() => c.isBroken).toBe(true);
  });

  it('a 421 to the final dot is an outcome, and the connection is not reused', async () => {
    const s = await serve(script({ on: 'DATA_END', reply: '421 4.3.2 Shutting down' }));
    const c = connect(s);
    await c.connect();
    const [first, second] = await Promise.allSettled([c.sendMail(envelope, body), c.sendMail(envelope, body)]);
    expect(first).toMatchObject({ status: 'fulfilled', value: { delivered: false, stage: 'final' } });
    // The pipelined second message never reached its final dot: not handed over, safe to retry.
    expect(second).toMatchObject({ status: 'rejected', reason: { messageHandedOver: false } });
    expect(c.isBroken).toBe(true);
  });

  it('destroy() during connect leaves no socket behind', async () => {
    const s = await serve(script({ on: 'GREETING', delay: 100 }));
    const c = connect(s);
    const pending = c.connect().catch((e: unknown) => e);
    c.destroy();
    expect(await pending).toMatchObject({ code: 'ERR_SMTP_CLOSED' });
    await expect.poll(() => s.openConnections).toBe(0);
  });

  it('times out a slow command reply, naming the phase and command', async () => {
    const s = await serve(script({ on: 'MAIL', delay: 1000 }));
    const c = connect(s, { timeouts: { command: 150 } });
    await c.connect();
    const err = await c.sendMail(envelope, body).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ phase: 'command', messageHandedOver: false });
    expect((err as TimeoutError).command).toMatch(/^MAIL FROM/);
  });

  it('cancels a send with an AbortSignal', async () => {
    const s = await serve(script({ on: 'RCPT', delay: 2000 }));
    const c = connect(s);
    await c.connect();
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('user gave up')), 50);
    const err = await c.sendMail(envelope, body, { signal: controller.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(c.isBroken).toBe(true);
    expect(s.messages).toHaveLength(0);
  });

  it('never sends the final dot when the body source fails', async () => {
    const s = await serve();
    const c = connect(s);
    await c.connect();
    const source = new Readable({
      read() {
        this.push(Buffer.from('Subject: x\r\n\r\nfirst part\r\n'));
        this.destroy(new Error('disk gone'));
      },
    });
    const err = await c.sendMail(envelope, source).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_SMTP_BODY_SOURCE', messageHandedOver: false });
    await new Promise((r) => setTimeout(r, 50));
    expect(s.messages.filter((m) => m.accepted)).toHaveLength(0);
  });

  it('refuses a body line over 998 octets and closes rather than deliver a truncated message', async () => {
    const s = await serve();
    const c = connect(s);
    await c.connect();
    const err = await c
      .sendMail(envelope, Readable.from([Buffer.from('Subject: x\r\n\r\n'), Buffer.alloc(1200, 0x61)]))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err).toMatchObject({ code: 'ERR_SMTP_BODY_LINE_TOO_LONG' });
    await new Promise((r) => setTimeout(r, 50));
    expect(s.messages.filter((m) => m.accepted)).toHaveLength(0);
  });

  it('times out a body source that stalls (dataIdle)', async () => {
    const s = await serve();
    const c = connect(s, { timeouts: { dataIdle: 150 } });
    await c.connect();
    const source = new Readable({ read() {} });
    source.push('Subject: x\r\n\r\n');
    const err = await c.sendMail(envelope, source).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ phase: 'dataIdle' });
    expect(source.destroyed).toBe(true);
  });

  it('declares SIZE as transmitted, after bare CR/LF become CRLF', async () => {
    const s = await serve();
    const c = connect(s);
    await c.connect();
    const raw = Buffer.from('Subject: x\n\nline\rnext\n.dot\nlast');
    await c.sendMail(envelope, raw);
    const got = s.messages[0]!;
    expect(Number(got.mailParams.SIZE)).toBe(got.data.length);
    expect(got.data.toString()).toBe('Subject: x\r\n\r\nline\r\nnext\r\n.dot\r\nlast\r\n');
  });

  it('refuses an in-memory body with an over-long line before writing anything, and stays usable', async () => {
    const s = await serve();
    const c = connect(s);
    await c.connect();
    await expect(c.sendMail(envelope, Buffer.alloc(1200, 0x61))).rejects.toMatchObject({
      code: 'ERR_SMTP_BODY_LINE_TOO_LONG',
    });
    expect(s.lastSession!.commands.filter((x) => x.verb === 'MAIL')).toHaveLength(0);
    expect(c.isReady).toBe(true);
  });

  it('sends nothing when an address carries CR/LF', async () => {
    const s = await serve();
    const c = connect(s);
    await c.connect();
    await expect(
      c.sendMail({ from: 'a@x.example', to: ['b@x.example>\r\nRCPT TO:<evil@x.example'] }, body),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(s.lastSession!.commands.filter((x) => x.verb === 'MAIL')).toHaveLength(0);
    expect(c.isReady).toBe(true);
  });
});

describe('DSN (RFC 3461)', () => {
  it('sends RET, ENVID, NOTIFY and ORCPT when the server offers DSN', async () => {
    const s = await serve({ capabilities: (d) => [...d, 'DSN'] });
    const c = connect(s);
    await c.connect();
    const outcome = await c.sendMail(
      { ...envelope, dsn: { ret: 'HDRS', envid: 'id+1=x', notify: ['FAILURE', 'DELAY'], orcpt: true } },
      body,
    );
    expect(outcome.delivered).toBe(true);
    const mail = s.lastSession!.commands.find((x) => x.verb === 'MAIL')!.line;
    expect(mail).toContain(' RET=HDRS');
    expect(mail).toContain(' ENVID=id+2B1+3Dx');
    const rcpt = s.lastSession!.commands.find((x) => x.verb === 'RCPT')!.line;
    expect(rcpt).toContain(' NOTIFY=FAILURE,DELAY');
    expect(rcpt).toContain(' ORCPT=rfc822;b@rcpt.example');
  });

  it('refuses DSN parameters when the server does not offer DSN, before writing anything', async () => {
    const s = await serve();
    const c = connect(s);
    await c.connect();
    await expect(c.sendMail({ ...envelope, dsn: { notify: ['NEVER'] } }, body)).rejects.toMatchObject({
      name: 'CapabilityError',
      code: 'ERR_SMTP_CAPABILITY',
    });
    expect(s.lastSession!.commands.filter((x) => x.verb === 'MAIL')).toHaveLength(0);
  });
});

describe('BDAT (RFC 3030)', () => {
  it('sends the body in chunks without dot-stuffing, binary-exact', async () => {
    const s = await serve();
    const c = connect(s, { chunking: true, chunkSize: 1000 });
    await c.connect();
    const text = Buffer.from(`Subject: bdat\r\n\r\n${'.dot line\r\n'.repeat(500)}`);
    const outcome = await c.sendMail(envelope, Readable.from([text.subarray(0, 777), text.subarray(777)]));
    expect(outcome).toMatchObject({ delivered: true, via: 'BDAT' });
    const got = s.messages[0]!;
    expect(got.via).toBe('BDAT');
    expect(got.chunks.length).toBeGreaterThan(2);
    expect(got.data.equals(text)).toBe(true);
  });

  it('reports a refused BDAT LAST as a final outcome', async () => {
    const s = await serve(script({ on: 'BDAT_LAST', reply: '554 5.7.1 Rejected' }));
    const c = connect(s, { chunking: true });
    await c.connect();
    const outcome = await c.sendMail(envelope, body);
    expect(outcome).toMatchObject({ delivered: false, stage: 'final', via: 'BDAT' });
    expect(outcome.reply.code).toBe(554);
  });

  it('stops at a refused middle chunk and resets', async () => {
    const s = await serve(script({ on: 'BDAT', nth: 1, reply: '452 4.3.1 Out of space' }));
    const c = connect(s, { chunking: true, chunkSize: 100, pipelining: false });
    await c.connect();
    const outcome = await c.sendMail(envelope, Buffer.from(`Subject: x\r\n\r\n${'x'.repeat(80)}\r\n`.repeat(5)));
    expect(outcome).toMatchObject({ delivered: false, stage: 'data', via: 'BDAT' });
    expect(outcome.reply.code).toBe(452);
    expect(s.lastSession!.commands.some((x) => x.verb === 'RSET')).toBe(true);
    expect(c.isReady).toBe(true);
  });

  it('uses DATA when chunking is on but the server lacks CHUNKING', async () => {
    const s = await serve({ capabilities: (d) => d.filter((x) => x !== 'CHUNKING') });
    const c = connect(s, { chunking: true });
    await c.connect();
    expect((await c.sendMail(envelope, body)).via).toBe('DATA');
  });
});
