/**
 * Direct tests of the pure decision modules (issue 25), without sockets: `planTransaction`,
 * `planLogin`, the greeting and EHLO/HELO decisions, `TokenBucket` and `Mutex` (fake clocks where
 * time matters). Table and property tests, bounded in runs and time.
 */
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TokenBucket } from '../../src/pool/rate-limit.js';
import { parseEhlo, type ServerInfo } from '../../src/protocol/extensions.js';
import { type Reply, ReplyParser } from '../../src/protocol/reply.js';
import { greetingRefused, hello } from '../../src/transport/handshake.js';
import { credentialsAllowed, planLogin } from '../../src/transport/login.js';
import { planTransaction } from '../../src/transport/transaction-plan.js';
// The lock: pool/mutex.ts here; the core wave moves it to util/mutex.ts (same class, same contract).
import { Mutex } from '../../src/util/mutex.js';

function reply(text: string): Reply {
  const replies = new ReplyParser().push(Buffer.from(text.endsWith('\r\n') ? text : `${text}\r\n`));
  return replies[0]!;
}

function ehlo(...keywords: string[]): ServerInfo {
  const lines = ['mx.example.org', ...keywords];
  return parseEhlo(reply(lines.map((l, i) => `250${i === lines.length - 1 ? ' ' : '-'}${l}`).join('\r\n')));
}

const codeOf = (run: () => unknown): string | undefined => {
  try {
    run();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
};

describe('planTransaction: what the server lacks is refused before a byte is written', () => {
  const host = { host: 'mx.example.org', chunking: false };
  const envelope = { from: 'a@example.com', to: ['b@example.org'] };
  const full = ehlo('PIPELINING', 'SIZE 1000', '8BITMIME', 'SMTPUTF8', 'DSN', 'CHUNKING');

  it.each([
    [
      'a UTF-8 local part without SMTPUTF8',
      { ...envelope, from: 'zoë@example.com' },
      'x',
      ehlo('8BITMIME'),
      'ERR_SMTP_SMTPUTF8_UNSUPPORTED',
    ],
    ['an 8-bit body without 8BITMIME', envelope, 'caf\u00e9\r\n', ehlo('SIZE 1000'), 'ERR_SMTP_8BITMIME_UNSUPPORTED'],
    ['a body over SIZE', envelope, 'x'.repeat(990) + '\r\n'.repeat(10), ehlo('SIZE 500'), 'ERR_SMTP_SIZE_EXCEEDED'],
    ['a declared size over SIZE', { ...envelope, size: 1001 }, 'x', full, 'ERR_SMTP_SIZE_EXCEEDED'],
    ['DSN without DSN', { ...envelope, dsn: { ret: 'HDRS' as const } }, 'x', ehlo('8BITMIME'), 'ERR_SMTP_CAPABILITY'],
    ['no recipient', { ...envelope, to: [] }, 'x', full, 'ERR_SMTP_INVALID_ARGUMENT'],
    ['CR/LF in an address', { ...envelope, to: ['b@example.org>\r\nRSET'] }, 'x', full, 'ERR_SMTP_HEADER_INJECTION'],
  ])('%s', (_what, env, body, info, code) => {
    expect(codeOf(() => planTransaction(env as never, body, info, host))).toBe(code);
  });

  it('declares what the server offers: SIZE, BODY, SMTPUTF8, DSN parameters; BDAT only when both sides want it', () => {
    const plan = planTransaction(
      { from: 'zoë@example.com', to: ['b@example.org'], dsn: { ret: 'HDRS', notify: ['FAILURE'] } },
      'caf\u00e9\r\n',
      full,
      { host: 'mx', chunking: true },
    );
    expect(plan.mailLine).toMatch(/^MAIL FROM:<zoë@example.com> SIZE=\d+ BODY=8BITMIME SMTPUTF8 RET=HDRS/);
    expect(plan.rcptLines.map((l) => l.trimEnd())).toEqual(['RCPT TO:<b@example.org> NOTIFY=FAILURE']);
    expect(plan.useBdat).toBe(true);
    expect(planTransaction(envelope, 'x', full, { host: 'mx', chunking: false }).useBdat).toBe(false);
    expect(planTransaction(envelope, 'x', ehlo('8BITMIME'), { host: 'mx', chunking: true }).useBdat).toBe(false);
  });

  it('a stream of unknown size and content is watched while it is sent (property: never for in-memory bodies)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.boolean(), (text, eightBitMime) => {
        const info = eightBitMime ? ehlo('SIZE 100000', '8BITMIME') : ehlo('SIZE 100000');
        const ascii = text.replace(/[^\x20-\x7e]/g, 'x');
        const plan = planTransaction(envelope, `${ascii}\r\n`, info, host);
        expect(plan.watch).toBeNull();
      }),
      { numRuns: 50 },
    );
    const watched = planTransaction(envelope, Readable.from(['x']), ehlo('SIZE 1000'), host);
    expect(watched.watch).toEqual({ refuseEightBit: true, maxSize: 1000 });
  });
});

