/**
 * Transcript tests on a fake socket (go-smtp / undici style): an in-process duplex pair, no port, and
 * the exact client bytes asserted line by line. They pin the wire format of each step.
 */
import { createHmac } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import type net from 'node:net';
import { duplexPair } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpConnection, type SmtpConnectionOptions, type TranscriptEntry } from '../../src/transport/connection.js';

type Handler = (line: string) => string | null;

interface Fake {
  /** Every client line (CRLF removed), DATA body lines included; BDAT payloads as `<n octets>`. */
  lines: string[];
  /** The client's writes as they arrived. */
  chunks: string[];
  /** For each line, the number of replies the server had sent before it arrived (pipelining). */
  before: number[];
  factory: NonNullable<SmtpConnectionOptions['socketFactory']>;
}

const EHLO_OK = [
  '250-fake.test',
  '250-PIPELINING',
  '250-8BITMIME',
  '250-CHUNKING',
  '250 AUTH PLAIN LOGIN CRAM-MD5',
].join('\r\n');

function fake(handler: Handler): Fake {
  const out: Fake = { lines: [], chunks: [], before: [], factory: async () => socket };
  const [client, server] = duplexPair();
  const socket = Object.assign(client, { setNoDelay: () => client }) as unknown as net.Socket;
  let replies = 1; // the greeting
  let buf = Buffer.alloc(0);
  let inData = false;
  let bdat: { left: number; last: boolean } | null = null;
  /** Lines (and BDAT payloads) as they arrive, answered a turn later: a pipelined group is all in first. */
  const queue: { line: string; bdatLast?: boolean }[] = [];
  let scheduled = false;
  server.write('220 fake.test ESMTP\r\n');
  server.on('data', (chunk: Buffer) => {
    out.chunks.push(chunk.toString('latin1'));
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (bdat) {
        if (buf.length < bdat.left) break;
        buf = buf.subarray(bdat.left);
        queue.push({ line: `<${bdat.left} octets>`, bdatLast: bdat.last });
        out.lines.push(`<${bdat.left} octets>`);
        out.before.push(replies);
        bdat = null;
        continue;
      }
      const i = buf.indexOf('\r\n');
      if (i === -1) break;
      const line = buf.toString('latin1', 0, i);
      buf = buf.subarray(i + 2);
      out.lines.push(line);
      out.before.push(replies);
      if (inData) {
        if (line === '.') {
          inData = false;
          queue.push({ line });
        }
        continue;
      }
      const m = /^BDAT (\d+)( LAST)?$/.exec(line);
      if (m) {
        bdat = { left: Number(m[1]), last: m[2] !== undefined };
        continue;
      }
      queue.push({ line });
      // The client sends the body only after 354, so DATA mode starts when it was asked for.
      if (line === 'DATA') inData = handler(line)?.startsWith('354') === true;
    }
    if (!scheduled && queue.length > 0) {
      scheduled = true;
      setImmediate(answer);
    }
  });
  const answer = (): void => {
    scheduled = false;
    for (const item of queue.splice(0)) {
      let reply: string | null;
      if (item.bdatLast !== undefined) reply = item.bdatLast ? '250 2.0.0 queued as B' : '250 2.0.0 chunk ok';
      else if (item.line === '.') reply = '250 2.0.0 queued as D';
      else reply = handler(item.line);
      if (reply === null) continue;
      server.write(`${reply}\r\n`);
      replies++;
      if (item.line === 'QUIT') server.end();
    }
  };
  return out;
}

/** A server that says yes to everything, with `overrides` by command prefix. */
function yes(overrides: Record<string, string> = {}): Handler {
  return (line) => {
    for (const [prefix, reply] of Object.entries(overrides)) if (line.startsWith(prefix)) return reply;
    if (line.startsWith('EHLO')) return EHLO_OK;
    if (line === 'DATA') return '354 go ahead';
    if (line === 'QUIT') return '221 bye';
    return '250 ok';
  };
}

const conns: SmtpConnection[] = [];
afterEach(() => {
  for (const c of conns.splice(0)) c.destroy();
});

function connection(f: Fake, options: Partial<SmtpConnectionOptions> = {}): SmtpConnection {
  const c = new SmtpConnection({
    host: 'localhost',
    port: 25,
    encryption: 'none',
    socketFactory: f.factory,
    ...options,
  });
  conns.push(c);
  return c;
}

const envelope = { from: 'a@x.example', to: ['b@y.example', 'c@y.example'] };
const body = 'Subject: t\r\n\r\n.leading dot\r\nbare\nLF\r\n';

