/**
 * The `connection` option both outbox classes take, turned into the Redis client BullMQ runs on and the
 * client the hand-over store runs its scripts on. smtpwire has no Redis client of its own: connection
 * options and `redis://` URLs open an ioredis client (ioredis is an optional peer, loaded with `import()`
 * on first use); an ioredis `Redis` or `Cluster` instance, or a node-redis client, is used as given.
 */
import { InvalidArgumentError } from '../errors.js';
import type { StoreClient } from './store.js';

/**
 * ioredis options (`host`, `port`, `password`, `tls`, `sentinels` + `name`, …), `{ cluster: [nodes], …
 * ClusterOptions }` for a Redis Cluster, a `redis://` / `rediss://` URL, or a client instance: ioredis
 * `Redis` / `Cluster`, node-redis `createClient()`.
 */
export type OutboxConnection = string | Record<string, unknown> | object;

/** Default BullMQ key prefix. */
export const DEFAULT_PREFIX = 'bull';
/** Default queue name. */
export const DEFAULT_QUEUE_NAME = 'smtpwire-outbox';

/** What to give BullMQ as `connection`, the hand-over store's client, and how to close what this module opened. */
export interface OpenedConnection {
  bullmq: object;
  store: StoreClient;
  close: () => Promise<void>;
  /**
   * Redis `WAIT numreplicas timeout` on the connection that holds `key` (on a Cluster, the primary serving its
   * slot); absent for a node-redis client without a single node.
   */
  wait?: (replicas: number, timeoutMs: number, key: string) => Promise<number>;
}

type Driver = 'ioredis' | 'node-redis';

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

const INSTALL = 'npm install ioredis';

let ioredisModule: Promise<IoredisModule> | null = null;

/** Loads ioredis on first use (an optional peer: `import 'smtpwire'` never reaches this). */
export function loadIoredis(): Promise<IoredisModule> {
  ioredisModule ??= import('ioredis').then(
    (mod) => ((mod as { default?: unknown }).default ?? mod) as IoredisModule,
    (err: unknown) => {
      ioredisModule = null;
      throw new InvalidArgumentError(
        `connection: Redis options and URLs need the ioredis package (${INSTALL}), or pass a node-redis client as connection: ${(err as Error).message}`,
        { field: 'connection', cause: err },
      );
    },
  );
  return ioredisModule;
}

/** Which driver a client instance is, or null for plain options. Structural, like BullMQ's own detection. */
export function driverOf(connection: object): Driver | null {
  const c = connection as Record<string, unknown>;
  if (typeof c.defineCommand === 'function' && typeof c.duplicate === 'function') return 'ioredis';
  if (typeof c.sendCommand === 'function' && ('isOpen' in c || 'isReady' in c)) return 'node-redis';
  if (typeof c.duplicate === 'function')
    throw new InvalidArgumentError('connection: a client instance must be ioredis (Redis, Cluster) or node-redis', {
      field: 'connection',
    });
  return null;
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
  if (typeof connection === 'string') {
    if (!/^rediss?:\/\//.test(connection))
      throw new InvalidArgumentError('connection: a URL must start with redis:// or rediss://', {
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
 * duplicated with it (the duplicate is closed here, the caller's instance is left as it is).
 * @throws InvalidArgumentError when ioredis is needed and missing.
 */
export async function openConnection(
  connection: OutboxConnection,
  { blocking }: { blocking: boolean },
): Promise<OpenedConnection> {
  const bullmq = await import('bullmq');
  if (typeof connection === 'object' && connection !== null) {
    const driver = driverOf(connection);
    if (driver === 'node-redis') {
      // node-redis has no per-command retry limit; BullMQ adapts the client itself.
      const raw = connection as { sendCommand(args: string[]): Promise<unknown> };
      return {
        bullmq: connection,
        store: bullmq.createNodeRedisClient(connection as never) as never,
        close: noop,
        wait: async (n, ms) => Number(await raw.sendCommand(['WAIT', String(n), String(ms)])),
      };
    }
    if (driver === 'ioredis') {
      const given = connection as IoredisLike;
      if (!(blocking && retriesBounded(given)))
        return {
          bullmq: given,
          store: bullmq.createIORedisClient(given as never) as never,
          close: noop,
          ...waitOf(given),
        };
      const own = given.isCluster
        ? given.duplicate(undefined, {
            redisOptions: { ...given.options.redisOptions, maxRetriesPerRequest: null },
          })
        : given.duplicate({ maxRetriesPerRequest: null });
      return {
        bullmq: own,
        store: bullmq.createIORedisClient(own as never) as never,
        close: () => quit(own),
        ...waitOf(own),
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
    store: bullmq.createIORedisClient(client as never) as never,
    close: () => quit(client),
    ...waitOf(client),
  };
}

async function noop(): Promise<void> {}

/**
 * WAIT on an ioredis `Redis`, or on a `Cluster`'s primary for the key's slot (WAIT has no key: sent through the
 * Cluster it would reach any node). A slot whose primary is not known answers 0: the claim is then refused.
 */
function waitOf(client: IoredisLike): Pick<OpenedConnection, 'wait'> {
  if (!client.isCluster) return { wait: async (n, ms) => Number(await client.call('WAIT', n, ms)) };
  const cluster = client as IoredisLike & {
    slots: string[][];
    nodes(role: 'master'): (IoredisLike & { options: { host?: string; port?: number } })[];
  };
  return {
    wait: async (n, ms, key) => {
      const owner = cluster.slots[keySlot(key)]?.[0];
      const node = cluster.nodes('master').find((r) => `${r.options.host}:${r.options.port}` === owner);
      return node ? Number(await node.call('WAIT', n, ms)) : 0;
    },
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
