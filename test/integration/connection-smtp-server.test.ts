import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthError, CapabilityError, TlsError } from '../../src/errors.js';
import { testCertificates } from '../../src/testing/certs.js';
import { SmtpConnection, type SmtpConnectionOptions, type TranscriptEntry } from '../../src/transport/connection.js';
import { startSmtpServer, type TestServer, type TestServerOptions } from '../helpers/smtp-server.js';

const certs = testCertificates();
let server: TestServer | undefined;
const open: SmtpConnection[] = [];

afterEach(async () => {
  for (const c of open.splice(0)) c.destroy();
  await server?.close();
  server = undefined;
});

async function serve(options: TestServerOptions = {}): Promise<TestServer> {
  server = await startSmtpServer(options);
  return server;
}

function connection(port: number, options: Partial<SmtpConnectionOptions> = {}): SmtpConnection {
  const c = new SmtpConnection({ host: '127.0.0.1', port, encryption: 'none', tls: { ca: certs.ca }, ...options });
  open.push(c);
  return c;
}

const message = (subject: string, body = 'Hello.\r\n') =>
  Buffer.from(`From: a@sender.example\r\nTo: b@rcpt.example\r\nSubject: ${subject}\r\n\r\n${body}`);

/** What the sender meant, after line-break normalisation (what a server must store). */
const normalise = (b: Buffer) => {
  const s = b.toString('latin1').replace(/\r\n|\r|\n/g, '\n');
  return Buffer.from((s.endsWith('\n') ? s : `${s}\n`).replace(/\n/g, '\r\n'), 'latin1');
};