describe('credentialsAllowed: the one rule the engine and conform share', () => {
  it.each([
    ['smtp.example.com', true, false, true],
    ['smtp.example.com', false, false, false],
    ['smtp.example.com', false, undefined, false],
    ['smtp.example.com', false, true, true],
    ['127.0.0.1', false, false, true],
    ['localhost', false, false, true],
    ['::1', false, false, true],
  ] as const)('%s, secure %s, allowInsecureAuth %s → %s', (host, secure, allow, expected) => {
    expect(credentialsAllowed(host, secure, allow)).toBe(expected);
  });
});

describe('planLogin: whether credentials may go, and which mechanism', () => {
  const ctx = (over: Partial<Parameters<typeof planLogin>[0]> = {}) => ({
    host: 'mail.example.org',
    port: 587,
    tlsSocket: null,
    info: ehlo('AUTH PLAIN LOGIN CRAM-MD5'),
    allowInsecureAuth: undefined,
    scramMinIterations: undefined,
    ...over,
  });
  const creds = { username: 'u', password: 'p' };

  it.each([
    ['plaintext to a remote host', ctx(), 'ERR_SMTP_AUTH_INSECURE'],
    ['no AUTH advertised (loopback)', ctx({ host: '127.0.0.1', info: ehlo('8BITMIME') }), 'ERR_SMTP_AUTH_UNAVAILABLE'],
    [
      'a configured method not offered',
      ctx({ host: '127.0.0.1', info: ehlo('AUTH LOGIN') }),
      'ERR_SMTP_AUTH_UNAVAILABLE',
    ],
  ])('%s', (_what, c, code) => {
    expect(codeOf(() => planLogin(c as never, creds, _what.startsWith('a configured') ? 'PLAIN' : undefined))).toBe(
      code,
    );
  });

  it('plaintext is allowed to loopback or with allowInsecureAuth; a password never goes by a token mechanism', () => {
    expect(planLogin(ctx({ host: '127.0.0.1' }) as never, creds, undefined).method).toMatch(/PLAIN|LOGIN|CRAM-MD5/);
    expect(planLogin(ctx({ allowInsecureAuth: true }) as never, creds, undefined).method).toBe('CRAM-MD5');
    const both = ctx({ host: '::1', info: ehlo('AUTH XOAUTH2 PLAIN') });
    expect(planLogin(both as never, creds, undefined).method).toBe('PLAIN');
    expect(planLogin(both as never, { username: 'u', accessToken: 't' }, undefined).method).toBe('XOAUTH2');
  });
});

