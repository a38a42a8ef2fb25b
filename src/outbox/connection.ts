/**
 * The `connection` option both outbox classes take, turned into the Redis client BullMQ runs on and the
 * client the hand-over store runs its scripts on. smtpwire has no Redis client of its own: connection
 * options and `redis://` URLs open an ioredis client (ioredis is an optional peer, loaded with `import()`
 * on first use); an ioredis `Redis` or `Cluster` instance, or a node-redis client, Sentinel or Cluster, is
 * the caller's (node-redis ones through src/outbox/node-redis.ts). `connectionFor` turns `outbox-worker`'s
 * flags into a connection on either driver. A PostgreSQL connection is postgres/connection.ts's: BullMQ's
 * PostgreSQL backend and a hand-over table.
 */
import { InvalidArgumentError } from '../errors.js';
import type { ClaimCommand } from './claim-replicas.js';
import {
  clientView,
  closeNodeRedis,
  type NodeRedisLike,
  nodeRedisCommand,
  nodeRedisKind,
  workerDuplicate,
} from './node-redis.js';
import { optionalPeer } from './peer.js';
import { checkPostgresConnection, isPostgresConnection, openPostgres } from './postgres/connection.js';
import { type HandOverStorage, HandOverStore, type StoreClient } from './store.js';

/**
 * ioredis options (`host`, `port`, `password`, `tls`, `sentinels` + `name`, …), `{ cluster: [nodes], …
 * ClusterOptions }` for a Redis Cluster, a `redis://` / `rediss://` URL, or a client instance: ioredis
 * `Redis` / `Cluster`, node-redis `createClient()` / `createSentinel()` / `createCluster()`. Or PostgreSQL
 * (postgres/connection.ts): a `postgres://` URL or `{ postgres: URL | pool options }`.
 */
export type OutboxConnection = string | Record<string, unknown> | object;

/** Default BullMQ key prefix. */
export const DEFAULT_PREFIX = 'bull';
/** Default queue name. */
export const DEFAULT_QUEUE_NAME = 'smtpwire-outbox';

/** What to give BullMQ as `connection`, the hand-over store's client, and how to close what this module opened. */
export interface OpenedConnection {
  bullmq: object;
  /** BullMQ's backend factory for the Queue / Worker / QueueEvents (PostgreSQL's); absent: BullMQ's default, Redis. */
  backend?: unknown;
  /** The Redis client of the hand-over store (its `status` says whether Redis is reachable); null on PostgreSQL. */
  store: StoreClient | null;
  /** The hand-over records of a queue opened on this connection (BullMQ's Queue or Worker). */
  handOver(queue: { name: string; toKey(type: string): string }): HandOverStorage;
  close: () => Promise<void>;
  /**
   * A command on the connection the claim of `key` is written on (on a Cluster, the one to the primary serving
   * its slot), for `claimReplicas` (claim-replicas.ts). Redis only.
   */
  command?: ClaimCommand;
}

/** The Redis drivers: ioredis (BullMQ's own, the default) and node-redis (the `redis` package). */
export const DRIVERS = ['ioredis', 'node-redis'] as const;
export type Driver = (typeof DRIVERS)[number];

/** The part of the ioredis module used here (ioredis is an optional peer; its types are not a dependency). */
interface IoredisModule {
  new (...args: unknown[]): IoredisLike;
  Cluster: new (...args: unknown[]) => IoredisLike;
}

interface IoredisLike {
  options: Record<string, unknown> & { redisOptions?: Record<string, unknown> };
  isCluster?: boolean;
  status: string;
  /** Redis.duplicate(opts) and Cluster.duplicate(nodes, opts). */
  duplicate(...args: unknown[]): IoredisLike;
  quit(): Promise<unknown>;
  disconnect(): void;
  call(command: string, ...args: unknown[]): Promise<unknown>;
}

/** Loads ioredis on first use (an optional peer: `import 'smtpwire'` never reaches this). */
export const loadIoredis = optionalPeer<IoredisModule>('ioredis', 'Redis options and URLs need the ioredis package');