describe('SmtpConnection against smtp-server', () => {
  it('sends a message in plaintext and the server stores it byte for byte', async () => {
    const s = await serve();
    const c = connection(s.port);
    const info = await c.connect();
    expect(info.pipelining).toBe(true);
    expect(c.phase).toBe('ready');
    const body = message('plain', 'line one\r\n.leading dot\r\n..two dots\nbare lf\rbare cr\r\nFrom me\r\n');
    const outcome = await c.sendMail({ from: 'a@sender.example', to: ['b@rcpt.example'] }, body);
    expect(outcome).toMatchObject({
      delivered: true,
      stage: 'final',
      accepted: ['b@rcpt.example'],
      rejected: [],
      via: 'DATA',
    });
    expect(outcome.reply.code).toBe(250);
    expect(s.messages).toHaveLength(1);
    expect(s.messages[0]!.raw.equals(normalise(body))).toBe(true);
    expect(s.messages[0]!.secure).toBe(false);
    await c.close();
    expect(c.phase).toBe('closed');
  });

  it('upgrades with STARTTLS, verifies the certificate and says EHLO again', async () => {
    const s = await serve();
    const transcript: TranscriptEntry[] = [];
    const c = connection(s.port, { encryption: 'tls', host: 'localhost', onTranscript: (e) => transcript.push(e) });
    const info = await c.connect();
    expect(c.secure).toBe(true);
    expect(info.startTls).toBe(false);
    expect(transcript.filter((e) => e.direction === 'client' && e.line.startsWith('EHLO'))).toHaveLength(2);
    expect(transcript.some((e) => e.line === 'STARTTLS')).toBe(true);
    await c.sendMail({ from: 'a@sender.example', to: ['b@rcpt.example'] }, message('tls'));
    expect(s.messages[0]!.secure).toBe(true);
  });

  it('speaks implicit TLS from the first byte', async () => {
    const s = await serve({ secure: true });
    const c = connection(s.port, { encryption: 'ssl', host: 'localhost' });
    await c.connect();
    expect(c.secure).toBe(true);
    expect(c.tlsSocket?.getProtocol()).toMatch(/TLSv1\.[23]/);
    await c.sendMail({ from: 'a@sender.example', to: ['b@rcpt.example'] }, message('ssl'));
    expect(s.messages[0]!.secure).toBe(true);
  });

  it('refuses an untrusted certificate', async () => {
    const s = await serve({ key: certs.untrustedKey, cert: certs.untrustedCert });
    const c = connection(s.port, { encryption: 'tls', host: 'localhost' });
    await expect(c.connect()).rejects.toMatchObject({ name: 'TlsError', code: 'ERR_SMTP_TLS' });
    expect(c.isBroken).toBe(true);
  });

  it('never falls back to plaintext when STARTTLS is missing, unless opportunistic', async () => {
    const s = await serve({ hideSTARTTLS: true });
    const strict = connection(s.port, { encryption: 'tls' });
    const err = await strict.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TlsError);
    expect(err).toMatchObject({ code: 'ERR_SMTP_STARTTLS_UNAVAILABLE' });
    const relaxed = connection(s.port, { encryption: 'tls', opportunisticTls: true });
    await relaxed.connect();
    expect(relaxed.secure).toBe(false);
  });

  it('explains implicit TLS pointed at a STARTTLS port ("wrong version number")', async () => {
    const s = await serve();
    const c = connection(s.port, { encryption: 'ssl', timeouts: { tls: 5000 } });
    const err = await c.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TlsError);
    expect(err).toMatchObject({ code: 'ERR_SMTP_TLS_MODE_MISMATCH' });
    expect((err as Error).message).toMatch(/STARTTLS/);
  });

  for (const method of ['PLAIN', 'LOGIN', 'CRAM-MD5'] as const) {
    it(`authenticates with AUTH ${method} and keeps the password out of the transcript`, async () => {
      const s = await serve({ users: { alice: 's3cret-pw' } });
      const transcript: TranscriptEntry[] = [];
      const c = connection(s.port, { encryption: 'tls', host: 'localhost', onTranscript: (e) => transcript.push(e) });
      await c.connect();
      await c.login({ username: 'alice', password: 's3cret-pw' }, { method });
      expect(c.authenticated).toBe(true);
      await c.sendMail({ from: 'alice@sender.example', to: ['b@rcpt.example'] }, message(method));
      expect(s.messages[0]!.user).toBe('alice');
      const all = transcript.map((e) => e.line).join('\n');
      expect(all).toContain(`AUTH ${method}`);
      expect(all).not.toContain('s3cret-pw');
      expect(all).not.toContain(Buffer.from('\0alice\0s3cret-pw').toString('base64'));
      expect(all).not.toContain(Buffer.from('s3cret-pw').toString('base64'));
    });
  }

  it('authenticates with XOAUTH2 from an async token provider', async () => {
    const s = await serve({ users: { bob: 'token-123' } });
    const c = connection(s.port, { encryption: 'tls', host: 'localhost' });
    await c.connect();
    await c.login({ username: 'bob', accessToken: async () => 'token-123' });
    expect(c.authenticated).toBe(true);
  });

  it('reports a refused login as AuthError with the reply code, and stays usable', async () => {
    const s = await serve({ users: { alice: 'right' } });
    const c = connection(s.port, { encryption: 'tls', host: 'localhost' });
    await c.connect();
    const err = await c.login({ username: 'alice', password: 'wrong' }, { method: 'PLAIN' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({ code: 'ERR_SMTP_AUTH', replyCode: 535 });
    expect((err as Error).message).not.toContain('wrong');
    await c.login({ username: 'alice', password: 'right' });
    expect(c.authenticated).toBe(true);
  });

  for (const hidePIPELINING of [false, true]) {
    it(`keeps a refused recipient from failing the others (pipelining ${hidePIPELINING ? 'off' : 'on'})`, async () => {
      const s = await serve({ refuse: ['nobody@rcpt.example'], hidePIPELINING });
      const c = connection(s.port);
      const info = await c.connect();
      expect(info.pipelining).toBe(!hidePIPELINING);
      const outcome = await c.sendMail(
        { from: 'a@sender.example', to: ['b@rcpt.example', 'nobody@rcpt.example', 'c@rcpt.example'] },
        message('partial'),
      );
      expect(outcome.delivered).toBe(true);
      expect(outcome.accepted).toEqual(['b@rcpt.example', 'c@rcpt.example']);
      expect(outcome.rejected.map((r) => [r.recipient, r.reply.code])).toEqual([['nobody@rcpt.example', 550]]);
      expect(s.messages[0]!.to).toEqual(['b@rcpt.example', 'c@rcpt.example']);
    });
  }

  it('sends no data when every recipient is refused, and the connection stays usable', async () => {
    const s = await serve({ refuse: ['x@rcpt.example', 'y@rcpt.example'] });
    const c = connection(s.port);
    await c.connect();
    const outcome = await c.sendMail(
      { from: 'a@sender.example', to: ['x@rcpt.example', 'y@rcpt.example'] },
      message('none'),
    );
    expect(outcome).toMatchObject({ delivered: false, stage: 'rcpt', accepted: [] });
    expect(outcome.rejected).toHaveLength(2);
    expect(s.messages).toHaveLength(0);
    const next = await c.sendMail({ from: 'a@sender.example', to: ['ok@rcpt.example'] }, message('after'));
    expect(next.delivered).toBe(true);
    expect(s.messages).toHaveLength(1);
  });

  it('reports a 5xx after the final dot as an outcome, not an exception', async () => {
    const s = await serve({ failData: { code: 554, message: '5.7.1 Spam' } });
    const c = connection(s.port);
    await c.connect();
    const outcome = await c.sendMail({ from: 'a@sender.example', to: ['b@rcpt.example'] }, message('spam'));
    expect(outcome).toMatchObject({ delivered: false, stage: 'final' });
    expect(outcome.reply.code).toBe(554);
    expect(c.isReady).toBe(true);
  });

  it('checks SIZE locally before sending anything', async () => {
    const s = await serve({ size: 1000 });
    const c = connection(s.port);
    const info = await c.connect();
    expect(info.size).toBe(1000);
    const err = await c
      .sendMail({ from: 'a@sender.example', to: ['b@rcpt.example'] }, Buffer.from(`${'a'.repeat(98)}\r\n`.repeat(20)))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CapabilityError);
    expect(err).toMatchObject({ code: 'ERR_SMTP_SIZE_EXCEEDED' });
    expect(c.isReady).toBe(true);
  });

  it('declares BODY=8BITMIME for 8-bit bodies and SMTPUTF8 for UTF-8 addresses', async () => {
    const s = await serve();
    const c = connection(s.port);
    await c.connect();
    const body = Buffer.from('Subject: Grüße\r\n\r\nÄpfel und Birnen\r\n', 'utf8');
    await c.sendMail({ from: 'zoë@sender.example', to: ['José@rcpt.example'] }, body);
    const got = s.messages[0]!;
    expect(got.body8bit).toBe(true);
    expect(got.utf8).toBe(true);
    expect(got.from).toBe('zoë@sender.example');
    expect(got.raw.equals(body)).toBe(true);
  });

  it('refuses a UTF-8 address when the server lacks SMTPUTF8', async () => {
    const s = await serve({ hideSMTPUTF8: true });
    const c = connection(s.port);
    await c.connect();
    await expect(c.sendMail({ from: 'zoë@sender.example', to: ['b@rcpt.example'] }, 'x')).rejects.toMatchObject({
      code: 'ERR_SMTP_SMTPUTF8_UNSUPPORTED',
    });
  });

  it('sends many messages concurrently over one connection, pipelined across messages', async () => {
    const s = await serve();
    const c = connection(s.port);
    await c.connect();
    const outcomes = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        c.sendMail({ from: 'a@sender.example', to: [`r${i}@rcpt.example`] }, message(`n${i}`)),
      ),
    );
    expect(outcomes.every((o) => o.delivered)).toBe(true);
    expect(s.messages.map((m) => m.to[0])).toEqual(Array.from({ length: 30 }, (_, i) => `r${i}@rcpt.example`));
    expect(c.messagesSent).toBe(30);
    expect(s.connections).toBe(1);
  });

  it('streams a 50 MB body from a Readable with bounded memory', async () => {
    const s = await serve({ digestOnly: true, size: 0 });
    const c = connection(s.port);
    await c.connect();
    const line = Buffer.from(`${'0123456789'.repeat(9)}abcdefg\r\n`); // 99 octets
    const total = 50 * 1024 * 1024;
    const count = Math.floor(total / line.length);
    const hash = createHash('sha256');
    const head = Buffer.from('Subject: big\r\n\r\n');
    hash.update(head);
    let produced = 0;
    const batch = Buffer.concat(Array(1000).fill(line));
    const source = Readable.from(
      (function* () {
        yield head;
        while (produced < count) {
          const n = Math.min(1000, count - produced);
          const chunk = n === 1000 ? batch : batch.subarray(0, n * line.length);
          produced += n;
          hash.update(chunk);
          yield chunk;
        }
      })(),
    );
    if (global.gc) global.gc();
    const before = process.memoryUsage();
    let peak = 0;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peak = Math.max(peak, m.heapUsed + m.arrayBuffers - before.heapUsed - before.arrayBuffers);
    }, 20);
    const outcome = await c.sendMail(
      { from: 'a@sender.example', to: ['b@rcpt.example'], size: head.length + count * line.length },
      source,
    );
    clearInterval(sampler);
    expect(outcome.delivered).toBe(true);
    expect(s.messages[0]!.size).toBe(head.length + count * line.length);
    expect(s.messages[0]!.sha256).toBe(hash.digest('hex'));
    // The body is 50 MB; what the client held at any time must be a small fraction of it.
    expect(peak).toBeLessThan(40 * 1024 * 1024);
  });
});