describe('the greeting and EHLO decisions', () => {
  it.each([
    ['220 mx ESMTP', null],
    ['421 4.3.2 Service not available', 421],
    ['554 5.7.1 No SMTP service here', 554],
  ])('%s → %s', (text, refused) => {
    const err = greetingRefused(reply(text));
    if (refused === null) expect(err).toBeNull();
    else expect(err).toMatchObject({ code: 'ERR_SMTP_GREETING_REFUSED', replyCode: refused });
  });

  it('EHLO, then HELO on 500/502 (RFC 5321 §3.2); any other refusal is an error; LMTP says LHLO only', async () => {
    const script = (answers: Record<string, string>) => {
      const sent: string[] = [];
      const send = async (line: string) => {
        sent.push(line.trimEnd());
        return reply(answers[line.split(' ')[0]!] ?? '500 unknown');
      };
      const host = {
        send,
        expect: async (line: string, code: number) => {
          const r = await send(line);
          if (r.code !== code) throw Object.assign(new Error(`${line} refused`), { replyCode: r.code });
          return r;
        },
      };
      return { host, sent };
    };
    const a = script({ EHLO: '250-mx\r\n250 PIPELINING' });
    expect((await hello(a.host, 'smtp', 'me')).pipelining).toBe(true);
    expect(a.sent).toEqual(['EHLO me']);
    const b = script({ EHLO: '502 5.5.1 no', HELO: '250 mx' });
    expect((await hello(b.host, 'smtp', 'me')).pipelining).toBe(false);
    expect(b.sent).toEqual(['EHLO me', 'HELO me']);
    const c = script({ EHLO: '554 5.7.1 go away' });
    await expect(hello(c.host, 'smtp', 'me')).rejects.toMatchObject({ replyCode: 554 });
    expect(c.sent).toEqual(['EHLO me']);
    const d = script({ LHLO: '250 mx' });
    await hello(d.host, 'lmtp', 'me');
    expect(d.sent).toEqual(['LHLO me']);
  });
});

describe('TokenBucket (fake clock)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('never grants more than capacity + elapsed × rate, in FIFO order (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 12 }), async (capacity, takers) => {
        vi.useFakeTimers({ now: 0 });
        const bucket = new TokenBucket(capacity, 1000);
        const order: number[] = [];
        const signal = new AbortController().signal;
        const all = Array.from({ length: takers }, (_, i) => bucket.take(signal).then(() => order.push(i)));
        await vi.advanceTimersByTimeAsync(0);
        expect(order.length).toBe(Math.min(capacity, takers));
        for (let t = 1; t <= 12; t++) {
          await vi.advanceTimersByTimeAsync(1000 / capacity);
          expect(order.length).toBeLessThanOrEqual(Math.min(takers, capacity + t));
        }
        await Promise.all(all);
        expect(order).toEqual([...order].sort((x, y) => x - y));
        vi.useRealTimers();
      }),
      { numRuns: 20 },
    );
  });

  it('an aborted waiter leaves the queue with the signal reason; clear() rejects the rest', async () => {
    vi.useFakeTimers({ now: 0 });
    const bucket = new TokenBucket(1, 1000);
    await bucket.take(new AbortController().signal);
    const ac = new AbortController();
    const aborted = bucket.take(ac.signal);
    const other = bucket.take(new AbortController().signal);
    expect(bucket.waiting).toBe(2);
    ac.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    expect(bucket.waiting).toBe(1);
    bucket.clear(new Error('closed'));
    await expect(other).rejects.toThrow('closed');
    expect(bucket.waiting).toBe(0);
  });
});

describe('Mutex', () => {
  it('grants in FIFO order, one holder at a time; a release twice is harmless (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 10 }), async (n) => {
        const mutex = new Mutex();
        const held: number[] = [];
        let inside = 0;
        await Promise.all(
          Array.from({ length: n }, async (_, i) => {
            const release = await mutex.acquire();
            inside++;
            expect(inside).toBe(1);
            held.push(i);
            await Promise.resolve();
            inside--;
            release();
            release();
          }),
        );
        expect(held).toEqual(Array.from({ length: n }, (_, i) => i));
        expect(mutex.locked).toBe(false);
      }),
      { numRuns: 20 },
    );
  });

  it('an abort while waiting rejects with ERR_SMTP_ABORTED and leaves the queue', async () => {
    const mutex = new Mutex();
    const release = await mutex.acquire();
    const ac = new AbortController();
    const waiting = mutex.acquire(ac.signal);
    const next = mutex.acquire();
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_SMTP_ABORTED' });
    release();
    const second = await next;
    expect(mutex.locked).toBe(true);
    second();
    expect(mutex.locked).toBe(false);
  });
});