/** The part of the `redis` package used here (an optional peer; its types are not a dependency). */
interface NodeRedisModule {
  createClient(options: object): NodeRedisLike;
  createSentinel(options: object): NodeRedisLike;
  createCluster(options: object): NodeRedisLike;
}

/** Loads node-redis on first use (an optional peer, like ioredis): its named exports. */
const loadNodeRedis = optionalPeer<NodeRedisModule>(
  'redis',
  'the node-redis driver needs the redis package',
  (mod) => mod,
);

/** Where Redis is, as `outbox-worker`'s flags say it: one node (a URL), the primary Sentinel names, or a Cluster. */
export type RedisTarget = { password?: string } & (
  | { url: string }
  | { sentinels: { host: string; port: number }[]; name: string }
  | { cluster: { host: string; port: number }[] }
);

/**
 * The `connection` for a target on a driver, and how to close what this opened. ioredis: options or a URL,
 * which the outbox opens and closes itself. node-redis: a `createClient()`, `createSentinel()` or
 * `createCluster()` instance, not connected yet (the outbox connects what it runs on), closed by `close`.
 * The password (from the environment) goes to the data nodes, as ioredis's `password` does.
 * @throws InvalidArgumentError when the driver's package is missing.
 */
export async function connectionFor(
  driver: Driver,
  target: RedisTarget,
): Promise<{ connection: OutboxConnection; close: () => Promise<void> }> {
  const { password } = target;
  const auth = password === undefined ? {} : { password };
  if (driver === 'ioredis') {
    await loadIoredis();
    if ('url' in target) return { connection: withPassword(target.url, password), close: noop };
    if ('sentinels' in target)
      return { connection: { sentinels: target.sentinels, name: target.name, ...auth }, close: noop };
    return { connection: { cluster: target.cluster, redisOptions: auth }, close: noop };
  }
  const redis = await loadNodeRedis();
  let client: NodeRedisLike;
  if ('url' in target) client = redis.createClient({ url: withPassword(target.url, password) });
  else if ('sentinels' in target)
    client = redis.createSentinel({
      name: target.name,
      sentinelRootNodes: target.sentinels,
      ...(password === undefined ? {} : { nodeClientOptions: auth }),
    });
  else
    client = redis.createCluster({
      rootNodes: target.cluster.map(({ host, port }) => ({ socket: { host, port } })),
      ...(password === undefined ? {} : { defaults: auth }),
    });
  // BullMQ reports connection errors through its own events; an `error` without a listener would throw.
  client.on('error', () => {});
  return { connection: client, close: () => closeNodeRedis(client) };
}

/** The URL with `password` in it (both drivers decode it), everything else kept: user, database, query options. */
function withPassword(url: string, password: string | undefined): string {
  if (password === undefined) return url;
  const parsed = new URL(url);
  // The setter leaves `%` as it is: encoded first, the driver's decoding gives the password back exactly.
  parsed.password = encodeURIComponent(password);
  return parsed.href;
}

/** Which driver a client instance is, or null for plain options. Structural, like BullMQ's own detection. */
export function driverOf(connection: object): Driver | null {
  const c = connection as Record<string, unknown>;
  if (typeof c.defineCommand === 'function' && typeof c.duplicate === 'function') return 'ioredis';
  if (typeof c.sendCommand === 'function' && ('isOpen' in c || 'isReady' in c)) {
    // A client pool (createClientPool) has no duplicate(): BullMQ would take it for connection options and open
    // a Redis of its own at 127.0.0.1:6379, and a claim's WAIT could go out on another pooled connection.
    if (typeof c.duplicate !== 'function')
      throw new InvalidArgumentError(
        'connection: a node-redis client pool is not supported; pass createClient(), createSentinel() or createCluster()',
        { field: 'connection' },
      );
    return 'node-redis';
  }
  if (typeof c.duplicate === 'function')
    throw new InvalidArgumentError('connection: a client instance must be ioredis (Redis, Cluster) or node-redis', {
      field: 'connection',
    });
  return null;
}

