import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AbortError,
  AuthError,
  CapabilityError,
  ClosedError,
  ConnectionError,
  ErrorCodes,
  InvalidArgumentError,
  ProtocolError,
  ReplyError,
  SmtpError,
  TimeoutError,
  TlsError,
} from '../../src/errors.js';
import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  isRetryable,
  isRetryableReply,
  type RetryPolicy,
  resolveRetryPolicy,
  sleep,
} from '../../src/send/retry.js';

afterEach(() => {
  vi.useRealTimers();
});

const reply = (code: number, extra: Partial<ConstructorParameters<typeof ReplyError>[1]> = {}) =>
  new ReplyError(`${code} x`, { replyCode: code, lines: ['x'], ...extra });

describe('isRetryable', () => {
  const handedOver = { messageHandedOver: true };
  const table: [string, unknown, boolean][] = [
    ['421 reply', reply(421), true],
    ['450 reply', reply(450), true],
    ['451 reply', reply(451), true],
    ['452 reply', reply(452), true],
    ['421 greeting', reply(421, { code: ErrorCodes.GREETING_REFUSED }), true],
    ['554 greeting', reply(554, { code: ErrorCodes.GREETING_REFUSED }), false],
    ['451 to the final dot (a real answer, not an unknown outcome)', reply(451, handedOver), true],
    ['454 reply (not in the codes)', reply(454), false],
    ['550 reply', reply(550), false],
    ['552 reply', reply(552), false],
    ['connection refused', new ConnectionError('refused'), true],
    ['connection closed early', new ConnectionError('closed', { code: ErrorCodes.CONNECTION_CLOSED }), true],
    [
      'connection lost after the dot',
      new ConnectionError('lost', { code: ErrorCodes.OUTCOME_UNKNOWN, ...handedOver }),
      false,
    ],
    ['command timeout', new TimeoutError('t', { phase: 'command', timeout: 1 }), true],
    ['acquire timeout', new TimeoutError('t', { phase: 'acquire', timeout: 1 }), true],
    [
      'final-reply timeout after the dot',
      new TimeoutError('t', { phase: 'finalReply', timeout: 1, ...handedOver }),
      false,
    ],
    ['454 temporary auth failure', new AuthError('a', { replyCode: 454 }), true],
    ['535 auth failure', new AuthError('a', { replyCode: 535 }), false],
    ['no auth mechanism', new AuthError('a', { code: ErrorCodes.AUTH_UNAVAILABLE }), false],
    ['invalid argument', new InvalidArgumentError('x'), false],
    ['capability', new CapabilityError('x', { code: ErrorCodes.SIZE_EXCEEDED }), false],
    ['tls', new TlsError('x'), false],
    ['protocol', new ProtocolError('x'), false],
    ['abort', new AbortError(), false],
    ['abort after the dot', new AbortError('a', handedOver), false],
    ['closed', new ClosedError(), false],
    ['base SmtpError', new SmtpError('x'), false],
    ['plain Error', new Error('ECONNRESET'), false],
    ['a string', 'boom', false],
    ['undefined', undefined, false],
    ['null', null, false],
  ];
  it.each(table)('%s → %s', (_name, err, expected) => {
    expect(isRetryable(err)).toBe(expected);
  });

  it('follows the policy codes', () => {
    const policy = resolveRetryPolicy({ retryableCodes: [450] });
    expect(isRetryable(reply(450), policy)).toBe(true);
    expect(isRetryable(reply(421), policy)).toBe(false);
    expect(isRetryableReply(421)).toBe(true);
    expect(isRetryableReply(250)).toBe(false);
    expect(isRetryableReply(421, policy)).toBe(false);
  });

  it('never says yes once the message was handed over, except for a real reply', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('conn', 'timeout', 'abort', 'closed', 'auth'),
        fc.integer({ min: 400, max: 599 }),
        (kind, code) => {
          const opts = { messageHandedOver: true };
          const err =
            kind === 'conn'
              ? new ConnectionError('x', opts)
              : kind === 'timeout'
                ? new TimeoutError('x', { ...opts, phase: 'finalReply', timeout: 1 })
                : kind === 'abort'
                  ? new AbortError('x', opts)
                  : kind === 'closed'
                    ? new ClosedError('x', opts)
                    : new AuthError('x', { ...opts, replyCode: code });
          return kind === 'auth' ? isRetryable(err) === (code === 454) : !isRetryable(err);
        },
      ),
    );
  });
});

