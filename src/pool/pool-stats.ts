/**
 * The pool's statistics: gauges read off the buckets, counters kept by the pool.
 */
import type { Bucket } from './bucket.js';

/** Counters for one key (see PoolStats for the meaning of each). */
export interface PoolKeyStats {
  /** `encryption://host:port`, plus `#` and 12 hex digits of the credentials' HMAC-SHA256 when there are credentials. */
  key: string;
  total: number;
  idle: number;
  busy: number;
  connecting: number;
  closing: number;
  waiting: number;
}

/** A snapshot from `getStats()`: gauges (total … waiting) and counters since creation (created … errors). */
export interface PoolStats {
  /** Connections handed out or parked: `idle + busy`. */
  total: number;
  idle: number;
  busy: number;
  /** Slots reserved for a connect (and login) in progress. */
  connecting: number;
  /** Connections saying QUIT; they still hold their slot. */
  closing: number;
  /** `getConnection` calls waiting for a rate-limit token, the key lock or a free slot. */
  waiting: number;
  /** Connections opened (connected, and logged in when credentials were given). */
  created: number;
  /** Checkouts served by a parked connection. */
  reused: number;
  /** Connections closed or destroyed, by the pool or by the server while parked. */
  closed: number;
  /** Failed connects and logins, failed health checks, broken connections found at release or while parked. */
  errors: number;
  /** Keys with any state in the pool. */
  keys: number;
  perKey: PoolKeyStats[];
}

/** The pool's counters since creation (see PoolStats). */
export interface PoolCounters {
  created: number;
  reused: number;
  closed: number;
  errors: number;
}

/** A snapshot of the gauges of every bucket plus the counters. */
export function collectStats<C>(buckets: ReadonlyMap<string, Bucket<C>>, counters: PoolCounters): PoolStats {
  const stats: PoolStats = {
    total: 0,
    idle: 0,
    busy: 0,
    connecting: 0,
    closing: 0,
    waiting: 0,
    created: counters.created,
    reused: counters.reused,
    closed: counters.closed,
    errors: counters.errors,
    keys: buckets.size,
    perKey: [],
  };
  for (const b of buckets.values()) {
    const waiting = b.mutex.waiting + (b.headWaiting ? 1 : 0) + (b.limiter?.waiting ?? 0) + b.waiters.length;
    const k: PoolKeyStats = {
      key: b.label,
      total: b.idle.length + b.busy.size,
      idle: b.idle.length,
      busy: b.busy.size,
      connecting: b.pending.size,
      closing: b.closing,
      waiting,
    };
    stats.perKey.push(k);
    stats.total += k.total;
    stats.idle += k.idle;
    stats.busy += k.busy;
    stats.connecting += k.connecting;
    stats.closing += k.closing;
    stats.waiting += waiting;
  }
  return stats;
}