describe('transcripts on a fake socket', () => {
  it('greeting, EHLO, a pipelined transaction with dot-stuffing and CRLF repair, QUIT', async () => {
    const f = fake(yes());
    const c = connection(f);
    await c.connect();
    const outcome = await c.sendMail(envelope, body);
    expect(outcome.delivered).toBe(true);
    await c.quit();
    expect(f.lines).toEqual([
      'EHLO [127.0.0.1]',
      'MAIL FROM:<a@x.example>',
      'RCPT TO:<b@y.example>',
      'RCPT TO:<c@y.example>',
      'DATA',
      'Subject: t',
      '',
      '..leading dot',
      'bare',
      'LF',
      '.',
      'QUIT',
    ]);
    // RFC 2920: MAIL, every RCPT and DATA before the first of their replies.
    expect(new Set(f.before.slice(1, 5)).size).toBe(1);
  });

  it('an IDN domain goes on the wire as its A-label, without SMTPUTF8; a UTF-8 local part needs SMTPUTF8', async () => {
    const f = fake(yes()); // EHLO_OK offers no SMTPUTF8
    const c = connection(f);
    await c.connect();
    const outcome = await c.sendMail({ from: 'a@bücher.example', to: ['"B" <b@bücher.example>'] }, 'x\r\n');
    expect(outcome.delivered).toBe(true);
    expect(f.lines.slice(1, 3)).toEqual(['MAIL FROM:<a@xn--bcher-kva.example>', 'RCPT TO:<b@xn--bcher-kva.example>']);
    await expect(c.sendMail({ from: 'jörg@x.example', to: ['b@y.example'] }, 'x\r\n')).rejects.toMatchObject({
      code: 'ERR_SMTP_SMTPUTF8_UNSUPPORTED',
    });
    const { needsSmtpUtf8, envelopeAddress, prepareRaw } = await import('../../src/index.js');
    expect(needsSmtpUtf8('a@bücher.example')).toBe(false);
    expect(envelopeAddress('a@bücher.example')).toBe('a@xn--bcher-kva.example');
    const prepared = prepareRaw({ from: 'a@bücher.example', to: ['b@bücher.example'] }, 'x\r\n');
    expect(prepared.envelope).toMatchObject({ from: 'a@xn--bcher-kva.example', smtpUtf8: false });
  });

  it('falls back to HELO when EHLO is refused, and then waits for each reply', async () => {
    const f = fake(yes({ EHLO: '502 5.5.1 no EHLO here' }));
    const c = connection(f, { clientName: 'client.example' });
    await c.connect();
    await c.sendMail({ from: 'a@x.example', to: ['b@y.example'] }, 'x\r\n');
    expect(f.lines.slice(0, 5)).toEqual([
      'EHLO client.example',
      'HELO client.example',
      'MAIL FROM:<a@x.example>',
      'RCPT TO:<b@y.example>',
      'DATA',
    ]);
    expect(f.before.slice(2, 5)).toEqual([3, 4, 5]);
  });

  it('declares BODY=8BITMIME and SIZE for an 8-bit body', async () => {
    const f = fake(yes({ EHLO: `${EHLO_OK.replace('250 AUTH', '250-AUTH')}\r\n250 SIZE 1000000` }));
    const c = connection(f);
    await c.connect();
    await c.sendMail({ from: 'a@x.example', to: ['b@y.example'] }, Buffer.from('Subject: é\r\n\r\nx\r\n'));
    expect(f.lines[1]).toBe('MAIL FROM:<a@x.example> SIZE=18 BODY=8BITMIME');
  });

  it('AUTH PLAIN in one line; LOGIN and CRAM-MD5 answer their challenges', async () => {
    const challenge = Buffer.from('<1896.697170952@postoffice.example.net>').toString('base64');
    for (const [method, script, expected] of [
      ['PLAIN', {}, [`AUTH PLAIN ${Buffer.from('\0user\0pass').toString('base64')}`]],
      [
        'LOGIN',
        { 'AUTH LOGIN': '334 VXNlcm5hbWU6', dXNlcg: '334 UGFzc3dvcmQ6' },
        ['AUTH LOGIN', Buffer.from('user').toString('base64'), Buffer.from('pass').toString('base64')],
      ],
      [
        'CRAM-MD5',
        { 'AUTH CRAM-MD5': `334 ${challenge}` },
        [
          'AUTH CRAM-MD5',
          Buffer.from(
            `user ${createHmac('md5', 'pass').update(Buffer.from(challenge, 'base64')).digest('hex')}`,
          ).toString('base64'),
        ],
      ],
    ] as const) {
      const handler = yes({ ...script, 'AUTH PLAIN': '235 ok', cGFz: '235 ok', dXNlciA: '235 ok' });
      const f = fake(handler);
      const c = connection(f);
      await c.connect();
      await c.login({ username: 'user', password: 'pass' }, { method });
      expect(f.lines.slice(1)).toEqual(expected);
      expect(c.authenticated).toBe(true);
    }
  });

  it('XOAUTH2 sends user and bearer token in one initial response', async () => {
    const f = fake(yes({ EHLO: '250-fake.test\r\n250 AUTH XOAUTH2', 'AUTH XOAUTH2': '235 ok' }));
    const c = connection(f);
    await c.connect();
    await c.login({ username: 'user@x.example', accessToken: 'tok' });
    expect(f.lines[1]).toBe(
      `AUTH XOAUTH2 ${Buffer.from('user=user@x.example\x01auth=Bearer tok\x01\x01').toString('base64')}`,
    );
  });

  it('two messages in a row: the second MAIL rides behind the first final dot', async () => {
    const f = fake(yes());
    const c = connection(f);
    await c.connect();
    const one = { from: 'a@x.example', to: ['b@y.example'] };
    const [r1, r2] = await Promise.all([
      c.sendMail(one, 'Subject: 1\r\n\r\n1\r\n'),
      c.sendMail(one, 'Subject: 2\r\n\r\n2\r\n'),
    ]);
    expect(r1.delivered && r2.delivered).toBe(true);
    expect(f.lines.slice(1)).toEqual([
      'MAIL FROM:<a@x.example>',
      'RCPT TO:<b@y.example>',
      'DATA',
      'Subject: 1',
      '',
      '1',
      '.',
      'MAIL FROM:<a@x.example>',
      'RCPT TO:<b@y.example>',
      'DATA',
      'Subject: 2',
      '',
      '2',
      '.',
    ]);
    // The second MAIL arrived before the reply to the first dot was sent.
    const firstDot = f.lines.indexOf('.');
    expect(f.before[firstDot + 1]).toBe(f.before[firstDot]);
  });

  it('every recipient refused: the pipelined DATA is answered, then RSET', async () => {
    const f = fake(yes({ RCPT: '550 5.1.1 no such user', DATA: '503 5.5.1 no valid recipients' }));
    const c = connection(f);
    await c.connect();
    const outcome = await c.sendMail(envelope, body);
    expect(outcome.stage).toBe('rcpt');
    expect(f.lines.slice(1)).toEqual([
      'MAIL FROM:<a@x.example>',
      'RCPT TO:<b@y.example>',
      'RCPT TO:<c@y.example>',
      'DATA',
      'RSET',
    ]);
    expect(c.isReady).toBe(true);
  });

  it('BDAT: chunks of chunkSize, the last one BDAT n LAST, no dot-stuffing', async () => {
    const f = fake(yes());
    const c = connection(f, { chunking: true, chunkSize: 16 });
    await c.connect();
    const outcome = await c.sendMail({ from: 'a@x.example', to: ['b@y.example'] }, 'Subject: t\r\n\r\n.dot\r\n');
    expect(outcome.via).toBe('BDAT');
    expect(f.lines.slice(1)).toEqual([
      'MAIL FROM:<a@x.example>',
      'RCPT TO:<b@y.example>',
      'BDAT 16',
      '<16 octets>',
      'BDAT 4 LAST',
      '<4 octets>',
    ]);
  });

  it('STARTTLS refused: no plaintext fallback, nothing else is sent', async () => {
    const f = fake(
      yes({ EHLO: '250-fake.test\r\n250 STARTTLS', STARTTLS: '454 4.7.0 TLS not available due to temporary reason' }),
    );
    const c = connection(f, { encryption: 'tls' });
    await expect(c.connect()).rejects.toMatchObject({ name: 'TlsError' });
    expect(f.lines).toEqual(['EHLO [127.0.0.1]', 'STARTTLS']);
  });

  it('the diagnostics channels carry the same lines as onTranscript, and the connection coming and going', async () => {
    const seen: { channel: string; message: unknown }[] = [];
    const names = ['smtpwire:transcript', 'smtpwire:connection:connected', 'smtpwire:connection:closed'];
    const listeners = names.map((channel) => {
      const listener = (message: unknown): void => void seen.push({ channel, message });
      diagnostics.subscribe(channel, listener);
      return () => diagnostics.unsubscribe(channel, listener);
    });
    try {
      const entries: TranscriptEntry[] = [];
      const c = connection(fake(yes({ 'AUTH PLAIN': '235 ok' })), { onTranscript: (e) => entries.push(e) });
      await c.connect();
      await c.login({ username: 'u', password: 'secret' }, { method: 'PLAIN' });
      await c.sendMail({ from: 'a@x.example', to: ['b@y.example'] }, 'x\r\n');
      await c.close();
      const lines = seen.filter((s) => s.channel === 'smtpwire:transcript').map((s) => s.message);
      expect(lines).toEqual(entries.map((e) => ({ host: 'localhost', port: 25, ...e })));
      expect(entries).toContainEqual({ direction: 'client', line: 'AUTH PLAIN ****' });
      expect(JSON.stringify(lines)).not.toContain(Buffer.from('\0u\0secret').toString('base64'));
      expect(seen.find((s) => s.channel === 'smtpwire:connection:connected')?.message).toEqual({
        host: 'localhost',
        port: 25,
        secure: false,
        connection: c,
      });
      expect(seen.filter((s) => s.channel === 'smtpwire:connection:closed')).toHaveLength(1);
    } finally {
      for (const off of listeners) off();
    }
  });
});

