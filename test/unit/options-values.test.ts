import { describe, expect, it } from 'vitest';
import { probe } from '../../src/conform/probe.js';
import { InvalidArgumentError } from '../../src/errors.js';
import {
  DEFAULT_TIMEOUTS,
  NODEMAILER_HINTS,
  RFC5321_TIMEOUTS,
  resolveEndpoint,
  resolveTimeouts,
} from '../../src/options.js';
import { SmtpConnectionPool } from '../../src/pool/pool.js';
import { SmtpProtocolHandler } from '../../src/send/handler.js';
import { SmtpConnection } from '../../src/transport/connection.js';

/** The thrown error, which must be an InvalidArgumentError. */
function thrown(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return err as InvalidArgumentError;
  }
  throw new Error('did not throw');
}

const handler = (o: object) => () => new SmtpProtocolHandler({ hostname: 'smtp.example.com', ...o } as never);
const connection = (o: object) => () => new SmtpConnection({ host: 'smtp.example.com', ...o } as never);
const pool = (o: object) => () => new SmtpConnectionPool(o as never);

describe('one rule per value, the same in every constructor', () => {
  // Each bad endpoint value fails identically in the handler (hostname), the connection, the pool's
  // getConnection and probe (host): the rule is written once in options.ts.
  const cases: [string, object, string][] = [
    ['port 0', { port: 0 }, 'port'],
    ['port 70000', { port: 70_000 }, 'port'],
    ['port as a string', { port: '587' }, 'port'],
    ['encryption starttls', { encryption: 'starttls' }, 'encryption'],
    ['encryption true', { encryption: true }, 'encryption'],
  ];
  for (const [name, bad, field] of cases) {
    it(`${name} → InvalidArgumentError(${field}) everywhere`, async () => {
      const messages = [thrown(handler(bad)), thrown(connection(bad))].map((e) => {
        expect(e.field).toBe(field);
        return e.message;
      });
      expect(messages[0]).toBe(messages[1]);
      const p = new SmtpConnectionPool();
      await expect(p.getConnection({ host: 'smtp.example.com', ...bad } as never)).rejects.toMatchObject({
        field,
        message: messages[0],
      });
      await p.closeAll();
      await expect(probe({ host: 'smtp.example.com', ...bad } as never)).rejects.toMatchObject({
        field,
        message: messages[0],
      });
    });
  }

  it('a host with a space, a line break or an angle bracket is refused', () => {
    for (const host of ['', 'a b', 'a\r\nb', '<a>', 'a\0']) {
      expect(thrown(handler({ hostname: host })).field).toBe('hostname');
      expect(thrown(connection({ host })).field).toBe('host');
    }
  });

  it('defaults: encryption tls, protocol smtp, port from the encryption (24 for LMTP)', () => {
    expect(resolveEndpoint({ host: 'h' })).toEqual({ host: 'h', port: 587, encryption: 'tls', protocol: 'smtp' });
    expect(resolveEndpoint({ host: 'h', protocol: 'lmtp' }).port).toBe(24);
    expect(() => resolveEndpoint({ host: 'h', protocol: 'esmtp' })).toThrow(/protocol must be 'smtp' or 'lmtp'/);
    expect(resolveEndpoint({ host: 'h', encryption: 'ssl' }).port).toBe(465);
    expect(resolveEndpoint({ host: 'h', encryption: 'none' }).port).toBe(25);
  });

  it('clientName with CR/LF or a space throws at construction, in handler and connection alike', () => {
    for (const clientName of ['a\r\nMAIL FROM:<x>', 'a b', '', 42]) {
      expect(thrown(handler({ clientName })).field).toBe('clientName');
      expect(thrown(connection({ clientName })).field).toBe('clientName');
    }
    expect(() => handler({ clientName: 'client.example.com' })()).not.toThrow();
  });

  it('timeouts: negative, zero, NaN, Infinity, strings are refused; unknown phases get a suggestion', () => {
    for (const value of [-1, 0, Number.NaN, Infinity, '5000', 2 ** 31]) {
      const err = thrown(handler({ timeouts: { greeting: value } }));
      expect(err.field).toBe('timeouts.greeting');
      expect(thrown(connection({ timeouts: { greeting: value } })).field).toBe('timeouts.greeting');
    }
    const err = thrown(handler({ timeouts: { comand: 5 } }));
    expect(err.field).toBe('timeouts.comand');
    expect(err.message).toContain("did you mean 'timeouts.command'");
    expect(thrown(handler({ timeouts: { socketTimeout: 5 } })).message).toContain("write 'command'");
    expect(thrown(handler({ timeouts: 5 })).field).toBe('timeouts');
  });

  it('pool: nested keys checked with a suggestion, values checked, a boolean explained', () => {
    const idle = thrown(handler({ pool: { idletimeout: 5 } }));
    expect(idle.field).toBe('pool.idletimeout');
    expect(idle.message).toContain("did you mean 'pool.idleTimeout'");
    expect(thrown(handler({ pool: { maxConnections: 3 } })).message).toContain('poolSize');
    expect(thrown(handler({ pool: { idleTimeout: -5 } })).field).toBe('idleTimeout');
    expect(thrown(handler({ pool: true })).message).toContain('every handler is pooled');
    expect(thrown(handler({ poolSize: 0 })).field).toBe('poolSize');
    expect(thrown(pool({ maxMessages: 5 })).message).toContain('maxMessagesPerConnection');
    expect(thrown(pool({ idleTimout: 5 })).message).toContain("did you mean 'idleTimeout'");
    expect(thrown(pool({ rateLimit: { messages: 1, intervl: 5 } })).field).toBe('rateLimit.intervl');
    expect(thrown(pool({ rateLimit: { messages: 1, interval: -1 } })).field).toBe('rateLimit.interval');
  });

  it('retryPolicy and limits: nested unknown keys with a suggestion', () => {
    const r = thrown(handler({ retryPolicy: { maxRetris: 1 } }));
    expect(r.field).toBe('retryPolicy.maxRetris');
    expect(r.message).toContain("did you mean 'retryPolicy.maxRetries'");
    expect(thrown(handler({ limits: { maxRecipent: 3 } })).message).toContain("'limits.maxRecipients'");
  });

  it('booleans and callbacks are type-checked', () => {
    expect(thrown(handler({ pipelining: 'yes' })).field).toBe('pipelining');
    expect(thrown(connection({ chunking: 1 })).field).toBe('chunking');
    expect(thrown(handler({ onTranscript: 'log' })).field).toBe('onTranscript');
    expect(thrown(connection({ onTranscript: {} })).field).toBe('onTranscript');
    expect(thrown(handler({ authMethod: 'plain' })).field).toBe('authMethod');
    expect(thrown(connection({ localAddress: 'nope' })).field).toBe('localAddress');
    expect(thrown(connection({ localAddress: 42 })).field).toBe('localAddress');
    expect(() => connection({ localAddress: '127.0.0.1' })()).not.toThrow();
    expect(thrown(handler({ localAddress: 'nope' })).field).toBe('localAddress');
    expect(() => handler({ localAddress: '::1' })()).not.toThrow();
  });

  it('a password is never echoed in the error', () => {
    const err = thrown(handler({ password: 's3cret-value' }));
    expect(err.message).not.toContain('s3cret');
    const err2 = thrown(handler({ username: 'u', password: { s3cret: 1 } }));
    expect(err2.message).not.toContain('s3cret');
  });

  it('getConnection checks its params and the nested connection object', async () => {
    const p = new SmtpConnectionPool();
    await expect(p.getConnection({ host: 'h', auth: { user: 'u' } } as never)).rejects.toThrow(/username/);
    await expect(p.getConnection({ host: 'h', connection: { timeout: 5 } } as never)).rejects.toMatchObject({
      field: 'connection.timeout',
    });
    await expect(p.getConnection({ host: 'h', connection: { timeouts: { greeting: -1 } } } as never)).rejects.toThrow(
      InvalidArgumentError,
    );
    await p.closeAll();
  });
});

