import diagnostics from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AbortError,
  AuthError,
  ClosedError,
  ConnectionError,
  InvalidArgumentError,
  TimeoutError,
} from '../../src/errors.js';
import {
  type PoolableConnection,
  type PoolConnectionParams,
  SmtpConnectionPool,
  type SmtpConnectionPoolOptions,
} from '../../src/pool/pool.js';
import type { Credentials } from '../../src/protocol/auth.js';

// ── a fake connection with controllable connect, login and noop ────────────────────────────

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

type Step = 'ok' | 'manual' | Error;

class FakeConnection extends EventEmitter implements PoolableConnection {
  readonly createdAt = Date.now();
  messagesSent = 0;
  pendingReplies = 0;
  broken = false;
  /** The socket is open (from connect until close finished or destroy). */
  open = false;
  readonly calls: string[] = [];
  connectStep: Step = 'ok';
  loginStep: Step = 'ok';
  noopStep: Step = 'ok';
  closeStep: 'ok' | 'manual' = 'ok';
  readonly gates: Record<'connect' | 'noop' | 'close', Deferred | null> = { connect: null, noop: null, close: null };
  credentials: Credentials | null = null;
  loginMethod: string | undefined;

  constructor(readonly params: PoolConnectionParams) {
    super();
  }
  get isBroken(): boolean {
    return this.broken;
  }
  async #step(name: 'connect' | 'noop', step: Step): Promise<void> {
    this.calls.push(name);
    if (step === 'manual') {
      const d = deferred();
      this.gates[name] = d;
      try {
        await d.promise;
      } catch (err) {
        this.kill(err as Error);
        throw err;
      }
    } else if (step instanceof Error) {
      this.kill(step);
      throw step;
    }
    if (this.broken) throw new ConnectionError('broken');
  }
  async connect(): Promise<unknown> {
    this.open = true;
    await this.#step('connect', this.connectStep);
    return {};
  }
  async login(credentials: Credentials, options?: { method?: string }): Promise<void> {
    this.calls.push('login');
    this.credentials = credentials;
    this.loginMethod = options?.method;
    if (this.loginStep instanceof Error) throw this.loginStep; // AuthError leaves the connection usable
  }
  async noop(): Promise<unknown> {
    await this.#step('noop', this.noopStep);
    return {};
  }
  async close(): Promise<void> {
    this.calls.push('close');
    if (this.broken) {
      this.open = false;
      return;
    }
    this.broken = true;
    if (this.closeStep === 'manual') {
      const d = deferred();
      this.gates.close = d;
      await d.promise;
    }
    this.open = false;
    this.emit('close', new ClosedError('closed'));
  }
  destroy(err?: Error): void {
    this.calls.push('destroy');
    this.open = false;
    this.kill(err ?? new ClosedError('destroyed'));
  }
  /** The server drops the connection (or it fails): broken, 'close' emitted, pending steps rejected. */
  kill(err: Error = new ConnectionError('dropped')): void {
    if (this.broken) return;
    this.broken = true;
    this.open = false;
    this.gates.connect?.reject(err);
    this.gates.noop?.reject(err);
    this.emit('close', err);
  }
}

const made: FakeConnection[] = [];
const pools: SmtpConnectionPool<FakeConnection>[] = [];

function makePool(
  options: Omit<SmtpConnectionPoolOptions<FakeConnection>, 'connectionFactory'> = {},
  setup?: (c: FakeConnection) => void,
) {
  const pool = new SmtpConnectionPool<FakeConnection>({
    ...options,
    connectionFactory: (params) => {
      const c = new FakeConnection(params);
      setup?.(c);
      made.push(c);
      return c;
    },
  });
  pools.push(pool);
  return pool;
}

const P: PoolConnectionParams = { host: 'smtp.example.com', port: 587, encryption: 'tls' };
const tick = () => new Promise<void>((r) => setImmediate(r));
const settled = async <T>(p: Promise<T>) => {
  let state: 'pending' | 'fulfilled' | 'rejected' = 'pending';
  p.then(
    () => (state = 'fulfilled'),
    () => (state = 'rejected'),
  );
  await tick();
  return state;
};