describe('builder output goes out without re-encoding, and only when it is safe', () => {
  it('a body in wire form is kept as it is; one that must change is encoded once; dots are stuffed at send time', async () => {
    const { toWireBody, dataForm } = await import('../../src/protocol/dot-stuff.js');
    const clean = Buffer.from('Subject: t\r\n\r\nhello\r\n');
    const wire = toWireBody(clean);
    expect(wire.bytes).toBe(clean); // not copied
    expect(dataForm(wire)).toEqual({ ready: clean, stuffed: null });
    const repaired = toWireBody(Buffer.from('Subject: t\n\nbare\rcr'));
    expect(repaired.bytes.toString()).toBe('Subject: t\r\n\r\nbare\r\ncr\r\n');
    const dotted = toWireBody(Buffer.from('Subject: t\r\n\r\n.hidden\r\n'));
    expect(dotted.bytes.toString()).toBe('Subject: t\r\n\r\n.hidden\r\n'); // BDAT needs no stuffing
    expect(dataForm(dotted).stuffed?.toString()).toBe('Subject: t\r\n\r\n..hidden\r\n.\r\n');
    // Bytes changed after the check cannot end the data early: the dots are looked for at send time.
    clean.write('\n.\r', 13, 'latin1');
    expect(dataForm(wire).ready).toBeNull();
    expect(() => toWireBody(Buffer.from(`${'x'.repeat(999)}\r\n`))).toThrow(/longer than 998/);
    expect(toWireBody(Buffer.from(`${'x'.repeat(998)}\r\n`)).bytes.length).toBe(1000);
    // A long run split by a bare CR is two lines, each within the limit: repaired, not refused.
    expect(toWireBody(Buffer.from(`${'x'.repeat(600)}\r${'y'.repeat(600)}\r\n`)).bytes.length).toBe(1204);
  });

  it('sendRaw: a clean raw message is sent as it is; one with bare LFs is repaired; both arrive intact', async () => {
    const { startScriptedServer } = await import('../../src/testing/index.js');
    const { SmtpProtocolHandler } = await import('../../src/index.js');
    const server = await startScriptedServer();
    const h = new SmtpProtocolHandler({ hostname: '127.0.0.1', port: server.port, encryption: 'none' });
    try {
      const env = { from: 'a@x.example', to: ['b@y.example'] };
      expect((await h.sendRaw(env, Buffer.from('Subject: s\r\n\r\n.dot\r\nx\r\n'))).status).toBe('success');
      expect((await h.sendRaw(env, Buffer.from('Subject: s\n\n.dot\nx'))).status).toBe('success');
      expect(server.messages[0]!.data.toString()).toBe('Subject: s\r\n\r\n.dot\r\nx\r\n');
      expect(server.messages[1]!.data.toString()).toBe('Subject: s\r\n\r\n.dot\r\nx\r\n');
    } finally {
      await h.close();
      await server.close();
    }
  });

  it('sendMessage with lines starting with a dot arrives intact (stuffed on the wire)', async () => {
    const { startScriptedServer } = await import('../../src/testing/index.js');
    const { SmtpProtocolHandler } = await import('../../src/index.js');
    const server = await startScriptedServer();
    const h = new SmtpProtocolHandler({ hostname: '127.0.0.1', port: server.port, encryption: 'none' });
    try {
      const r = await h.sendMessage({
        fromAddress: 'a@x.example',
        toAddresses: ['b@y.example'],
        subject: 's',
        textBody: '.hidden\n.\nafter the dot',
      });
      expect(r.status).toBe('success');
      expect(server.messages[0]!.data.toString()).toContain('\r\n.hidden\r\n.\r\nafter the dot\r\n');
    } finally {
      await h.close();
      await server.close();
    }
  });
});