describe('nodemailer spellings say what to write instead', () => {
  const expectations: [object, RegExp][] = [
    [{ host: 'smtp.example.com' }, /write 'hostname'/],
    [{ secure: true }, /encryption: 'ssl'/],
    [{ auth: { user: 'u', pass: 'p' } }, /username and password .* at the top level/],
    [{ requireTLS: true }, /already requires STARTTLS/],
    [{ ignoreTLS: true }, /encryption: 'none'/],
    [{ maxConnections: 5 }, /poolSize/],
    [{ maxMessages: 5 }, /maxMessagesPerConnection/],
    [{ name: 'client' }, /clientName/],
    [{ connectionTimeout: 5 }, /timeouts: \{ connect \}/],
    [{ greetingTimeout: 5 }, /timeouts: \{ greeting \}/],
    [{ socketTimeout: 5 }, /timeouts: \{ command \}/],
  ];
  for (const [options, message] of expectations) {
    const key = Object.keys(options)[0]!;
    it(`${key}`, () => {
      const err = thrown(handler(options));
      expect(err.field).toBe(key);
      expect(err.message).toMatch(message);
      expect(Object.hasOwn(NODEMAILER_HINTS, key)).toBe(true);
    });
  }

  it('SmtpConnection gets the same hints where they apply', () => {
    expect(thrown(connection({ secure: true })).message).toMatch(/encryption: 'ssl'/);
    expect(thrown(connection({ auth: {} })).message).toMatch(/login/);
    expect(thrown(connection({ greetingTimeout: 1 })).message).toMatch(/timeouts: \{ greeting \}/);
  });

  it('probe refuses unknown options too', async () => {
    await expect(probe({ host: 'h', secure: true } as never)).rejects.toThrow(/encryption: 'ssl'/);
  });
});

describe('timeout defaults', () => {
  it('greeting 30 s by default (a submission client); RFC 5321 5 min is the RFC5321_TIMEOUTS preset', () => {
    expect(DEFAULT_TIMEOUTS.greeting).toBe(30_000);
    expect(RFC5321_TIMEOUTS.greeting).toBe(300_000);
    expect(resolveTimeouts(RFC5321_TIMEOUTS)).toEqual(RFC5321_TIMEOUTS);
    expect(resolveTimeouts({ greeting: 1000 })).toEqual({ ...DEFAULT_TIMEOUTS, greeting: 1000 });
  });
});