afterEach(() => {
  for (const p of pools.splice(0)) p.destroy();
  made.length = 0;
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('SmtpConnectionPool options', () => {
  it.each([
    [{ maxConnections: 0 }, 'maxConnections'],
    [{ maxConnections: 1.5 }, 'maxConnections'],
    [{ idleTimeout: -1 }, 'idleTimeout'],
    [{ idleTimeout: 0 }, 'idleTimeout'],
    [{ staleTimeout: Number.NaN }, 'staleTimeout'],
    [{ maxMessagesPerConnection: 0 }, 'maxMessagesPerConnection'],
    [{ acquireTimeout: 2 ** 31 }, 'acquireTimeout'],
    [{ healthCheckAfter: -5 }, 'healthCheckAfter'],
    [{ rateLimit: { messages: 0, interval: 1000 } }, 'rateLimit.messages'],
    [{ rateLimit: { messages: 5, interval: 0 } }, 'rateLimit.interval'],
    [{ connectionFactory: 42 }, 'connectionFactory'],
  ])('rejects %j naming %s', (options, field) => {
    const attempt = () => new SmtpConnectionPool(options as never);
    expect(attempt).toThrow(InvalidArgumentError);
    try {
      attempt();
    } catch (err) {
      expect((err as InvalidArgumentError).field).toBe(field);
    }
  });

  it('accepts healthCheckAfter 0 and Infinity for the durations', () => {
    expect(
      () =>
        new SmtpConnectionPool({
          healthCheckAfter: 0,
          idleTimeout: Infinity,
          staleTimeout: Infinity,
          acquireTimeout: Infinity,
        }),
    ).not.toThrow();
  });

  it.each([
    [{ host: '' }, 'host'],
    [{ host: 'a\r\nb' }, 'host'],
    [{ host: 'a', port: 0 }, 'port'],
    [{ host: 'a', encryption: 'starttls' }, 'encryption'],
    [{ host: 'a', password: 'x' }, 'username'],
    [{ host: 'a', username: 'u', accessToken: 5 }, 'accessToken'],
  ])('getConnection rejects params %j naming %s', async (params, field) => {
    const pool = makePool();
    await expect(pool.getConnection(params as never)).rejects.toMatchObject({ name: 'InvalidArgumentError', field });
    expect(made).toHaveLength(0);
  });
});

describe('checkout and release', () => {
  it('connects, logs in with credentials, and reuses the parked connection', async () => {
    const pool = makePool();
    const params = { ...P, username: 'u', password: 'secret', authMethod: 'LOGIN' as const };
    const a = await pool.getConnection(params);
    expect(a.calls).toEqual(['connect', 'login']);
    expect(a.credentials).toEqual({ username: 'u', password: 'secret' });
    expect(a.loginMethod).toBe('LOGIN');
    pool.releaseConnection(a);
    const b = await pool.getConnection(params);
    expect(b).toBe(a);
    expect(pool.getStats()).toMatchObject({ total: 1, idle: 0, busy: 1, created: 1, reused: 1, keys: 1 });
    pool.releaseConnection(b);
    expect(pool.getStats()).toMatchObject({ total: 1, idle: 1, busy: 0 });
  });

  it('does not log in without credentials and fills in the default port', async () => {
    const pool = makePool();
    const a = await pool.getConnection({ host: 'mx.example', encryption: 'ssl' });
    expect(a.calls).toEqual(['connect']);
    expect(a.params.port).toBe(465);
    pool.releaseConnection(a);
    // Same key with the port spelt out and the host in other case.
    expect(await pool.getConnection({ host: 'MX.example', port: 465, encryption: 'ssl' })).toBe(a);
  });

  it('keys by credentials and never shows a password in the stats', async () => {
    const pool = makePool();
    const a = await pool.getConnection({ ...P, username: 'u', password: 'hunter2' });
    const b = await pool.getConnection({ ...P, username: 'u', password: 'other' });
    const c = await pool.getConnection(P);
    expect(new Set([a, b, c]).size).toBe(3);
    const stats = pool.getStats();
    expect(stats.keys).toBe(3);
    const text = JSON.stringify(stats);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('other');
    expect(stats.perKey.map((k) => k.key)).toContain('tls://smtp.example.com:587');
    pool.releaseConnection(a);
    expect(await pool.getConnection({ ...P, username: 'u', password: 'other' })).not.toBe(a);
  });

  it('rejects releasing a stranger, a connection twice, or with the wrong host', async () => {
    const pool = makePool();
    const a = await pool.getConnection(P);
    expect(() => pool.releaseConnection(new FakeConnection(P))).toThrow(/not from this pool/);
    expect(() => pool.releaseConnection('other.example', 587, a)).toThrow(InvalidArgumentError);
    pool.releaseConnection('SMTP.example.com', 587, a);
    expect(() => pool.releaseConnection(a)).toThrow(/already released/);
    // Also once the pool let go of it.
    const b = await pool.getConnection(P);
    b.kill();
    pool.releaseConnection(b);
    expect(() => pool.releaseConnection(b)).toThrow(/already released/);
    expect(pool.getStats()).toMatchObject({ total: 0 });
  });

  it('destroys a broken connection at release instead of parking it', async () => {
    const pool = makePool();
    const a = await pool.getConnection(P);
    a.kill();
    pool.releaseConnection(a);
    expect(pool.getStats()).toMatchObject({ total: 0, idle: 0, errors: 1, closed: 1 });
    const b = await pool.getConnection(P);
    expect(b).not.toBe(a);
  });

  it('notices a connection killed while parked (close event) and replaces it transparently', async () => {
    const pool = makePool();
    const a = await pool.getConnection(P);
    pool.releaseConnection(a);
    a.kill();
    expect(pool.getStats()).toMatchObject({ idle: 0, total: 0, errors: 1 });
    const b = await pool.getConnection(P);
    expect(b).not.toBe(a);
    expect(b.isBroken).toBe(false);
  });

  it('notices at checkout a parked connection that broke without an event', async () => {
    const pool = makePool();
    const a = await pool.getConnection(P);
    pool.releaseConnection(a);
    a.broken = true; // no 'close' event
    const b = await pool.getConnection(P);
    expect(b).not.toBe(a);
    expect(a.calls).toContain('destroy');
  });

  it('treats a connection released with a reply pending as available, without a NOOP', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const pool = makePool({ healthCheckAfter: 1000 });
    const a = await pool.getConnection(P);
    a.pendingReplies = 1; // released from onHandedOver: the final reply is still awaited
    pool.releaseConnection(a);
    vi.advanceTimersByTime(5000);
    expect(await pool.getConnection(P)).toBe(a);
    expect(a.calls).not.toContain('noop');
  });
});

describe('health check, staleness, wear', () => {
  it('NOOPs a connection parked longer than healthCheckAfter, and not a fresh one', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const pool = makePool({ healthCheckAfter: 1000 });
    const a = await pool.getConnection(P);
    pool.releaseConnection(a);
    vi.advanceTimersByTime(500);
    expect(await pool.getConnection(P)).toBe(a);
    expect(a.calls).not.toContain('noop');
    pool.releaseConnection(a);
    vi.advanceTimersByTime(1000);
    expect(await pool.getConnection(P)).toBe(a);
    expect(a.calls.filter((c) => c === 'noop')).toHaveLength(1);
  });

  it('replaces a connection whose health check fails, transparently', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const pool = makePool({ healthCheckAfter: 10 });
    const a = await pool.getConnection(P);
    pool.releaseConnection(a);
    a.noopStep = new ConnectionError('reset');
    vi.advanceTimersByTime(20);
    const b = await pool.getConnection(P);
    expect(b).not.toBe(a);
    expect(a.isBroken).toBe(true);
    expect(pool.getStats()).toMatchObject({ total: 1, busy: 1, errors: 1, created: 2 });
  });

  it('closes a connection older than staleTimeout at release and at checkout', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const pool = makePool({ staleTimeout: 1000, idleTimeout: Infinity });
    const a = await pool.getConnection(P);
    vi.advanceTimersByTime(1000);
    pool.releaseConnection(a);
    expect(a.calls).toContain('close');
    const b = await pool.getConnection(P);
    pool.releaseConnection(b);
    vi.setSystemTime(Date.now() + 2000); // no timer ran: found at checkout
    const c = await pool.getConnection(P);
    expect(c).not.toBe(b);
    expect(b.calls).toContain('close');
  });

  it('closes a connection after maxMessagesPerConnection checkouts', async () => {
    const pool = makePool({ maxMessagesPerConnection: 2 });
    const a = await pool.getConnection(P);
    pool.releaseConnection(a);
    expect(await pool.getConnection(P)).toBe(a);
    pool.releaseConnection(a);
    expect(a.calls).toContain('close');
    expect(await pool.getConnection(P)).not.toBe(a);
  });

  it('reaps parked connections after idleTimeout on an unref()ed timer', async () => {
    const spy = vi.spyOn(globalThis, 'setInterval');
    const pool = makePool({ idleTimeout: 40 });
    const a = await pool.getConnection(P);
    pool.releaseConnection(a);
    const timer = spy.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    await new Promise((r) => setTimeout(r, 120));
    expect(a.calls).toContain('close');
    expect(pool.getStats()).toMatchObject({ total: 0, closed: 1 });
  });
});

