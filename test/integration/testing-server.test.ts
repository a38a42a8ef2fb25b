/**
 * The scripted SMTP server (smtpwire/testing), driven by raw node:net / node:tls sockets: the
 * correct dialogue, TLS, AUTH, pipelining records, every fault as a client sees it, clean close.
 */
import { createHmac } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import type { ScriptedServerOptions, ScriptedSmtpServer } from '../../src/testing/index.js';
import {
  formatTranscript,
  garbage,
  longLine,
  startScriptedServer,
  testCertificates,
  waitFor,
} from '../../src/testing/index.js';

/** A bare SMTP client over a raw socket: write bytes, read whole replies. */
class RawClient {
  socket!: net.Socket;
  /** Every chunk received, as the socket delivered it. */
  readonly chunks: Buffer[] = [];
  error: Error | null = null;
  closed = false;
  #buf = Buffer.alloc(0);
  #wake: (() => void) | null = null;

  static async connect(server: ScriptedSmtpServer, secure?: tls.ConnectionOptions): Promise<RawClient> {
    const client = new RawClient();
    const socket =
      secure === undefined
        ? net.connect(server.port, server.host)
        : tls.connect({ host: server.host, port: server.port, servername: 'localhost', ...secure });
    client.#attach(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once(secure === undefined ? 'connect' : 'secureConnect', () => resolve());
      socket.once('error', reject);
    });
    return client;
  }

  #attach(socket: net.Socket): void {
    this.socket = socket;
    socket.on('data', this.#onData);
    socket.on('error', (err) => {
      this.error = err;
      this.#notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#notify();
    });
  }

  #onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.#buf = Buffer.concat([this.#buf, chunk]);
    this.#notify();
  };

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** Bytes received and not consumed yet. */
  get pending(): Buffer {
    return this.#buf;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Wait until `ready()` holds, or fail after `timeoutMs`. */
  async until(ready: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; pending: ${JSON.stringify(this.#buf.toString())}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** The next complete reply (all its lines joined with \n, no CRLF). */
  async reply(timeoutMs = 2000): Promise<string> {
    let end = -1;
    const find = (): boolean => {
      let start = 0;
      for (;;) {
        const lf = this.#buf.indexOf(10, start);
        if (lf === -1) return false;
        const line = this.#buf.toString('utf8', start, lf);
        // A final line is "ddd " or "ddd" alone; anything not "ddd-" ends the reply too.
        if (!/^\d{3}-/.test(line)) {
          end = lf + 1;
          return true;
        }
        start = lf + 1;
      }
    };
    await this.until(() => find() || this.closed, timeoutMs, 'a reply');
    if (end === -1)
      throw new Error(`connection closed before a reply; pending: ${JSON.stringify(this.#buf.toString())}`);
    const text = this.#buf.toString('utf8', 0, end);
    this.#buf = this.#buf.subarray(end);
    return text.replace(/\r?\n$/, '').replace(/\r\n/g, '\n');
  }

  /** Send one command line and read its reply. */
  async cmd(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  /** Wait for the server to close the connection. */
  async waitClose(timeoutMs = 2000): Promise<void> {
    await this.until(() => this.closed, timeoutMs, 'close');
  }

  /** Upgrade to TLS after a STARTTLS 220; bytes already received stay in `pending`. */
  async upgrade(options: tls.ConnectionOptions): Promise<void> {
    const plain = this.socket;
    plain.off('data', this.#onData);
    const secure = tls.connect({ socket: plain, servername: 'localhost', ...options });
    this.#attach(secure);
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

const certs = testCertificates();
const trusted: tls.ConnectionOptions = { ca: certs.ca };
const b64 = (s: string): string => Buffer.from(s).toString('base64');

let servers: ScriptedSmtpServer[] = [];
let clients: RawClient[] = [];

async function start(options: ScriptedServerOptions = {}): Promise<ScriptedSmtpServer> {
  const server = await startScriptedServer(options);
  servers.push(server);
  return server;
}

async function connect(server: ScriptedSmtpServer, secure?: tls.ConnectionOptions): Promise<RawClient> {
  const client = await RawClient.connect(server, secure);
  clients.push(client);
  return client;
}

/** Connect, read the greeting, EHLO. */
async function ready(server: ScriptedSmtpServer): Promise<RawClient> {
  const client = await connect(server);
  expect(await client.reply()).toMatch(/^220 /);
  expect(await client.cmd('EHLO client.test')).toMatch(/^250 /m);
  return client;
}

afterEach(async () => {
  for (const client of clients) client.destroy();
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  clients = [];
});

describe('default dialogue', () => {
  it('greets, advertises, takes a dot-stuffed DATA message and records everything', async () => {
    const server = await start();
    const client = await connect(server);
    expect(await client.reply()).toBe('220 localhost ESMTP');
    expect((await client.cmd('EHLO client.test')).split('\n')).toEqual([
      '250-localhost Hello client.test',
      '250-PIPELINING',
      '250-8BITMIME',
      '250-SMTPUTF8',
      '250-SIZE 10485760',
      '250-ENHANCEDSTATUSCODES',
      '250 CHUNKING',
    ]);
    expect(await client.cmd('MAIL FROM:<a@example.com> SIZE=42 BODY=8BITMIME')).toBe(
      '250 2.1.0 Sender <a@example.com> OK',
    );
    expect(await client.cmd('RCPT TO:<b@example.com> NOTIFY=NEVER')).toBe('555 5.5.4 NOTIFY parameter not supported');
    expect(await client.cmd('RCPT TO:<b@example.com>')).toBe('250 2.1.5 Recipient <b@example.com> OK');
    expect(await client.cmd('DATA')).toBe('354 End data with <CR><LF>.<CR><LF>');
    const wire = 'Subject: dots\r\n\r\n..leading\r\n...two\r\nend\r\n.\r\n';
    client.write(wire);
    expect(await client.reply()).toMatch(/^250 2\.0\.0 OK: queued as SW\d+$/);
    expect(await client.cmd('VRFY someone')).toMatch(/^252 2\.5\.2 /);
    expect(await client.cmd('NOOP')).toBe('250 2.0.0 OK');
    expect(await client.cmd('RSET')).toBe('250 2.0.0 OK');
    expect(await client.cmd('FOO bar')).toBe('500 5.5.1 Command unrecognized');
    expect(await client.cmd('QUIT')).toMatch(/^221 2\.0\.0 /);
    await client.waitClose();

    const [message] = server.messages;
    expect(message).toMatchObject({
      mailFrom: 'a@example.com',
      mailParams: { SIZE: '42', BODY: '8BITMIME' },
      rcptTo: ['b@example.com'],
      refusedRcptTo: ['b@example.com'],
      via: 'DATA',
      accepted: true,
      bareLf: false,
      bareCr: false,
      tls: false,
    });
    expect(message?.data.toString()).toBe('Subject: dots\r\n\r\n.leading\r\n..two\r\nend\r\n');
    expect(message?.raw.toString()).toBe(wire);
    const session = await waitFor(() => (server.lastSession?.closed === true ? server.lastSession : undefined));
    expect(session.commands.map((c) => c.verb)).toEqual([
      'EHLO',
      'MAIL',
      'RCPT',
      'RCPT',
      'DATA',
      'VRFY',
      'NOOP',
      'RSET',
      'FOO',
      'QUIT',
    ]);
    expect(session.commands.every((c) => c.crlf)).toBe(true);
    expect(session.replies[0]).toMatchObject({ event: 'GREETING', text: '220 localhost ESMTP\r\n' });
    expect(session.helo).toBe('client.test');
    expect(formatTranscript(session).split('\n').slice(0, 3)).toEqual([
      'S: 220 localhost ESMTP',
      'C: EHLO client.test',
      'S: 250-localhost Hello client.test',
    ]);
    expect(server.connectionCount).toBe(1);
  });

  it('enforces sequence and what was advertised', async () => {
    const server = await start({ capabilities: ['PIPELINING', 'SIZE 100'] });
    const client = await connect(server);
    await client.reply();
    expect(await client.cmd('MAIL FROM:<a@x.test>')).toBe('503 Send EHLO or HELO first');
    expect(await client.cmd('HELO client.test')).toBe('250 localhost Hello client.test');
    // HELO: no extensions at all, and no enhanced codes.
    expect(await client.cmd('MAIL FROM:<a@x.test> SIZE=1')).toBe('555 SIZE parameter not supported');
    expect(await client.cmd('EHLO client.test')).toBe('250-localhost Hello client.test\n250-PIPELINING\n250 SIZE 100');
    expect(await client.cmd('DATA')).toBe('503 Need MAIL command');
    expect(await client.cmd('MAIL FROM:<a@x.test> SIZE=101')).toMatch(/^552 /);
    expect(await client.cmd('MAIL FROM:<a@x.test> BODY=8BITMIME')).toBe('555 BODY parameter not supported');
    expect(await client.cmd('MAIL FROM:<ü@x.test>')).toMatch(/^553 /);
    expect(await client.cmd('MAIL FROM: <a@x.test>')).toMatch(/^501 /);
    expect(await client.cmd('MAIL FROM:<a@x.test>')).toMatch(/^250 /);
    expect(await client.cmd('MAIL FROM:<a@x.test>')).toBe('503 Nested MAIL command');
    expect(await client.cmd('DATA')).toBe('554 No valid recipients');
    client.write('BDAT 3 LAST\r\nabc');
    expect(await client.reply()).toBe('502 BDAT without CHUNKING advertised');
    expect(await client.cmd('STARTTLS')).toBe('502 STARTTLS not advertised');
    expect(await client.cmd('AUTH PLAIN')).toBe('502 AUTH not advertised');
  });

  it('takes SMTPUTF8 addresses and 8-bit bodies, flagging bare LF/CR', async () => {
    const server = await start();
    const client = await ready(server);
    expect(await client.cmd('MAIL FROM:<jörg@example.com> SMTPUTF8')).toMatch(/^250 /);
    expect(await client.cmd('RCPT TO:<用户@例子.测试>')).toMatch(/^250 /);
    expect(await client.cmd('DATA')).toMatch(/^354/);
    client.write(Buffer.concat([Buffer.from('caf\xe9 bare\nlf and\rcr\r\n', 'latin1'), Buffer.from('.\r\n')]));
    expect(await client.reply()).toMatch(/^250 /);
    expect(server.messages[0]).toMatchObject({
      mailFrom: 'jörg@example.com',
      mailParams: { SMTPUTF8: true },
      rcptTo: ['用户@例子.测试'],
      eightBit: true,
      bareLf: true,
      bareCr: true,
    });
  });

  it('BDAT: exact byte counts, binary safe, chunks pipelined with their commands', async () => {
    const server = await start();
    const client = await ready(server);
    const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const tricky = Buffer.from('\r\n.\r\nQUIT\r\n');
    client.write('MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\n');
    expect(await client.reply()).toMatch(/^250 /);
    expect(await client.reply()).toMatch(/^250 /);
    client.write(
      Buffer.concat([
        Buffer.from(`BDAT ${binary.length}\r\n`),
        binary,
        Buffer.from(`BDAT ${tricky.length} LAST\r\n`),
        tricky,
      ]),
    );
    expect(await client.reply()).toBe('250 2.0.0 256 octets received');
    expect(await client.reply()).toMatch(/^250 2\.0\.0 OK: queued as /);
    expect(await client.cmd('NOOP')).toBe('250 2.0.0 OK');
    const message = server.messages[0];
    expect(message?.via).toBe('BDAT');
    expect(message?.chunks).toEqual([256, tricky.length]);
    expect(message?.data.equals(Buffer.concat([binary, tricky]))).toBe(true);
    expect(server.lastSession?.commands.map((c) => c.verb)).toEqual(['EHLO', 'MAIL', 'RCPT', 'BDAT', 'BDAT', 'NOOP']);
    client.write('BDAT 0 LAST\r\n');
    expect(await client.reply()).toBe('503 5.5.1 Need MAIL command');
  });

  it('answers an over-long command line with 500 and carries on; refuses oversize messages', async () => {
    const server = await start({ maxLineLength: 100, maxMessageSize: 50 });
    const client = await ready(server);
    expect(await client.cmd(`NOOP ${'x'.repeat(200)}`)).toBe('500 5.5.2 Line too long');
    expect(await client.cmd('NOOP')).toBe('250 2.0.0 OK');
    expect(server.lastSession?.commands[1]).toMatchObject({ overlong: true, verb: 'NOOP' });
    await client.cmd('MAIL FROM:<a@x.test>');
    await client.cmd('RCPT TO:<b@x.test>');
    await client.cmd('DATA');
    client.write(`${'y'.repeat(60)}\r\n.\r\n`);
    expect(await client.reply()).toBe('552 5.3.4 Message size exceeds fixed maximum message size');
    expect(server.messages[0]).toMatchObject({ oversize: true, accepted: false, size: 65 });
    expect(server.messages[0]?.data.length).toBe(0);
  });
});

describe('TLS', () => {
  it('STARTTLS upgrades, verified by the test CA; state is reset and EHLO repeated', async () => {
    const server = await start({ tls: true });
    const client = await connect(server);
    await client.reply();
    expect(await client.cmd('EHLO client.test')).toMatch(/^250[- ]STARTTLS$/m);
    expect(await client.cmd('STARTTLS')).toBe('220 2.0.0 Ready to start TLS');
    await client.upgrade(trusted);
    expect((client.socket as tls.TLSSocket).authorized).toBe(true);
    expect(await client.cmd('MAIL FROM:<a@x.test>')).toBe('503 Send EHLO or HELO first');
    expect(await client.cmd('EHLO client.test')).not.toMatch(/STARTTLS/);
    expect(await client.cmd('STARTTLS')).toBe('503 5.5.1 TLS already active');
    const session = server.lastSession;
    expect(session).toMatchObject({ tls: true, starttls: true, tlsError: null });
    expect(session?.tlsProtocol).toMatch(/^TLSv1\.[23]$/);
    expect(session?.commands.map((c) => [c.verb, c.tls])).toEqual([
      ['EHLO', false],
      ['STARTTLS', false],
      ['MAIL', true],
      ['EHLO', true],
      ['STARTTLS', true],
    ]);
  });

  it('capabilities as an array keeps STARTTLS (and AUTH after TLS) from tls and users', async () => {
    const server = await start({ tls: true, users: { u: 'p' }, capabilities: ['PIPELINING', 'SIZE 100'] });
    const client = await connect(server);
    await client.reply();
    expect(await client.cmd('EHLO client.test')).toBe(
      '250-localhost Hello client.test\n250-PIPELINING\n250-SIZE 100\n250-STARTTLS\n250 AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2',
    );
    expect(await client.cmd('STARTTLS')).toBe('220 Ready to start TLS');
    await client.upgrade(trusted);
    expect(await client.cmd('EHLO client.test')).toMatch(/^250-PIPELINING\n250-SIZE 100\n250 AUTH [A-Z0-9 -]+$/m);
  });

  it('the untrusted certificate fails verification', async () => {
    const server = await start({ tls: 'untrusted' });
    const client = await connect(server);
    await client.reply();
    await client.cmd('EHLO client.test');
    expect(await client.cmd('STARTTLS')).toMatch(/^220 /);
    await expect(client.upgrade(trusted)).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    // Node verifies after the handshake, so the server may have seen it complete: what matters
    // is that nothing was sent over the refused channel and it was closed.
    await waitFor(() => server.lastSession?.closed);
    expect(server.lastSession?.commands.map((c) => c.verb)).toEqual(['EHLO', 'STARTTLS']);
  });

  it('implicit TLS: handshake first, then the greeting; no STARTTLS offered', async () => {
    const server = await start({ implicitTls: true });
    const client = await connect(server, trusted);
    expect(await client.reply()).toBe('220 localhost ESMTP');
    expect(await client.cmd('EHLO client.test')).not.toMatch(/STARTTLS/);
    expect(server.lastSession).toMatchObject({ tls: true, starttls: false });
  });

  it('records the handshake failure of a plaintext client on an implicit TLS port, and the reverse', async () => {
    const implicit = await start({ implicitTls: true });
    const plain = await connect(implicit);
    plain.write('EHLO client.test\r\n');
    await plain.waitClose();
    await waitFor(() => implicit.lastSession?.closed);
    expect(implicit.lastSession?.tlsError).toMatch(/wrong version number|http request|unknown protocol/i);
    expect(implicit.lastSession?.replies).toHaveLength(0);

    const cleartext = await start();
    await expect(RawClient.connect(cleartext, trusted)).rejects.toThrow();
  });

  it('discards plaintext pipelined after STARTTLS (RFC 3207 §6, server side)', async () => {
    const server = await start({ tls: true });
    const client = await ready(server);
    client.write('STARTTLS\r\nMAIL FROM:<evil@x.test>\r\n');
    expect(await client.reply()).toMatch(/^220 /);
    await client.upgrade(trusted);
    expect(await client.cmd('EHLO client.test')).toMatch(/^250 /m);
    expect(server.lastSession?.plaintextDiscarded).toBe('MAIL FROM:<evil@x.test>\r\n'.length);
    expect(server.lastSession?.commands.map((c) => c.verb)).toEqual(['EHLO', 'STARTTLS', 'EHLO']);
  });
});

describe('AUTH', () => {
  const users = { alice: 'wonderland' };

  it('PLAIN: success and failure', async () => {
    const server = await start({ users, requireAuth: true });
    const client = await ready(server);
    expect(await client.cmd('MAIL FROM:<a@x.test>')).toBe('530 5.7.0 Authentication required');
    expect(await client.cmd(`AUTH PLAIN ${b64('\0alice\0wrong')}`)).toBe(
      '535 5.7.8 Authentication credentials invalid',
    );
    expect(await client.cmd('AUTH PLAIN')).toBe('334 ');
    expect(await client.cmd(b64('\0alice\0wonderland'))).toBe('235 2.7.0 Authentication successful');
    expect(await client.cmd('AUTH PLAIN')).toBe('503 5.5.1 Already authenticated');
    expect(await client.cmd('MAIL FROM:<a@x.test>')).toMatch(/^250 /);
    expect(server.lastSession).toMatchObject({ authUser: 'alice', authMechanism: 'PLAIN' });
    expect(server.lastSession?.commands.map((c) => c.verb)).toContain('AUTH_RESPONSE');
  });

  it('LOGIN, CRAM-MD5 and XOAUTH2', async () => {
    const server = await start({ users });
    let client = await ready(server);
    expect(await client.cmd('AUTH LOGIN')).toBe('334 VXNlcm5hbWU6');
    expect(await client.cmd(b64('alice'))).toBe('334 UGFzc3dvcmQ6');
    expect(await client.cmd(b64('wonderland'))).toMatch(/^235 /);

    client = await ready(server);
    const challenge = Buffer.from((await client.cmd('AUTH CRAM-MD5')).slice(4), 'base64').toString();
    expect(challenge).toMatch(/^<.+@localhost>$/);
    const digest = createHmac('md5', 'wonderland').update(challenge).digest('hex');
    expect(await client.cmd(b64(`alice ${digest}`))).toMatch(/^235 /);

    client = await ready(server);
    expect(await client.cmd(`AUTH XOAUTH2 ${b64('user=alice\x01auth=Bearer nope\x01\x01')}`)).toMatch(/^334 /);
    expect(await client.cmd('')).toMatch(/^535 /);
    expect(await client.cmd(`AUTH XOAUTH2 ${b64('user=alice\x01auth=Bearer wonderland\x01\x01')}`)).toMatch(/^235 /);
    expect(server.sessions.map((s) => s.authMechanism)).toEqual(['LOGIN', 'CRAM-MD5', 'XOAUTH2']);
  });

  it('cancel with *, unknown mechanism, AUTH only under TLS', async () => {
    const server = await start({ users, tls: true, authRequiresTls: true });
    const client = await ready(server);
    expect(await client.cmd('AUTH PLAIN')).toMatch(/^538 5\.7\.11 /);
    await client.cmd('STARTTLS');
    await client.upgrade(trusted);
    expect(await client.cmd('EHLO client.test')).toMatch(/^250 AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2$/m);
    expect(await client.cmd('AUTH GSSAPI')).toBe('504 5.5.4 Unrecognized authentication type');
    expect(await client.cmd('AUTH LOGIN')).toMatch(/^334 /);
    expect(await client.cmd('*')).toBe('501 5.7.0 Authentication cancelled');
    expect(server.lastSession?.authUser).toBeNull();
  });
});

describe('pipelining records', () => {
  it('MAIL/RCPT/RCPT/DATA in one write all arrive before the first reply; replies stay in order', async () => {
    const server = await start({ script: [{ on: 'MAIL', delay: 30 }] });
    const client = await ready(server);
    client.write('MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n');
    const replies = [await client.reply(), await client.reply(), await client.reply(), await client.reply()];
    expect(replies.map((r) => r.slice(0, 3))).toEqual(['250', '250', '250', '354']);
    const commands = server.lastSession?.commands ?? [];
    const group = commands.slice(1, 5);
    expect(group.map((c) => c.verb)).toEqual(['MAIL', 'RCPT', 'RCPT', 'DATA']);
    expect(new Set(group.map((c) => c.repliesBefore))).toEqual(new Set([2]));

    // Lock-step commands each arrive after the previous reply.
    client.write('.\r\n');
    await client.reply();
    await client.cmd('NOOP');
    await client.cmd('NOOP');
    const tail = (server.lastSession?.commands ?? []).slice(-2);
    expect(tail[1]!.repliesBefore - tail[0]!.repliesBefore).toBe(1);
  });
});

describe('faults', () => {
  it('a fixed reply on the n-th RCPT, matched lines, and the state follows the code sent', async () => {
    const server = await start({
      script: [
        { on: 'RCPT', nth: 2, reply: '550 5.1.1 No such user' },
        { on: 'RCPT', match: /<busy@/, reply: ['451-4.3.0 first line', '451 4.3.0 try later'] },
      ],
    });
    const client = await ready(server);
    await client.cmd('MAIL FROM:<a@x.test>');
    expect(await client.cmd('RCPT TO:<one@x.test>')).toMatch(/^250 /);
    expect(await client.cmd('RCPT TO:<two@x.test>')).toBe('550 5.1.1 No such user');
    expect(await client.cmd('RCPT TO:<busy@x.test>')).toBe('451-4.3.0 first line\n451 4.3.0 try later');
    expect(await client.cmd('RCPT TO:<three@x.test>')).toMatch(/^250 /);
    await client.cmd('DATA');
    client.write('x\r\n.\r\n');
    await client.reply();
    expect(server.messages[0]?.rcptTo).toEqual(['one@x.test', 'three@x.test']);
    expect(server.messages[0]?.refusedRcptTo).toEqual(['two@x.test', 'busy@x.test']);
  });

  it('delay before replying', async () => {
    const server = await start({ script: [{ on: 'NOOP', delay: 120 }] });
    const client = await ready(server);
    const t0 = Date.now();
    expect(await client.cmd('NOOP')).toBe('250 2.0.0 OK');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
  });

  it('split replies: every byte, and at chosen offsets', async () => {
    const server = await start({
      script: [
        { on: 'EHLO', split: 'byte', splitDelay: 0 },
        { on: 'NOOP', split: [1, 5], splitDelay: 20 },
      ],
    });
    const client = await connect(server);
    await client.reply();
    const before = client.chunks.length;
    const ehlo = await client.cmd('EHLO client.test');
    expect(ehlo).toMatch(/^250 CHUNKING$/m);
    // Separate writes with Nagle off: far more reads than one (exact count is up to the kernel).
    expect(client.chunks.length - before).toBeGreaterThan(5);
    const mark = client.chunks.length;
    expect(await client.cmd('NOOP')).toBe('250 2.0.0 OK');
    expect(client.chunks.slice(mark).map((c) => c.toString())).toEqual(['2', '50 2', '.0.0 OK\r\n']);
  });

  it('silent: no reply ever again, lines still recorded', async () => {
    const server = await start({ script: [{ on: 'MAIL', action: 'silent' }] });
    const client = await ready(server);
    client.write('MAIL FROM:<a@x.test>\r\nNOOP\r\n');
    await waitFor(() => server.lastSession?.commands.length === 3);
    await new Promise((r) => setTimeout(r, 50));
    expect(client.pending.length).toBe(0);
    expect(client.closed).toBe(false);
  });

  it('drop before replying, drop after replying, reset', async () => {
    const server = await start({
      script: [
        { on: 'NOOP', connection: 1, action: 'drop' },
        { on: 'NOOP', connection: 2, action: 'drop-after-reply' },
        { on: 'NOOP', connection: 3, action: 'reset' },
      ],
    });
    const first = await ready(server);
    first.write('NOOP\r\n');
    await first.waitClose();
    expect(first.pending.length).toBe(0);
    expect(first.error).toBeNull();

    const second = await ready(server);
    second.write('NOOP\r\n');
    expect(await second.reply()).toBe('250 2.0.0 OK');
    await second.waitClose();

    const third = await ready(server);
    third.write('NOOP\r\n');
    await third.waitClose();
    expect(third.error).toMatchObject({ code: 'ECONNRESET' });
  });

  it('DATA: drop after the 354', async () => {
    const server = await start({ script: [{ on: 'DATA', action: 'drop-after-reply' }] });
    const client = await ready(server);
    await client.cmd('MAIL FROM:<a@x.test>');
    await client.cmd('RCPT TO:<b@x.test>');
    expect(await client.cmd('DATA')).toMatch(/^354 /);
    await client.waitClose();
    expect(server.messages).toHaveLength(0);
  });

  it('DATA_END: drop after the final dot without replying (outcome unknown), message recorded', async () => {
    const server = await start({ script: [{ on: 'DATA_END', action: 'drop' }] });
    const client = await ready(server);
    client.write('MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n');
    await client.reply();
    await client.reply();
    await client.reply();
    client.write('hello\r\n.\r\n');
    await client.waitClose();
    expect(client.pending.length).toBe(0);
    expect(server.messages[0]).toMatchObject({ accepted: false, reply: null });
    expect(server.messages[0]?.data.toString()).toBe('hello\r\n');
  });

  it('DATA_END and BDAT_LAST: a chosen code to the end of the message', async () => {
    const server = await start({
      script: [
        { on: 'DATA_END', reply: '451 4.3.0 Try again later' },
        { on: 'BDAT_LAST', reply: '554 5.7.1 Rejected' },
      ],
    });
    const client = await ready(server);
    await client.cmd('MAIL FROM:<a@x.test>');
    await client.cmd('RCPT TO:<b@x.test>');
    await client.cmd('DATA');
    expect(await client.cmd('.')).toBe('451 4.3.0 Try again later');
    await client.cmd('MAIL FROM:<a@x.test>');
    await client.cmd('RCPT TO:<b@x.test>');
    client.write('BDAT 2\r\nabBDAT 1 LAST\r\nc');
    expect(await client.reply()).toMatch(/^250 /);
    expect(await client.reply()).toBe('554 5.7.1 Rejected');
    expect(server.messages.map((m) => [m.via, m.accepted, m.data.toString()])).toEqual([
      ['DATA', false, ''],
      ['BDAT', false, 'abc'],
    ]);
  });

  it('STARTTLS: bytes injected after the 220, in plaintext before the handshake', async () => {
    const server = await start({ tls: true, script: [{ on: 'STARTTLS', append: '250 injected\r\n' }] });
    const client = await ready(server);
    client.write('STARTTLS\r\n');
    await client.until(() => client.pending.toString().includes('injected'), 2000, 'injection');
    expect(client.pending.toString()).toBe('220 2.0.0 Ready to start TLS\r\n250 injected\r\n');
    await client.reply();
    const injected = await client.reply();
    expect(injected).toBe('250 injected');
    await client.upgrade(trusted);
    expect(await client.cmd('EHLO client.test')).toMatch(/^250 /m);
  });

  it('greeting faults: 421 closes, 554 serves only QUIT, silent, garbage, over-long line', async () => {
    const server = await start({
      script: [
        { on: 'GREETING', connection: 1, reply: '421 4.3.2 Too busy' },
        { on: 'GREETING', connection: 2, reply: '554 5.7.1 Go away' },
        { on: 'GREETING', connection: 3, action: 'silent' },
        { on: 'GREETING', connection: 4, raw: garbage(32) },
        { on: 'GREETING', connection: 5, reply: longLine(5000, 220) },
      ],
    });
    const c1 = await connect(server);
    expect(await c1.reply()).toBe('421 4.3.2 Too busy');
    await c1.waitClose();

    const c2 = await connect(server);
    expect(await c2.reply()).toBe('554 5.7.1 Go away');
    expect(await c2.cmd('EHLO client.test')).toMatch(/^503 /);
    expect(await c2.cmd('QUIT')).toMatch(/^221 /);

    const c3 = await connect(server);
    await expect(c3.reply(100)).rejects.toThrow(/timed out/);

    const c4 = await connect(server);
    await c4.until(() => c4.pending.length === 32);
    expect(c4.pending.equals(garbage(32))).toBe(true);

    const c5 = await connect(server);
    expect((await c5.reply()).length).toBe(5000);
  });

  it('once: only the first connection gets the fault', async () => {
    const server = await start({ script: [{ on: 'GREETING', reply: '421 4.3.2 Busy', once: true }] });
    const c1 = await connect(server);
    expect(await c1.reply()).toMatch(/^421 /);
    const c2 = await connect(server);
    expect(await c2.reply()).toMatch(/^220 /);
  });

  it('onCommand hook wins over the script; the script can change mid-test', async () => {
    const seen: string[] = [];
    const server = await start({
      script: [{ on: 'NOOP', reply: '250 from script' }],
      onCommand: (session, line, event) => {
        seen.push(`${session.id}:${event}:${line}`);
        return line === 'NOOP hook' ? { reply: '250 from hook' } : undefined;
      },
    });
    const client = await ready(server);
    expect(await client.cmd('NOOP hook')).toBe('250 from hook');
    expect(await client.cmd('NOOP')).toBe('250 from script');
    server.script = [];
    expect(await client.cmd('NOOP')).toBe('250 2.0.0 OK');
    expect(seen).toContain('1:GREETING:');
    expect(seen).toContain('1:NOOP:NOOP hook');
  });

  it('a 421 mid-session is sent, then the connection closes', async () => {
    const server = await start({ script: [{ on: 'RCPT', reply: '421 4.4.2 Timeout, closing' }] });
    const client = await ready(server);
    await client.cmd('MAIL FROM:<a@x.test>');
    expect(await client.cmd('RCPT TO:<b@x.test>')).toBe('421 4.4.2 Timeout, closing');
    await client.waitClose();
  });
});

describe('lifecycle', () => {
  it('counts connections, reset() clears records, close() leaves no handles behind', async () => {
    const tcp = (): number =>
      process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap' || r === 'Timeout')
        .length;
    const baseline = tcp();
    const server = await startScriptedServer({ script: [{ on: 'NOOP', delay: 60_000 }] });
    const a = await RawClient.connect(server);
    const b = await RawClient.connect(server);
    await a.reply();
    await b.reply();
    a.write('NOOP\r\n'); // leaves a pending 60 s timer on the server
    await waitFor(() => server.sessions[0]?.commands.length === 1);
    expect(server.connectionCount).toBe(2);
    expect(server.openConnections).toBe(2);
    expect(server.maxConcurrentConnections).toBe(2);
    server.reset();
    expect(server.sessions).toHaveLength(0);
    expect(server.connectionCount).toBe(0);

    await server.close();
    await a.waitClose();
    await b.waitClose();
    expect(server.openConnections).toBe(0);
    await waitFor(() => tcp() <= baseline);
    await expect(RawClient.connect(server)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('record: false (a long-running sink)', () => {
  it('answers normally, counts messages, and keeps no commands, replies or bodies', async () => {
    const { SmtpConnection } = await import('../../src/transport/connection.js');
    const { startScriptedServer } = await import('../../src/testing/index.js');
    const sink = await startScriptedServer({ record: false });
    const conn = new SmtpConnection({ host: '127.0.0.1', port: sink.port, encryption: 'none' });
    try {
      await conn.connect();
      for (let i = 0; i < 3; i++) {
        const outcome = await conn.sendMail({ from: 'a@x.example', to: ['b@x.example'] }, 'Subject: s\r\n\r\nbody\r\n');
        expect(outcome.delivered).toBe(true);
      }
      expect(sink.messageCount).toBe(3);
      expect(sink.messages).toHaveLength(0);
      expect(sink.sessions[0]!.commands).toHaveLength(0);
      expect(sink.sessions[0]!.replies).toHaveLength(0);
      expect(sink.sessions[0]!.messages).toHaveLength(0);
    } finally {
      conn.destroy();
      await sink.close();
    }
  });
});