describe('resolveRetryPolicy', () => {
  it('gives the reference defaults', () => {
    expect(resolveRetryPolicy()).toEqual({
      maxRetries: 3,
      delays: [1000, 5000, 30000],
      retryableCodes: [421, 450, 451, 452],
      jitter: 0.1,
      refusedRetries: 1,
    });
    expect(DEFAULT_RETRY_POLICY).toEqual(resolveRetryPolicy({}));
    expect(Object.isFrozen(DEFAULT_RETRY_POLICY)).toBe(true);
  });

  it('merges a partial policy and copies the arrays', () => {
    const delays = [10, 20];
    const p = resolveRetryPolicy({ maxRetries: 0, delays, jitter: 0 });
    expect(p).toEqual({
      maxRetries: 0,
      delays: [10, 20],
      retryableCodes: [421, 450, 451, 452],
      jitter: 0,
      refusedRetries: 1,
    });
    delays.push(30);
    expect(p.delays).toEqual([10, 20]);
  });

  it.each([
    [{ maxRetries: -1 }, 'retryPolicy.maxRetries'],
    [{ maxRetries: 1.5 }, 'retryPolicy.maxRetries'],
    [{ delays: [-1] }, 'retryPolicy.delays'],
    [{ delays: [Infinity] }, 'retryPolicy.delays'],
    [{ delays: 'fast' }, 'retryPolicy.delays'],
    [{ delays: [] }, 'retryPolicy.delays'],
    [{ retryableCodes: [250] }, 'retryPolicy.retryableCodes'],
    [{ retryableCodes: [451.5] }, 'retryPolicy.retryableCodes'],
    [{ jitter: 1.5 }, 'retryPolicy.jitter'],
    [{ jitter: Number.NaN }, 'retryPolicy.jitter'],
    [{ retries: 3 }, 'retryPolicy.retries'],
    [{ refusedRetries: -1 }, 'retryPolicy.refusedRetries'],
    ['often', 'retryPolicy'],
  ])('rejects %j naming %s', (partial, field) => {
    expect(() => resolveRetryPolicy(partial as never)).toThrow(InvalidArgumentError);
    try {
      resolveRetryPolicy(partial as never);
    } catch (err) {
      expect((err as InvalidArgumentError).field).toBe(field);
    }
  });

  it('allows no delays when retrying is off', () => {
    expect(resolveRetryPolicy({ maxRetries: 0, delays: [] }).delays).toEqual([]);
    expect(backoffDelay(0, resolveRetryPolicy({ maxRetries: 0, delays: [] }))).toBe(0);
  });
});

describe('backoffDelay', () => {
  it('uses the delays in order and repeats the last one', () => {
    const p: RetryPolicy = { ...DEFAULT_RETRY_POLICY, jitter: 0 };
    expect([0, 1, 2, 3, 10].map((i) => backoffDelay(i, p))).toEqual([1000, 5000, 30000, 30000, 30000]);
  });

  it('jitter spreads within ± the fraction at both extremes', () => {
    expect(backoffDelay(0, DEFAULT_RETRY_POLICY, () => 0)).toBe(900);
    expect(backoffDelay(0, DEFAULT_RETRY_POLICY, () => 0.5)).toBe(1000);
    expect(backoffDelay(0, DEFAULT_RETRY_POLICY, () => 0.999999)).toBe(1100);
  });

  it('stays within bounds and is never negative, for any policy and random value', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 1, maxLength: 5 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.nat(20),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (delays, jitter, index, r) => {
          const p = resolveRetryPolicy({ delays, jitter });
          const base = delays[Math.min(index, delays.length - 1)]!;
          const d = backoffDelay(index, p, () => r);
          return (
            Number.isInteger(d) && d >= 0 && d >= Math.floor(base * (1 - jitter)) && d <= Math.ceil(base * (1 + jitter))
          );
        },
      ),
    );
  });

  it('rejects a bad index', () => {
    expect(() => backoffDelay(-1)).toThrow(InvalidArgumentError);
    expect(() => backoffDelay(0.5)).toThrow(InvalidArgumentError);
  });
});

describe('sleep', () => {
  it('resolves after the delay (fake timers)', async () => {
    vi.useFakeTimers();
    let done = false;
    const p = sleep(1000).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(done).toBe(true);
  });

  it('rejects with AbortError at once when aborted, and clears its timer', async () => {
    vi.useFakeTimers();
    const ac = new AbortController();
    const p = sleep(30_000, ac.signal);
    expect(vi.getTimerCount()).toBe(1);
    ac.abort('stop');
    await expect(p).rejects.toBeInstanceOf(AbortError);
    await expect(p).rejects.toMatchObject({ cause: 'stop' });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects at once when already aborted, and for a bad delay', async () => {
    await expect(sleep(10, AbortSignal.abort())).rejects.toBeInstanceOf(AbortError);
    await expect(sleep(-1)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(sleep(Number.NaN)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('keeps the process alive while waiting (a ref’ed timer)', async () => {
    const spy = vi.spyOn(globalThis, 'setTimeout');
    const p = sleep(5);
    const timer = spy.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(true);
    await p;
    spy.mockRestore();
  });
});
