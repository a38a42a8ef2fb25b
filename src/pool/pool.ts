/**
 * SmtpConnectionPool: parks warm SMTP connections per destination and credentials, hands them out
 * one holder at a time, and recycles, health-checks, reaps and replaces them.
 *
 * Per key (host, port, encryption, sha256 of the credentials) the pool keeps a bucket:
 *
 *   getConnection ─► [rate-limit FIFO] ─► [key Mutex FIFO] ─► critical section ─┬─► idle.pop()  (NOOP if it sat > healthCheckAfter)
 *                                                                               ├─► reserve a slot, connect outside the lock
 *                                                                               └─► wait (lock held) until a release / close frees one
 *   releaseConnection ─► broken? destroy : stale or worn out? QUIT : park on idle ─► wake the waiting holder of the lock
 *
 * The slot count of a key is `idle + busy + connecting + closing` and never exceeds `maxConnections`:
 * every socket that may still be open at the server (including one being connected or saying QUIT)
 * holds a slot. The pool never parses SMTP; it asks `isBroken`, `noop()`, `close()`, `destroy()`.
 *
 * This file is the moves of connections (checkout, open, release, retire, reap, shutdown). Beside it:
 * `bucket.ts` (a key's state, slot count, the slot wait), `handoff.ts` (the FIFO waiting for a release), `gate.ts`
 * (one call's abort signal), `pool-options.ts` (options, defaults, checks), `pool-stats.ts`, `pool-key.ts`, `pool-events.ts` (what it publishes), `rate-limit.ts`.
 */
import { AbortError, ClosedError, InvalidArgumentError, TimeoutError } from '../errors.js';
import type { Credentials } from '../protocol/auth.js';
import { TlsSessionStore } from '../transport/connect.js';
import type { SmtpConnection } from '../transport/connection.js';
import { listenAbort } from '../util/abort.js';
import { type Bucket, type Entry, newBucket, slots, waitForSlot } from './bucket.js';
import { Gate } from './gate.js';
import { rejectWaiters, takeWaiter, waitForHandoff } from './handoff.js';
import { publishRelease, publishWait, traced } from './pool-events.js';
import { type PoolConnectionParams, type PoolKey, resolveParams } from './pool-key.js';
import { type PoolableConnection, resolvePoolOptions, type SmtpConnectionPoolOptions } from './pool-options.js';
import { collectStats, type PoolStats } from './pool-stats.js';

export { type PoolConnectionParams, PoolKey } from './pool-key.js';
export {
  DEFAULT_ACQUIRE_TIMEOUT,
  DEFAULT_HEALTH_CHECK_AFTER,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_MESSAGES_PER_CONNECTION,
  DEFAULT_STALE_TIMEOUT,
  type PoolableConnection,
  type SmtpConnectionPoolOptions,
} from './pool-options.js';
export type { PoolKeyStats, PoolStats } from './pool-stats.js';

/** Reaper period bounds: it runs at half the shorter of idleTimeout and staleTimeout, within these. */
const MIN_REAP_PERIOD = 5;
const MAX_REAP_PERIOD = 15_000;

/**
 * A connection pool keyed by destination and credentials. See the module comment for the design.
 *
 * Usage: `const conn = await pool.getConnection(params)`, use it, then `pool.releaseConnection(conn)`
 * exactly once, even when the connection failed (a broken one is destroyed, never parked). A connection
 * may be released while it still awaits the reply to its last message (from `sendMail`'s
 * `onHandedOver`): the next holder's commands are pipelined behind it. A caller sending to one
 * destination again and again keeps a `new PoolKey(params)` and passes it: checked and keyed once.
 */
export class SmtpConnectionPool<C extends PoolableConnection = SmtpConnection> {
  readonly #max: number;
  readonly #idleTimeout: number;
  readonly #staleTimeout: number;
  readonly #maxMessages: number;
  readonly #acquireTimeout: number;
  readonly #healthCheckAfter: number;
  readonly #rateLimit: { messages: number; interval: number } | null;
  readonly #factory: (params: PoolConnectionParams) => C;