/**
 * What to give BullMQ's own classes (`Queue`, `QueueEvents`, `FlowProducer`, Bull Board's `BullMQAdapter`'s
 * queue) to reach the outbox's queue from your own connection: a node-redis Sentinel or Cluster as the client
 * view the outbox itself runs on (BullMQ 6.7 alone does not take them: it mistakes a Sentinel for options and
 * waits forever for a Cluster's `ready`); any other connection as it is.
 */
export function bullmqConnection<T extends object>(connection: T): T {
  return driverOf(connection) === 'node-redis'
    ? (clientView(connection as unknown as NodeRedisLike) as unknown as T)
    : connection;
}

/**
 * Checks the option's shape at construction (no I/O): a URL, an options object or a known client.
 * @throws InvalidArgumentError naming `connection`.
 */
export function checkConnection(connection: OutboxConnection | undefined): void {
  if (connection === undefined || connection === null)
    throw new InvalidArgumentError('connection is required: Redis options, a redis:// URL or a client', {
      field: 'connection',
    });
  if (isPostgresConnection(connection)) {
    checkPostgresConnection(connection);
    return;
  }
  if (typeof connection === 'string') {
    if (!/^rediss?:\/\//.test(connection))
      throw new InvalidArgumentError('connection: a URL must start with redis://, rediss:// or postgres://', {
        field: 'connection',
      });
    return;
  }
  if (typeof connection !== 'object')
    throw new InvalidArgumentError('connection must be Redis options, a redis:// URL or a client', {
      field: 'connection',
    });
  if (driverOf(connection) === null && 'keyPrefix' in connection)
    throw new InvalidArgumentError('connection: keyPrefix is not supported by BullMQ; use the prefix option', {
      field: 'connection.keyPrefix',
    });
}

/**
 * BullMQ refuses (throws) a blocking connection whose commands give up after a number of reconnections
 * (ioredis's default `maxRetriesPerRequest: 20`): a worker must wait for Redis, not fail its jobs.
 */
function retriesBounded(client: IoredisLike): boolean {
  const opts = client.isCluster ? client.options.redisOptions : client.options;
  return opts?.maxRetriesPerRequest !== null;
}

/**
 * Opens the connection. `blocking`: for a Worker or QueueEvents, which BullMQ requires to have
 * `maxRetriesPerRequest: null`. Options and URLs get it set; a caller's ioredis instance without it is
 * duplicated with it (the duplicate is closed here, the caller's instance is left as it is). `signal`: stops a
 * PostgreSQL open still waiting for its server.
 * @throws InvalidArgumentError when ioredis is needed and missing.
 */
export async function openConnection(
  connection: OutboxConnection,
  { blocking, signal }: { blocking: boolean; signal?: AbortSignal },
): Promise<OpenedConnection> {
  if (isPostgresConnection(connection)) return openPostgres(connection as Parameters<typeof openPostgres>[0], signal);
  const bullmq = await import('bullmq');
  if (typeof connection === 'object' && connection !== null) {
    const driver = driverOf(connection);
    if (driver === 'node-redis') return nodeRedisConnection(connection as NodeRedisLike, blocking, bullmq);
    if (driver === 'ioredis') {
      const given = connection as IoredisLike;
      if (!(blocking && retriesBounded(given)))
        return {
          bullmq: given,
          ...redisStore(bullmq.createIORedisClient(given as never) as never),
          close: noop,
          command: ioredisCommand(given),
        };
      const own = given.isCluster
        ? given.duplicate(undefined, {
            redisOptions: { ...given.options.redisOptions, maxRetriesPerRequest: null },
          })
        : given.duplicate({ maxRetriesPerRequest: null });
      return {
        bullmq: own,
        ...redisStore(bullmq.createIORedisClient(own as never) as never),
        close: () => quit(own),
        command: ioredisCommand(own),
      };
    }
  }
  const Redis = await loadIoredis();
  let client: IoredisLike;
  if (typeof connection === 'string') client = new Redis(connection, { maxRetriesPerRequest: null });
  else {
    const { cluster, ...options } = connection as { cluster?: unknown } & Record<string, unknown>;
    if (cluster !== undefined) {
      if (!Array.isArray(cluster))
        throw new InvalidArgumentError('connection.cluster must be a list of { host, port } nodes', {
          field: 'connection.cluster',
        });
      const redisOptions = { ...(options.redisOptions as object | undefined), maxRetriesPerRequest: null };
      client = new Redis.Cluster(cluster, { ...options, redisOptions });
    } else client = new Redis({ ...options, maxRetriesPerRequest: null });
  }
  // BullMQ reports connection errors through its own events; without a listener ioredis would also print them.
  (client as unknown as { on(event: string, listener: () => void): void }).on('error', () => {});
  return {
    bullmq: client,
    ...redisStore(bullmq.createIORedisClient(client as never) as never),
    close: () => quit(client),
    command: ioredisCommand(client),
  };
}

async function noop(): Promise<void> {}

/** The hand-over records in Redis, under the queue's key (`<prefix>:<queue>:smtpwire`). */
function redisStore(store: StoreClient): Pick<OpenedConnection, 'store' | 'handOver'> {
  return { store, handOver: (queue) => new HandOverStore(store, queue.toKey('smtpwire')) };
}

/**
 * A node-redis client, Sentinel or Cluster: the producer runs on the caller's instance; a worker on its own
 * duplicate (see workerDuplicate), closed here. BullMQ gets the instance as a client (clientView) and adapts it.
 */
function nodeRedisConnection(
  given: NodeRedisLike,
  blocking: boolean,
  bullmq: typeof import('bullmq'),
): OpenedConnection {
  const kind = nodeRedisKind(given);
  const own = blocking ? workerDuplicate(given, kind) : null;
  const client = own ?? given;
  const view = clientView(client, kind);
  const store = bullmq.createNodeRedisClient(view as never) as unknown as StoreClient & {
    on(event: string, listener: () => void): void;
  };
  // The store's adapter re-emits the client's errors; BullMQ reports them through its own events.
  store.on('error', () => {});
  return {
    bullmq: view,
    ...redisStore(store),
    close: own ? () => closeNodeRedis(own) : noop,
    command: nodeRedisCommand(client, kind),
  };
}

/**
 * A command on an ioredis `Redis`, or on a `Cluster`'s connection to the primary for the key's slot (WAIT has no
 * key: sent through the Cluster it would reach any node). A slot whose primary is not known: it fails (the claim
 * is then refused).
 */
function ioredisCommand(client: IoredisLike): ClaimCommand {
  if (!client.isCluster) return (_key, [name, ...rest]) => client.call(name!, ...rest);
  const cluster = client as IoredisLike & {
    slots: string[][];
    nodes(role: 'master'): (IoredisLike & { options: { host?: string; port?: number } })[];
  };
  return async (key, [name, ...rest]) => {
    const owner = cluster.slots[keySlot(key)]?.[0];
    const node = cluster.nodes('master').find((r) => `${r.options.host}:${r.options.port}` === owner);
    if (!node) throw new Error(`no known primary serves the slot of ${key}`);
    return node.call(name!, ...rest);
  };
}

/** The Redis Cluster slot of a key: CRC16 (XMODEM) of its `{hash tag}` (or of the whole key), modulo 16384. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  const hashed = Buffer.from(close > open + 1 ? key.slice(open + 1, close) : key);
  let crc = 0;
  for (const byte of hashed) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

/** QUIT, or a plain disconnect when the client never connected or Redis is gone. */
async function quit(client: IoredisLike): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready' && client.status !== 'connect') {
    client.disconnect();
    return;
  }
  await client.quit().catch(() => client.disconnect());
}
