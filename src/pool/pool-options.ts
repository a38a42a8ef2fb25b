/**
 * The pool's settings: the connection interface it relies on, its options and their defaults, and
 * the one place they are checked (InvalidArgumentError naming the field).
 */
import {
  assertKnownNestedKeys,
  assertObject,
  checkFunction,
  checkPoolKeys,
  duration,
  positiveInteger,
} from '../options.js';
import type { AuthMethod, Credentials } from '../protocol/auth.js';
import { SmtpConnection } from '../transport/connection.js';
import type { PoolConnectionParams } from './pool-key.js';

/** The part of `SmtpConnection` the pool uses, so tests can give it fakes. */
export interface PoolableConnection {
  /** Broken or closed: never usable again. */
  readonly isBroken: boolean;
  /** Replies still awaited (a connection released from `onHandedOver` still waits for its final reply). */
  readonly pendingReplies: number;
  /** `Date.now()` at creation. */
  readonly createdAt: number;
  /** Messages the server accepted on this connection. */
  readonly messagesSent: number;
  connect(options?: { signal?: AbortSignal }): Promise<unknown>;
  login(credentials: Credentials, options?: { signal?: AbortSignal; method?: AuthMethod }): Promise<void>;
  noop(options?: { signal?: AbortSignal }): Promise<unknown>;
  /** Graceful; never throws. */
  close(): Promise<void>;
  destroy(err?: Error): void;
  /** Called when parked / checked out, so parked sockets never hold the process (optional for fakes). */
  unref?(): void;
  ref?(): void;
  /** `'close'` fires once when the connection becomes unusable. */
  on(event: 'close', listener: (err: unknown) => void): unknown;
  off(event: 'close', listener: (err: unknown) => void): unknown;
}

/**
 * Pool settings; every field is optional and validated by the constructor (InvalidArgumentError
 * naming the field). Durations are ms; Infinity turns idleTimeout, staleTimeout, acquireTimeout or
 * healthCheckAfter off.
 */
export interface SmtpConnectionPoolOptions<C extends PoolableConnection = SmtpConnection> {
  /** Connections per key, default 10. */
  maxConnections?: number;
  /** ms a connection may stay parked before the reaper closes it, default 300 000 (5 min). */
  idleTimeout?: number;
  /** Maximum age in ms; older connections are closed at release or checkout, default 3 600 000 (1 h). */
  staleTimeout?: number;
  /** Checkouts per connection before it is closed gracefully at release, default 100. */
  maxMessagesPerConnection?: number;
  /** ms a `getConnection` may wait for a free slot (and a rate-limit token), default 60 000. */
  acquireTimeout?: number;
  /** A connection parked longer than this (ms) gets a NOOP before reuse, default 30 000. */
  healthCheckAfter?: number;
  /** Token bucket per key: at most `messages` checkouts per `interval` ms (bursts up to `messages`). */
  rateLimit?: { messages: number; interval: number };
  /** Creates an unconnected connection; default `new SmtpConnection(...)`. For tests and instrumentation. */
  connectionFactory?: (params: PoolConnectionParams) => C;
}

/** Default connections per key (the reference's pool size). */
export const DEFAULT_MAX_CONNECTIONS = 10;
/** The reference's idle timeout: 300 s. */
export const DEFAULT_IDLE_TIMEOUT = 300_000;
/** The reference's stale timeout: 3600 s. */
export const DEFAULT_STALE_TIMEOUT = 3_600_000;
export const DEFAULT_MAX_MESSAGES_PER_CONNECTION = 100;
export const DEFAULT_ACQUIRE_TIMEOUT = 60_000;
/**
 * Servers drop idle sessions (RFC 5321 §4.5.3.2.7 lets them after 5 min; many do so far sooner), so a
 * connection parked this long is checked with a NOOP before it is trusted with a message.
 */
export const DEFAULT_HEALTH_CHECK_AFTER = 30_000;

/** The options with their defaults applied, every value checked. */
export interface ResolvedPoolOptions<C extends PoolableConnection> {
  maxConnections: number;
  idleTimeout: number;
  staleTimeout: number;
  maxMessages: number;
  acquireTimeout: number;
  healthCheckAfter: number;
  rateLimit: { messages: number; interval: number } | null;
  factory: (params: PoolConnectionParams) => C;
}

/** @throws InvalidArgumentError naming the field (`maxConnections`, `idleTimeout`, `rateLimit.messages` …). */
export function resolvePoolOptions<C extends PoolableConnection>(
  options: SmtpConnectionPoolOptions<C>,
): ResolvedPoolOptions<C> {
  assertObject(options, 'SmtpConnectionPool options');
  checkPoolKeys(options);
  const maxConnections = positiveInteger(options.maxConnections, DEFAULT_MAX_CONNECTIONS, 'maxConnections');
  const idleTimeout = duration(options.idleTimeout, DEFAULT_IDLE_TIMEOUT, 'idleTimeout');
  const staleTimeout = duration(options.staleTimeout, DEFAULT_STALE_TIMEOUT, 'staleTimeout');
  const maxMessages =
    options.maxMessagesPerConnection === Infinity
      ? Infinity
      : positiveInteger(
          options.maxMessagesPerConnection,
          DEFAULT_MAX_MESSAGES_PER_CONNECTION,
          'maxMessagesPerConnection',
        );
  const acquireTimeout = duration(options.acquireTimeout, DEFAULT_ACQUIRE_TIMEOUT, 'acquireTimeout');
  const healthCheckAfter = duration(options.healthCheckAfter, DEFAULT_HEALTH_CHECK_AFTER, 'healthCheckAfter', {
    zeroOk: true,
  });
  let rateLimit: { messages: number; interval: number } | null = null;
  if (options.rateLimit !== undefined) {
    const rl = options.rateLimit;
    assertObject(rl, 'rateLimit');
    assertKnownNestedKeys(rl, ['messages', 'interval'], 'rateLimit');
    const messages = positiveInteger(rl.messages, undefined, 'rateLimit.messages');
    const interval = duration(rl.interval, Number.NaN, 'rateLimit.interval', { infinityOk: false });
    rateLimit = { messages, interval };
  }
  checkFunction(options.connectionFactory, 'connectionFactory');
  const factory = options.connectionFactory ?? (defaultFactory as unknown as (params: PoolConnectionParams) => C);
  return {
    maxConnections,
    idleTimeout,
    staleTimeout,
    maxMessages,
    acquireTimeout,
    healthCheckAfter,
    rateLimit,
    factory,
  };
}

function defaultFactory(params: PoolConnectionParams): SmtpConnection {
  return new SmtpConnection({
    ...params.connection,
    host: params.host,
    port: params.port!,
    encryption: params.encryption ?? 'tls',
    ...(params.protocol === undefined ? {} : { protocol: params.protocol }),
  });
}
