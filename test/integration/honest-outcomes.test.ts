/**
 * Issue 11: the engine reports only what happened. Each case failed before the fix, against a raw
 * `node:net` server (or the scripted server) of our own.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionError, SmtpError, TimeoutError, TlsError } from '../../src/errors.js';
import { SmtpDeliveryStatus, SmtpProtocolHandler, type SmtpProtocolHandlerOptions } from '../../src/index.js';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';
import { SmtpConnection, type TranscriptEntry } from '../../src/transport/connection.js';
import { type RawServer, type RawServerOptions, startRawServer } from '../helpers/raw-server.js';

let raw: RawServer | undefined;
let scripted: ScriptedSmtpServer | undefined;
const conns: SmtpConnection[] = [];
const handlers: SmtpProtocolHandler[] = [];

afterEach(async () => {
  for (const c of conns.splice(0)) c.destroy();
  for (const h of handlers.splice(0)) await h.close();
  await raw?.close();
  await scripted?.close();
  raw = undefined;
  scripted = undefined;
});

async function rawConn(options: RawServerOptions, timeouts: Record<string, number> = {}): Promise<SmtpConnection> {
  raw = await startRawServer(options);
  const c = new SmtpConnection({ host: '127.0.0.1', port: raw.port, encryption: 'none', timeouts });
  conns.push(c);
  await c.connect();
  return c;
}

function rawHandler(options: Partial<SmtpProtocolHandlerOptions> = {}): SmtpProtocolHandler {
  const h = new SmtpProtocolHandler({
    hostname: '127.0.0.1',
    port: raw!.port,
    encryption: 'none',
    retryPolicy: { maxRetries: 1, delays: [5], jitter: 0 },
    ...options,
  });
  handlers.push(h);
  return h;
}

const envelope = { from: 'a@sender.example', to: ['b@rcpt.example'] };
/** A 4 MiB in-memory message of 7-bit lines. */
const bigBody = Buffer.from(`Subject: big\r\n\r\n${`${'x'.repeat(78)}\r\n`.repeat(52_429)}`);

describe('finding 1: hand-over is the write of the final dot', () => {
  it('an in-memory body dropped after 128 KiB is not handed over (temp_failed, retried), never UNKNOWN', async () => {
    raw = await startRawServer({
      onData: (_chunk, s) => {
        if (s.dataBytes >= 128 * 1024) s.socket.destroy();
      },
    });
    const result = await rawHandler().sendRaw(envelope, bigBody);
    expect(result.status).toBe(SmtpDeliveryStatus.TEMP_FAILED);
    expect(result.isRetryable).toBe(true);
    expect(result.retryCount).toBe(1);
    expect(result.error?.messageHandedOver).toBe(false);
    expect(result.error?.code).not.toBe('ERR_SMTP_OUTCOME_UNKNOWN');
  });

  it('the same on the bare connection: ConnectionError, messageHandedOver false', async () => {
    const c = await rawConn({
      onData: (_chunk, s) => {
        if (s.dataBytes >= 128 * 1024) s.socket.destroy();
      },
    });
    const err = await c.sendMail(envelope, bigBody).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toMatchObject({ messageHandedOver: false });
  });

  it('a server that stops reading mid-body is timed by dataIdle, not finalReply', async () => {
    const body = Buffer.concat([bigBody, bigBody, bigBody, bigBody, bigBody, bigBody, bigBody, bigBody]);
    const c = await rawConn(
      {
        onData: (_chunk, s) => {
          s.socket.pause();
        },
      },
      { dataIdle: 300, finalReply: 20_000 },
    );
    const started = Date.now();
    const err = await c.sendMail(envelope, body).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ phase: 'dataIdle', messageHandedOver: false });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('after the dot has left, silence is timed by finalReply and the outcome is unknown', async () => {
    const c = await rawConn(
      {
        onData: () => {
          /* read everything, never answer */
        },
      },
      { dataIdle: 5000, finalReply: 200 },
    );
    const err = await c.sendMail(envelope, Buffer.from('Subject: s\r\n\r\nhi\r\n')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ phase: 'finalReply', messageHandedOver: true });
    expect((err as Error).message).toMatch(/^timed out after 200 ms waiting for the reply to the end of the message/);
  });
});