  readonly #buckets = new Map<string, Bucket<C>>();
  /** TLS sessions per pool key; they outlive a bucket that empties, and go with closeAll/destroy. */
  readonly #tlsSessions = new Map<string, TlsSessionStore>();
  readonly #entries = new Map<C, Entry<C>>();
  /** Connections this pool has let go of: a later release is a double release, not a stranger. */
  readonly #retired = new WeakSet<C>();
  /** Connections handed out when the pool was destroyed: their release is quietly accepted. */
  readonly #orphans = new WeakSet<C>();
  /** Abort controllers of every getConnection still acquiring, so close can reject them. */
  readonly #gates = new Set<Gate>();
  /** #notify bound once, for the hand-over FIFO's abort and deadline paths. */
  readonly #onWaitersChanged = (bucket: Bucket<C>): void => this.#notify(bucket);
  #reaper: NodeJS.Timeout | null = null;
  #closed = false;
  #destroyed = false;
  #drained: (() => void) | null = null;
  #closing: Promise<void> | null = null;
  #created = 0;
  #reused = 0;
  #closedCount = 0;
  #errors = 0;

  /**
   * @throws InvalidArgumentError naming the field (`maxConnections`, `idleTimeout`, `rateLimit.messages` …).
   */
  constructor(options: SmtpConnectionPoolOptions<C> = {}) {
    const o = resolvePoolOptions(options);
    this.#max = o.maxConnections;
    this.#idleTimeout = o.idleTimeout;
    this.#staleTimeout = o.staleTimeout;
    this.#maxMessages = o.maxMessages;
    this.#acquireTimeout = o.acquireTimeout;
    this.#healthCheckAfter = o.healthCheckAfter;
    this.#rateLimit = o.rateLimit;
    this.#factory = o.factory;
  }