describe('the per-key limit and its FIFO of waiters', () => {
  it('never opens more than maxConnections and serves waiters in FIFO order', async () => {
    const pool = makePool({ maxConnections: 2 });
    const a = await pool.getConnection(P);
    const b = await pool.getConnection(P);
    const order: number[] = [];
    const waiters = [1, 2, 3].map((i) =>
      pool.getConnection(P).then((c) => {
        order.push(i);
        return c;
      }),
    );
    await tick();
    expect(made).toHaveLength(2);
    expect(pool.getStats()).toMatchObject({ busy: 2, waiting: 3 });
    pool.releaseConnection(b);
    const w1 = await waiters[0]!;
    expect(w1).toBe(b);
    pool.releaseConnection(a);
    expect(await waiters[1]!).toBe(a);
    pool.releaseConnection(w1);
    expect(await waiters[2]!).toBe(b);
    expect(order).toEqual([1, 2, 3]);
    expect(made).toHaveLength(2);
  });

  it('a freed slot (broken connection released) lets the next waiter connect anew', async () => {
    const pool = makePool({ maxConnections: 1 });
    const a = await pool.getConnection(P);
    const w = pool.getConnection(P);
    await tick();
    a.kill();
    pool.releaseConnection(a);
    const b = await w;
    expect(b).not.toBe(a);
    expect(made).toHaveLength(2);
  });

  it('rejects a waiter after acquireTimeout with TimeoutError phase acquire; the others keep their place', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const pool = makePool({ maxConnections: 1, acquireTimeout: 1000 });
    const a = await pool.getConnection(P);
    const w1 = pool.getConnection(P);
    w1.catch(() => {});
    vi.advanceTimersByTime(600);
    const w2 = pool.getConnection(P);
    vi.advanceTimersByTime(500);
    await expect(w1).rejects.toMatchObject({ name: 'TimeoutError', phase: 'acquire', timeout: 1000 });
    expect(pool.getStats().waiting).toBe(1);
    pool.releaseConnection(a);
    expect(await w2).toBe(a);
  });

  it('a connection released straight to a waiter is published as released (not parked)', async () => {
    const pool = makePool({ maxConnections: 1 });
    const a = await pool.getConnection(P);
    const w = pool.getConnection(P);
    await tick();
    const seen: unknown[] = [];
    const onRelease = (m: unknown): void => void seen.push(m);
    diagnostics.subscribe('smtpwire:pool:release', onRelease);
    try {
      pool.releaseConnection(a);
      expect(await w).toBe(a);
      expect(seen).toEqual([{ connection: a, parked: false }]);
    } finally {
      diagnostics.unsubscribe('smtpwire:pool:release', onRelease);
    }
  });

  it('a call waiting for a busy destination is published on smtpwire:pool:wait', async () => {
    const pool = makePool({ maxConnections: 1 });
    const a = await pool.getConnection(P);
    const seen: unknown[] = [];
    const onWait = (m: unknown): void => void seen.push(m);
    diagnostics.subscribe('smtpwire:pool:wait', onWait);
    try {
      const w = pool.getConnection(P);
      expect(seen).toEqual([{ host: 'smtp.example.com', port: 587, label: expect.any(String), waiting: 1 }]);
      pool.releaseConnection(a);
      expect(await w).toBe(a);
    } finally {
      diagnostics.unsubscribe('smtpwire:pool:wait', onWait);
    }
  });

  it('a waiter woken by a freed slot keeps its deadline on the general path (acquireTimeout in all, not anew)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const pool = makePool({ maxConnections: 1, acquireTimeout: 1000 });
    const a = await pool.getConnection(P);
    const w = pool.getConnection(P);
    w.catch(() => {});
    vi.advanceTimersByTime(600);
    // The slot is freed (not handed over): w is woken to the general path, but a caller arriving at that
    // moment takes the slot first, so w waits for a slot again.
    a.kill();
    pool.releaseConnection(a);
    const x = pool.getConnection(P);
    expect(await x).not.toBe(a);
    expect(pool.getStats()).toMatchObject({ busy: 1, waiting: 1 });
    await vi.advanceTimersByTimeAsync(399);
    expect(await settled(w)).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(await settled(w)).toBe('rejected');
    await expect(w).rejects.toMatchObject({ name: 'TimeoutError', phase: 'acquire', timeout: 1000 });
  });

  it('waiters share one deadline timer per destination, and each times out acquireTimeout after it came', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const pool = makePool({ maxConnections: 1, acquireTimeout: 1000 });
    const a = await pool.getConnection(P);
    const before = vi.getTimerCount();
    const waiters = [0, 300, 600].map((at) => {
      vi.advanceTimersByTime(at === 0 ? 0 : 300);
      const w = pool.getConnection(P);
      w.catch(() => {});
      return w;
    });
    expect(vi.getTimerCount() - before).toBe(1);
    vi.advanceTimersByTime(399); // t = 999 after the first waiter came
    expect(pool.getStats().waiting).toBe(3);
    vi.advanceTimersByTime(1);
    await expect(waiters[0]).rejects.toMatchObject({ name: 'TimeoutError', phase: 'acquire' });
    expect(pool.getStats().waiting).toBe(2);
    vi.advanceTimersByTime(300);
    await expect(waiters[1]).rejects.toMatchObject({ name: 'TimeoutError', phase: 'acquire' });
    // Released straight to the last one, which has not timed out.
    pool.releaseConnection(a);
    expect(await waiters[2]).toBe(a);
    expect(pool.getStats()).toMatchObject({ waiting: 0, busy: 1, idle: 0 });
  });

  it('an aborted waiter leaves the queue with AbortError', async () => {
    const pool = makePool({ maxConnections: 1 });
    const a = await pool.getConnection(P);
    const ac = new AbortController();
    const w1 = pool.getConnection(P, { signal: ac.signal });
    const w2 = pool.getConnection(P);
    await tick();
    ac.abort(new Error('user gave up'));
    await expect(w1).rejects.toBeInstanceOf(AbortError);
    await expect(w1).rejects.toMatchObject({ cause: { message: 'user gave up' } });
    pool.releaseConnection(a);
    expect(await w2).toBe(a);
    await expect(pool.getConnection(P, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
  });

  it('does not hold the key lock across a slow connect (connects run in parallel)', async () => {
    const pool = makePool({ maxConnections: 3 }, (c) => (c.connectStep = 'manual'));
    const ps = [pool.getConnection(P), pool.getConnection(P), pool.getConnection(P)];
    await tick();
    expect(made).toHaveLength(3);
    expect(made.every((c) => c.gates.connect !== null)).toBe(true);
    expect(pool.getStats()).toMatchObject({ connecting: 3, total: 0 });
    const fourth = pool.getConnection(P);
    await tick();
    expect(made).toHaveLength(3); // the reserved slots count
    for (const c of made) c.gates.connect!.resolve();
    const got = await Promise.all(ps);
    expect(new Set(got).size).toBe(3);
    expect(await settled(fourth)).toBe('pending');
    pool.releaseConnection(got[0]!);
    expect(await fourth).toBe(got[0]);
  });

  it('a failed connect rejects with the engine error, frees the slot and counts an error', async () => {
    const refused = new ConnectionError('refused');
    let n = 0;
    const pool = makePool({ maxConnections: 1 }, (c) => {
      if (n++ === 0) c.connectStep = 'manual';
    });
    const first = pool.getConnection(P);
    const second = pool.getConnection(P);
    await tick();
    made[0]!.gates.connect!.reject(refused);
    await expect(first).rejects.toBe(refused);
    const c = await second;
    expect(c).toBe(made[1]);
    expect(pool.getStats()).toMatchObject({ errors: 1, created: 1, total: 1 });
  });

  it('a failed login rejects with the AuthError and destroys the connection', async () => {
    const denied = new AuthError('535 no', { replyCode: 535 });
    const pool = makePool({}, (c) => (c.loginStep = denied));
    await expect(pool.getConnection({ ...P, username: 'u', password: 'p' })).rejects.toBe(denied);
    expect(made[0]!.calls).toContain('destroy');
    expect(pool.getStats()).toMatchObject({ total: 0, connecting: 0, errors: 1 });
  });

  it('a connection saying QUIT keeps its slot until the socket is gone', async () => {
    const pool = makePool({ maxConnections: 1, maxMessagesPerConnection: 1 }, (c) => (c.closeStep = 'manual'));
    const a = await pool.getConnection(P);
    const w = pool.getConnection(P);
    await tick();
    pool.releaseConnection(a); // worn out: QUIT
    await tick();
    expect(pool.getStats()).toMatchObject({ closing: 1, total: 0 });
    expect(made).toHaveLength(1);
    expect(await settled(w)).toBe('pending');
    a.gates.close!.resolve();
    const b = await w;
    expect(b).not.toBe(a);
    expect(a.open).toBe(false);
  });

  it('keys are independent: a full key does not block another', async () => {
    const pool = makePool({ maxConnections: 1 });
    await pool.getConnection(P);
    const other = await pool.getConnection({ ...P, host: 'other.example' });
    expect(other.params.host).toBe('other.example');
  });
});