describe('finding 2: a lone dot after a refusal is not the message', () => {
  const refuseMail = (after: 'drop' | 'silent'): RawServerOptions => ({
    onLine: (line, s) => {
      if (line.startsWith('MAIL')) s.socket.write('550 5.7.1 sender refused\r\n');
      else if (line.startsWith('RCPT')) s.socket.write('503 5.5.1 no MAIL\r\n');
      else if (line === 'DATA') s.socket.write('354 go on anyway\r\n');
      else if (line === '.') {
        if (after === 'drop') s.socket.destroy();
      } else return false;
      return true;
    },
  });

  it('a drop after the lone dot leaves the refusal: REJECTED', async () => {
    raw = await startRawServer(refuseMail('drop'));
    const result = await rawHandler().sendRaw(envelope, 'Subject: s\r\n\r\nhi\r\n');
    expect(result.status).toBe(SmtpDeliveryStatus.REJECTED);
    expect(result.smtpCode).toBe(550);
    expect(raw.sessions[0]!.lines).toContain('.');
  });

  it('silence after the lone dot leaves the refusal: REJECTED', async () => {
    raw = await startRawServer(refuseMail('silent'));
    const result = await rawHandler({ timeouts: { command: 200 } }).sendRaw(envelope, 'Subject: s\r\n\r\nhi\r\n');
    expect(result.status).toBe(SmtpDeliveryStatus.REJECTED);
    expect(result.smtpCode).toBe(550);
  });
});

describe('finding 3: a reset during the TLS handshake is a connection failure', () => {
  it('is a ConnectionError and retried (TEMP_FAILED), not a permanent TlsError', async () => {
    raw = await startRawServer({
      capabilities: ['STARTTLS'],
      onLine: (line, s) => {
        if (line !== 'STARTTLS') return false;
        s.socket.write('220 go ahead\r\n');
        // The ClientHello arrives as "data": answer it with a TCP reset.
        s.enterData();
        return true;
      },
      onData: (_chunk, s) => s.socket.resetAndDestroy(),
    });
    const c = new SmtpConnection({ host: 'localhost', port: raw.port, encryption: 'tls' });
    conns.push(c);
    const err = await c.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).not.toBeInstanceOf(TlsError);
    const result = await rawHandler({ hostname: 'localhost', encryption: 'tls' }).sendRaw(envelope, 'x\r\n');
    expect(result.status).toBe(SmtpDeliveryStatus.TEMP_FAILED);
    expect(result.retryCount).toBe(1);
  });

  it('a certificate that fails verification stays permanent (FAILED, TlsError)', async () => {
    scripted = await startScriptedServer({ tls: true });
    const h = new SmtpProtocolHandler({
      hostname: 'localhost',
      port: scripted.port,
      encryption: 'tls',
      retryPolicy: { maxRetries: 1, delays: [5], jitter: 0 },
    });
    handlers.push(h);
    const result = await h.sendRaw(envelope, 'x\r\n');
    expect(result.status).toBe(SmtpDeliveryStatus.FAILED);
    expect(result.error).toBeInstanceOf(TlsError);
    expect(result.retryCount).toBe(0);
  });
});

describe('finding 6: plaintext after the STARTTLS 220', () => {
  it('counts the injected octets and never shows them as server lines', async () => {
    const injected = '250-INJECTED\r\n250-MORE\r\n250 AUTH PLAIN LOGIN\r\n';
    scripted = await startScriptedServer({ tls: true, script: [{ on: 'STARTTLS', append: injected }] });
    const transcript: TranscriptEntry[] = [];
    const c = new SmtpConnection({
      host: 'localhost',
      port: scripted.port,
      encryption: 'tls',
      tls: { ca: scripted.ca },
      onTranscript: (e) => transcript.push(e),
    });
    conns.push(c);
    await c.connect();
    expect(c.plaintextDiscarded).toBe(Buffer.byteLength(injected));
    expect(transcript.some((e) => e.direction === 'server' && /INJECTED|MORE/.test(e.line))).toBe(false);
  });
});

describe('finding 7 and 8: messages and codes say what happened', () => {
  it('the greeting timeout reads as English', async () => {
    raw = undefined;
    const net = await import('node:net');
    // It reads what it gets (the client's TLS probe after the timeout) and never answers.
    const silent = net.createServer((socket) => socket.resume());
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as import('node:net').AddressInfo).port;
      const c = new SmtpConnection({ host: '127.0.0.1', port, encryption: 'none', timeouts: { greeting: 100 } });
      conns.push(c);
      const err = (await c.connect().catch((e: unknown) => e)) as TimeoutError;
      expect(err.message).toMatch(/^timed out after 100 ms waiting for the greeting \(127\.0\.0\.1:\d+\)/);
      expect(err.message).not.toMatch(/no the/);
    } finally {
      for (const c of conns.splice(0)) c.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('unknown thrown values are ERR_SMTP_INTERNAL, not ERR_SMTP_PROTOCOL', async () => {
    const { toSmtpError } = await import('../../src/errors.js');
    const wrapped = toSmtpError(new RangeError('boom'));
    expect(wrapped).toBeInstanceOf(SmtpError);
    expect(wrapped.code).toBe('ERR_SMTP_INTERNAL');
    expect(new SmtpError('x').code).toBe('ERR_SMTP_INTERNAL');
  });
});
