/**
 * The `connection` option both outbox classes take: Redis options (or a `redis://` URL), served by
 * smtpwire's own client, or a client instance BullMQ accepts (ioredis, node-redis), used as it is.
 */
import { InvalidArgumentError } from '../errors.js';
import { assertKnownKeys } from '../options.js';
import { parseRedisUrl, REDIS_OPTION_KEYS, type RedisConnectionOptions, RespRedisClient } from './redis-client.js';
import type { StoreClient } from './store.js';

/** Redis options, a `redis://` / `rediss://` URL, or a Redis client instance (ioredis, node-redis, …). */
export type OutboxConnection = RedisConnectionOptions | string | object;

/** Default BullMQ key prefix. */
export const DEFAULT_PREFIX = 'bull';
/** Default queue name. */
export const DEFAULT_QUEUE_NAME = 'smtpwire-outbox';

/** What to give BullMQ as `connection`, and how to close what this module created. */
export interface ResolvedConnection {
  bullmq: object;
  close: () => Promise<void>;
}

/**
 * @param lazy connect on first use. Default false: BullMQ uses the client itself as a Queue's or Worker's
 *   main connection, and a client already connecting makes it wait for Redis to come up, where a first
 *   `connect()` that fails would fail its initialisation for good.
 * @throws InvalidArgumentError for an unknown option key or a malformed URL.
 */
export function resolveConnection(connection: OutboxConnection | undefined, lazy = false): ResolvedConnection {
  if (connection === undefined || connection === null)
    throw new InvalidArgumentError('connection is required: Redis options, a redis:// URL or a client', {
      field: 'connection',
    });
  let options: RedisConnectionOptions;
  if (typeof connection === 'string') {
    try {
      options = parseRedisUrl(connection);
    } catch (err) {
      throw new InvalidArgumentError(`connection: ${(err as Error).message}`, { field: 'connection', cause: err });
    }
  } else if (typeof connection !== 'object') {
    throw new InvalidArgumentError('connection must be Redis options, a redis:// URL or a client', {
      field: 'connection',
    });
  } else if (typeof (connection as { duplicate?: unknown }).duplicate === 'function') {
    // A caller's driver instance (ioredis, node-redis): BullMQ wraps it; the caller closes it.
    return { bullmq: connection, close: async () => {} };
  } else {
    assertKnownKeys(connection, REDIS_OPTION_KEYS, 'connection');
    options = connection as RedisConnectionOptions;
  }
  const client = new RespRedisClient(options, { lazyConnect: lazy });
  return { bullmq: client, close: () => client.quit().then(() => {}) };
}

/** The IRedisClient BullMQ made of the connection (any driver), for the hand-over store. */
export function storeClientOf(queueOrWorker: { backend: unknown }): Promise<StoreClient> {
  return (queueOrWorker.backend as { client: Promise<StoreClient> }).client;
}