  /**
   * A connection for `params`, connected and logged in when credentials are given: a parked one when
   * there is one (NOOP-checked when it sat longer than `healthCheckAfter`; a dead one is replaced
   * transparently), else a new one while the key has fewer than `maxConnections`, else the oldest
   * waiter gets the next one released.
   * @throws InvalidArgumentError (bad params), TimeoutError (phase `'acquire'`: no slot within
   *   `acquireTimeout`), AbortError (the signal fired while waiting), ClosedError (pool closed or
   *   destroyed), and the engine's typed error when connecting or logging in fails (ConnectionError,
   *   TimeoutError, TlsError, ReplyError, AuthError …); the slot is freed then.
   */
  getConnection(params: PoolConnectionParams | PoolKey, options: { signal?: AbortSignal } = {}): Promise<C> {
    // Not an async function: the fast path (a parked connection, the usual case) costs no async frame.
    let normal: PoolKey;
    let bucket: Bucket<C>;
    const signal = options?.signal;
    try {
      if (this.#closed) throw new ClosedError(this.#destroyed ? 'pool destroyed' : 'pool closed');
      if (signal?.aborted) throw new AbortError('aborted before getting a connection', { cause: signal.reason });
      normal = resolveParams(params);
      bucket = this.#bucket(normal.key, normal.label);
    } catch (err) {
      return Promise.reject(err);
    }
    // Fast path, one tick, no lock needed (STYLE §9): nobody holds or waits for the key's lock and a
    // parked connection can be handed out without a health check.
    if (!bucket.limiter && !bucket.mutex.locked && bucket.waiters.length === 0) {
      const entry = this.#takeParkedNow(bucket);
      if (entry) return Promise.resolve(entry.conn);
    }
    return this.#acquire(bucket, normal, signal);
  }

  /** Every path but the fast one: the destination's hand-over FIFO, or the rate limit, the key lock and a checkout. */
  async #acquire(bucket: Bucket<C>, normal: PoolKey, signal: AbortSignal | undefined): Promise<C> {
    // The one acquire deadline of this call, whichever ways it waits (Infinity: none).
    let deadlineAt = Infinity;
    if (!bucket.limiter && !bucket.mutex.locked) {
      // Every slot busy, nothing parked: wait in the destination's FIFO for a connection handed straight
      // over at its release (no lock, no timer of its own). Null: a slot was freed instead.
      if (bucket.idle.length === 0 && slots(bucket) >= this.#max) {
        if (this.#acquireTimeout !== Infinity) deadlineAt = Date.now() + this.#acquireTimeout;
        const handedOver = waitForHandoff(bucket, this.#acquireTimeout, deadlineAt, signal, this.#onWaitersChanged);
        publishWait(normal, bucket.label, bucket.users);
        const conn = await handedOver;
        if (conn !== null) return conn;
        // Woken to take the general path: it kept its use of the bucket until now (so the bucket was not dropped).
        bucket.users--;
        if (this.#closed) throw new ClosedError(this.#destroyed ? 'pool destroyed' : 'pool closed');
      }
    }
    bucket.users++;
    // One gate per call: it aborts on the caller's signal, the acquire deadline or the pool closing,
    // and its reason is the error the call rejects with.
    const gate = new Gate();
    const onAbort = (): void =>
      gate.abort(new AbortError('aborted while waiting for a connection', { cause: signal?.reason }));
    listenAbort(signal, onAbort);
    const deadline =
      this.#acquireTimeout === Infinity
        ? null
        : setTimeout(
            () => {
              gate.abort(
                new TimeoutError(`no connection to ${bucket.label} became free within ${this.#acquireTimeout} ms`, {
                  phase: 'acquire',
                  timeout: this.#acquireTimeout,
                }),
              );
            },
            // A waiter woken from the FIFO has already spent part of its time there.
            deadlineAt === Infinity ? this.#acquireTimeout : Math.max(0, deadlineAt - Date.now()),
          );
    this.#gates.add(gate);
    let got: { entry: Entry<C> } | { fresh: C };
    try {
      if (bucket.limiter) await bucket.limiter.take(gate);
      const unlock = await bucket.mutex.acquire(gate);
      try {
        got = await this.#checkout(bucket, normal, gate, signal);
      } finally {
        unlock();
      }
    } catch (err) {
      throw gate.aborted ? gate.reason : err;
    } finally {
      if (deadline) clearTimeout(deadline);
      signal?.removeEventListener('abort', onAbort);
      this.#gates.delete(gate);
      bucket.users--;
      this.#notify(bucket);
    }
    if ('entry' in got) return got.entry.conn;
    return this.#open(bucket, got.fresh, normal, signal);
  }

  /**
   * Gives a connection back. A broken one is destroyed; one older than `staleTimeout`, handed out
   * `maxMessagesPerConnection` times, or released after `closeAll()` is closed with QUIT (it keeps its
   * slot until the socket is gone); any other is parked for reuse, even with a reply still pending.
   * The reference form `releaseConnection(host, port, conn)` also checks host and port.
   * @throws InvalidArgumentError when the connection is not from this pool, is already released, or
   *   does not match host and port.
   */
  releaseConnection(conn: C): void;
  releaseConnection(host: string, port: number | undefined, conn: C): void;
  releaseConnection(a: C | string, port?: number, c?: C): void {
    const byHost = typeof a === 'string';
    const conn = byHost ? c : a;
    if (conn === undefined || conn === null || typeof conn !== 'object') {
      throw new InvalidArgumentError('releaseConnection needs the connection', { field: 'connection' });
    }
    if (this.#orphans.has(conn)) {
      this.#orphans.delete(conn);
      this.#retired.add(conn);
      conn.destroy();
      return;
    }
    const entry = this.#entries.get(conn);
    if (!entry) {
      const why = this.#retired.has(conn) ? 'was already released' : 'is not from this pool';
      throw new InvalidArgumentError(`releaseConnection: the connection ${why}`, { field: 'connection' });
    }
    if (entry.state !== 'busy')
      throw new InvalidArgumentError('releaseConnection: the connection was already released', { field: 'connection' });
    if (byHost) {
      const expectedPort = port ?? entry.port;
      if (a.toLowerCase() !== entry.host.toLowerCase() || expectedPort !== entry.port) {
        throw new InvalidArgumentError(
          `releaseConnection: the connection belongs to ${entry.host}:${entry.port}, not ${a}:${String(port)}`,
          {
            field: 'host',
          },
        );
      }
    }
    const now = Date.now();
    if (conn.isBroken) {
      this.#errors++;
      this.#retire(entry, 'destroy');
    } else if (
      this.#closed ||
      now - conn.createdAt >= this.#staleTimeout ||
      Math.max(entry.checkouts, conn.messagesSent) >= this.#maxMessages
    ) {
      this.#retire(entry, 'close');
    } else if (entry.bucket.waiters.length > 0) {
      // Straight to the oldest waiter: it stays busy and referenced. Just used, so no health check.
      const waiter = takeWaiter(entry.bucket, false);
      entry.checkouts++;
      this.#reused++;
      // Given back, then out again: observers pair each release with its checkout (the in-use count).
      publishRelease(conn, false);
      waiter.resolve(conn);
      return;
    } else {
      entry.bucket.busy.delete(entry);
      entry.state = 'idle';
      entry.parkedAt = now;
      entry.bucket.idle.push(entry);
      conn.unref?.();
      this.#startReaper();
    }
    publishRelease(conn, entry.state === 'idle');
    this.#notify(entry.bucket);
  }

  /** A snapshot of the counters. `total = idle + busy`; the slots of a key are `total + connecting + closing`. */
  getStats(): PoolStats {
    return collectStats(this.#buckets, {
      created: this.#created,
      reused: this.#reused,
      closed: this.#closedCount,
      errors: this.#errors,
    });
  }

  /**
   * Graceful shutdown: waiting and later `getConnection` calls reject with ClosedError, parked
   * connections say QUIT now, busy ones are closed when released. Resolves once every connection is
   * closed, so it waits for the holders to release theirs (use `destroy()` not to wait).
   */
  closeAll(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#tlsSessions.clear();
    this.#stopReaper();
    this.#closing = new Promise<void>((resolve) => {
      this.#drained = resolve;
    });
    for (const gate of this.#gates) gate.abort(new ClosedError('pool closed while waiting for a connection'));
    for (const bucket of this.#buckets.values()) {
      rejectWaiters(bucket, new ClosedError('pool closed while waiting for a connection'));
      bucket.limiter?.clear(new ClosedError('pool closed while waiting for a connection'));
      for (const entry of [...bucket.idle]) this.#retire(entry, 'close');
      this.#notify(bucket);
    }
    this.#checkDrained();
    return this.#closing;
  }

  /**
   * Immediate shutdown: every connection is destroyed (pending calls on them reject with `err` or
   * ClosedError), waiters and later calls reject with ClosedError. Releasing a connection that was
   * handed out before is still accepted.
   */
  destroy(err?: Error): void {
    const reason = new ClosedError('pool destroyed', err === undefined ? {} : { cause: err });
    this.#tlsSessions.clear();
    if (!this.#closing) {
      this.#closing = new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
    }
    this.#closed = true;
    this.#destroyed = true;
    this.#stopReaper();
    for (const gate of this.#gates) gate.abort(reason);
    for (const bucket of this.#buckets.values()) {
      rejectWaiters(bucket, reason);
      bucket.limiter?.clear(reason);
      for (const entry of [...bucket.idle, ...bucket.busy]) {
        if (entry.state === 'busy') this.#orphans.add(entry.conn);
        entry.state = 'closing';
        entry.conn.off('close', entry.onClose);
        entry.conn.destroy(err);
        this.#entries.delete(entry.conn);
        this.#closedCount++;
      }
      bucket.idle.length = 0;
      bucket.busy.clear();
      for (const conn of bucket.pending) conn.destroy(err);
      bucket.wake?.();
    }
    this.#checkDrained();
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────

  /** The newest parked connection when it needs no NOOP check; null when the slow path must decide. */
  #takeParkedNow(bucket: Bucket<C>): Entry<C> | null {
    const entry = bucket.idle[bucket.idle.length - 1];
    if (!entry) return null;
    const conn = entry.conn;
    const now = Date.now();
    if (conn.isBroken || now - conn.createdAt >= this.#staleTimeout) return null;
    if (conn.pendingReplies === 0 && now - entry.parkedAt >= this.#healthCheckAfter) return null;
    bucket.idle.pop();
    conn.ref?.();
    entry.state = 'busy';
    bucket.busy.add(entry);
    entry.checkouts++;
    this.#reused++;
    return entry;
  }

  /**
   * The critical section of one checkout, run under the key's lock. It returns a parked connection,
   * or a fresh unconnected one for which a slot was reserved, or waits (holding the lock, so later
   * callers queue behind in FIFO order) until a release, a close or a failed connect frees a slot.
   *
   * Why a reconnect is not under the lock: a connect can take seconds (TCP, greeting, TLS, AUTH), and
   * holding the lock would open a key's connections one at a time. Reserving the slot under the lock
   * (`pending`) keeps the count invariant just as well, and the lock is released at once. A health
   * check NOOP is a single round trip on a warm socket, so it stays inside, as the design asks.
   */
  async #checkout(
    bucket: Bucket<C>,
    params: PoolConnectionParams,
    gate: Gate,
    signal: AbortSignal | undefined,
  ): Promise<{ entry: Entry<C> } | { fresh: C }> {
    for (;;) {
      if (gate.aborted) throw gate.reason;
      if (this.#closed) throw new ClosedError('pool closed');
      const entry = bucket.idle.pop();
      if (entry) {
        const conn = entry.conn;
        const now = Date.now();
        if (conn.isBroken) {
          this.#errors++;
          this.#retire(entry, 'destroy');
          continue;
        }
        if (now - conn.createdAt >= this.#staleTimeout) {
          this.#retire(entry, 'close');
          continue;
        }
        conn.ref?.();
        entry.state = 'busy';
        bucket.busy.add(entry);
        // A connection still awaiting its previous final reply was in use a moment ago: no NOOP (it
        // would also queue behind that reply).
        if (conn.pendingReplies === 0 && now - entry.parkedAt >= this.#healthCheckAfter) {
          try {
            await conn.noop(signal ? { signal } : {});
          } catch (err) {
            this.#errors++;
            this.#retire(entry, 'destroy', err instanceof Error ? err : undefined);
            continue;
          }
          if (this.#closed || conn.isBroken) {
            if (!this.#closed) this.#errors++;
            this.#retire(entry, conn.isBroken ? 'destroy' : 'close');
            continue;
          }
        }
        entry.checkouts++;
        this.#reused++;
        return { entry };
      }
      if (slots(bucket) < this.#max) {
        // Created under the lock, so the slot and the socket are one.
        // Each destination resumes its last TLS session: a resumed handshake skips the certificate
        // exchange (figures in the README's performance section).
        let sessions = this.#tlsSessions.get(bucket.key);
        if (!sessions) {
          sessions = new TlsSessionStore();
          this.#tlsSessions.set(bucket.key, sessions);
        }
        const conn = this.#factory({ ...params, connection: { ...params.connection, tlsSessions: sessions } });
        bucket.pending.add(conn);
        return { fresh: conn };
      }
      publishWait(params, bucket.label, bucket.users);
      await waitForSlot(bucket, gate);
    }
  }

  /** Connects (and logs in) a connection whose slot is reserved. On failure the slot is freed. */
  async #open(bucket: Bucket<C>, conn: C, params: PoolConnectionParams, signal: AbortSignal | undefined): Promise<C> {
    const op = signal ? { signal } : {};
    try {
      await traced('connect', conn, params, () => conn.connect(op));
      if (params.username !== undefined) {
        const credentials: Credentials = { username: params.username };
        if (params.password !== undefined) credentials.password = params.password;
        if (params.accessToken !== undefined) credentials.accessToken = params.accessToken;
        const how = params.authMethod ? { ...op, method: params.authMethod } : op;
        await traced('auth', conn, params, () => conn.login(credentials, how));
      }
    } catch (err) {
      conn.destroy();
      bucket.pending.delete(conn);
      this.#retired.add(conn);
      if (!this.#destroyed) this.#errors++;
      this.#notify(bucket);
      if (this.#destroyed) throw new ClosedError('pool destroyed', { cause: err });
      throw err;
    }
    bucket.pending.delete(conn);
    this.#created++;
    const entry: Entry<C> = {
      conn,
      bucket,
      host: params.host,
      port: params.port!,
      state: 'busy',
      parkedAt: Date.now(),
      checkouts: 1,
      onClose: () => this.#onConnectionClose(entry),
    };
    conn.on('close', entry.onClose);
    bucket.busy.add(entry);
    this.#entries.set(conn, entry);
    if (this.#closed) {
      // closeAll() came while connecting: the new connection says QUIT at once.
      this.#retire(entry, 'close');
      this.#notify(bucket);
      throw new ClosedError('pool closed while connecting');
    }
    return conn;
  }

  /** The server (or a failure) ended a connection: a parked one leaves the pool at once. */
  #onConnectionClose(entry: Entry<C>): void {
    if (entry.state !== 'idle') return; // busy: found broken at release; closing: ours
    this.#errors++;
    this.#retire(entry, 'destroy');
    this.#notify(entry.bucket);
  }

  /** Takes an entry out of the pool: destroy now, or QUIT and keep the slot until the socket is gone. */
  #retire(entry: Entry<C>, how: 'close' | 'destroy', err?: Error): void {
    const { bucket, conn } = entry;
    if (entry.state === 'idle') {
      const i = bucket.idle.indexOf(entry);
      if (i !== -1) bucket.idle.splice(i, 1);
    } else if (entry.state === 'busy') {
      bucket.busy.delete(entry);
    } else {
      return;
    }
    conn.off('close', entry.onClose);
    this.#entries.delete(conn);
    this.#retired.add(conn);
    if (how === 'destroy') {
      entry.state = 'closing';
      conn.destroy(err);
      this.#closedCount++;
      return;
    }
    entry.state = 'closing';
    bucket.closing++;
    // A parked connection was unref()ed: its QUIT and close are work the caller awaits (closeAll).
    conn.ref?.();
    let closed: Promise<void>;
    try {
      closed = Promise.resolve(conn.close());
    } catch {
      closed = Promise.resolve(conn.destroy());
    }
    void closed
      .catch(() => conn.destroy())
      .finally(() => {
        bucket.closing--;
        this.#closedCount++;
        this.#notify(bucket);
      });
  }

  /** Something changed in the bucket: wake the lock holder, drop an unused bucket, finish closeAll. */
  #notify(bucket: Bucket<C>): void {
    bucket.wake?.();
    // A slot freed (or a connection parked) while some wait for a hand-over: the oldest takes the general path
    // (a new connection, or the parked one); not under the key's lock, where a later waiter could overtake it.
    if (bucket.waiters.length > 0 && !bucket.mutex.locked && (slots(bucket) < this.#max || bucket.idle.length > 0)) {
      const waiter = takeWaiter(bucket, true);
      waiter.resolve(null);
    }
    if (
      bucket.users === 0 &&
      slots(bucket) === 0 &&
      bucket.waiters.length === 0 &&
      !bucket.mutex.locked &&
      bucket.mutex.waiting === 0 &&
      (bucket.limiter === null || bucket.limiter.full) &&
      this.#buckets.get(bucket.key) === bucket
    ) {
      this.#buckets.delete(bucket.key);
    }
    this.#checkDrained();
  }

  #checkDrained(): void {
    if (!this.#drained) return;
    if (!this.#destroyed) {
      for (const b of this.#buckets.values()) if (slots(b) > 0) return;
    }
    const resolve = this.#drained;
    this.#drained = null;
    resolve();
  }

  #bucket(key: string, label: string): Bucket<C> {
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = newBucket<C>(key, label, this.#rateLimit);
      this.#buckets.set(key, bucket);
    }
    return bucket;
  }

  #startReaper(): void {
    if (this.#reaper || this.#closed) return;
    const shorter = Math.min(this.#idleTimeout, this.#staleTimeout);
    const period = Math.max(MIN_REAP_PERIOD, Math.min(MAX_REAP_PERIOD, shorter / 2));
    this.#reaper = setInterval(() => this.#reap(), period);
    // Parked connections must not keep the process alive.
    this.#reaper.unref();
  }

  #stopReaper(): void {
    if (this.#reaper) clearInterval(this.#reaper);
    this.#reaper = null;
  }

  /** Closes parked connections idle longer than `idleTimeout` or older than `staleTimeout`. A move in one tick: no lock. */
  #reap(): void {
    const now = Date.now();
    let parked = 0;
    for (const bucket of [...this.#buckets.values()]) {
      for (const entry of [...bucket.idle]) {
        if (entry.conn.isBroken) {
          this.#errors++;
          this.#retire(entry, 'destroy');
        } else if (now - entry.parkedAt >= this.#idleTimeout || now - entry.conn.createdAt >= this.#staleTimeout) {
          this.#retire(entry, 'close');
        }
      }
      parked += bucket.idle.length;
      this.#notify(bucket);
    }
    if (parked === 0) this.#stopReaper();
  }
}