describe('rate limit', () => {
  it('takes a token per getConnection and makes the next one wait (abortable)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const pool = makePool({ rateLimit: { messages: 2, interval: 1000 } });
    const a = await pool.getConnection(P);
    pool.releaseConnection(a);
    pool.releaseConnection(await pool.getConnection(P));
    const third = pool.getConnection(P);
    const ac = new AbortController();
    const fourth = pool.getConnection(P, { signal: ac.signal });
    await vi.advanceTimersByTimeAsync(0);
    expect(pool.getStats().waiting).toBe(2);
    ac.abort();
    await expect(fourth).rejects.toBeInstanceOf(AbortError);
    await vi.advanceTimersByTimeAsync(400);
    expect(await settled(third)).toBe('pending');
    await vi.advanceTimersByTimeAsync(150); // one token every 500 ms
    expect(await third).toBe(a);
  });
});

describe('closeAll and destroy', () => {
  it('closeAll: QUITs idle ones, rejects waiters, closes busy ones at release, then resolves', async () => {
    const pool = makePool({ maxConnections: 2 });
    const a = await pool.getConnection(P);
    const b = await pool.getConnection(P);
    pool.releaseConnection(a);
    const c = await pool.getConnection(P);
    expect(c).toBe(a);
    const waiter = pool.getConnection(P);
    pool.releaseConnection(a);
    expect(await waiter).toBe(a); // served before the close
    const waiter2 = pool.getConnection(P);
    await tick();
    const closing = pool.closeAll();
    await expect(waiter2).rejects.toBeInstanceOf(ClosedError);
    await expect(pool.getConnection(P)).rejects.toBeInstanceOf(ClosedError);
    expect(await settled(closing)).toBe('pending');
    pool.releaseConnection(a);
    expect(a.calls).toContain('close');
    expect(await settled(closing)).toBe('pending');
    pool.releaseConnection(b);
    await closing;
    expect(a.open || b.open).toBe(false);
    expect(pool.getStats()).toMatchObject({ total: 0, closing: 0 });
  });

  it('destroy: drops every connection now; a later release of a handed-out one is accepted', async () => {
    const pool = makePool({ maxConnections: 1 });
    const a = await pool.getConnection(P);
    const w = pool.getConnection(P);
    await tick();
    pool.destroy(new Error('shutdown'));
    await expect(w).rejects.toBeInstanceOf(ClosedError);
    expect(a.isBroken).toBe(true);
    expect(() => pool.releaseConnection(a)).not.toThrow();
    await expect(pool.getConnection(P)).rejects.toBeInstanceOf(ClosedError);
    await pool.closeAll();
  });

  it('destroy during a connect rejects that getConnection with ClosedError', async () => {
    const pool = makePool({}, (c) => (c.connectStep = 'manual'));
    const p = pool.getConnection(P);
    await tick();
    pool.destroy();
    await expect(p).rejects.toBeInstanceOf(ClosedError);
    expect(made[0]!.isBroken).toBe(true);
  });
});

describe('timeouts are typed', () => {
  it('acquire TimeoutError is a TimeoutError', async () => {
    const pool = makePool({ maxConnections: 1, acquireTimeout: 20 });
    await pool.getConnection(P);
    await expect(pool.getConnection(P)).rejects.toBeInstanceOf(TimeoutError);
  });
});
