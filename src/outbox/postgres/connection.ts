/**
 * The outbox on PostgreSQL: BullMQ's PostgreSQL backend for the queue, and the hand-over records in a table
 * beside it (store.ts). `pg` is an optional peer, loaded with `import()` on first use.
 *
 * The pool is built here, not by BullMQ: BullMQ's ESM build cannot load `pg` from a config object (it uses
 * `require`), and a pool of our own carries `synchronous_commit = on` for every statement (a claim's reply
 * then means it is on disk) and the queue's `search_path`. BullMQ uses such a pool as given: its schema
 * migrations run here before BullMQ reads them.
 */
import { InvalidArgumentError } from '../../errors.js';
import { optionalPeer } from '../peer.js';
import type { HandOverStorage } from '../store.js';
import { HANDOVER_TABLE, PgHandOverStore, type PgQueryable } from './store.js';

/** `{ postgres: URL | node-postgres PoolConfig }`, or a `postgres://` / `postgresql://` URL. */
export interface PostgresConnectionOption {
  postgres: string | Record<string, unknown>;
}

const POSTGRES_URL = /^postgres(ql)?:\/\//;
/** How long opening a connection waits for the server, unless the config says otherwise. */
const CONNECT_TIMEOUT_MS = 10_000;

/** True when `connection` selects PostgreSQL (this module owns the rule). */
export function isPostgresConnection(connection: unknown): boolean {
  if (typeof connection === 'string') return POSTGRES_URL.test(connection);
  return typeof connection === 'object' && connection !== null && 'postgres' in connection;
}

/** Shape check at construction, no I/O. @throws InvalidArgumentError naming `connection.postgres`. */
export function checkPostgresConnection(connection: string | object): void {
  if (typeof connection === 'string') return;
  const keys = Object.keys(connection);
  if (keys.length !== 1)
    throw new InvalidArgumentError('connection: { postgres } takes no other key', { field: 'connection' });
  const pg = (connection as PostgresConnectionOption).postgres;
  if (typeof pg === 'string' ? !POSTGRES_URL.test(pg) : typeof pg !== 'object' || pg === null)
    throw new InvalidArgumentError('connection.postgres must be a postgres:// URL or node-postgres pool options', {
      field: 'connection.postgres',
    });
  if (typeof pg === 'object' && typeof (pg as { query?: unknown }).query === 'function')
    throw new InvalidArgumentError('connection.postgres: give pool options or a URL, not a pg.Pool', {
      field: 'connection.postgres',
    });
  // BullMQ reads its migration ledger in its default schema for a pool it did not build (this module builds them).
  if (typeof pg === 'object' && 'schema' in pg)
    throw new InvalidArgumentError('connection.postgres.schema is not supported: the queue lives in schema bullmq', {
      field: 'connection.postgres.schema',
    });
}

interface PgPool extends PgQueryable {
  connect(): Promise<PgQueryable & { release(err?: unknown): void }>;
  end(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

const loadPg = optionalPeer<{ Pool: new (config: Record<string, unknown>) => PgPool }>(
  'pg',
  'PostgreSQL needs the pg package',
);

/** What connection.ts's OpenedConnection takes from here (declared here: connection.ts imports this module). */
export interface PostgresOpened {
  bullmq: object;
  backend: unknown;
  store: null;
  handOver(queue: { name: string }): HandOverStorage;
  close(): Promise<void>;
}

/** Error codes of a server that is not there (yet): refused, reset, starting up, shutting down. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
]);
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 2000;

function unreachable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (typeof e?.code === 'string' && UNREACHABLE.has(e.code)) return true;
  // pg's own wording for a socket closed under a query and for connectionTimeoutMillis.
  return (
    typeof e?.message === 'string' && /Connection terminated|timeout exceeded when trying to connect/.test(e.message)
  );
}

function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** BullMQ's migrations, then the hand-over table under BullMQ's migration lock (no race on CREATE IF NOT EXISTS). */
async function prepare(
  pool: PgPool,
  schema: string,
  table: string,
  bullmq: Pick<typeof import('bullmq'), 'runMigrations' | 'MIGRATION_ADVISORY_LOCK_KEY'>,
): Promise<void> {
  const client = await pool.connect();
  try {
    await bullmq.runMigrations(client as never, schema);
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [bullmq.MIGRATION_ADVISORY_LOCK_KEY, schema]);
    await client.query(PgHandOverStore.createSql(table));
    await client.query('COMMIT');
    client.release();
  } catch (err) {
    // A client that failed mid-transaction is destroyed, not returned to the pool.
    client.release(err);
    throw err;
  }
}

/**
 * Opens a pool (with its schema migrated and the hand-over table created) for one Queue, Worker or QueueEvents.
 * While the server is unreachable it keeps trying (100 ms doubling to 2 s) until `signal` aborts.
 * @throws InvalidArgumentError when pg is missing; the server's error (authentication, permissions, …).
 */
export async function openPostgres(
  connection: string | PostgresConnectionOption,
  signal?: AbortSignal,
): Promise<PostgresOpened> {
  const given = typeof connection === 'string' ? connection : connection.postgres;
  const config: Record<string, unknown> = typeof given === 'string' ? { connectionString: given } : given;
  const [bullmq, pg] = await Promise.all([import('bullmq'), loadPg()]);
  // BullMQ's default schema: the queue's tables and the hand-over table live in it.
  const schema = bullmq.DEFAULT_SCHEMA;
  const quoted = bullmq.quoteSchemaName(schema);
  const options = `-c search_path=${quoted} -c synchronous_commit=on`;
  const pool = new pg.Pool({
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // BullMQ's LISTEN client is taken from this pool: keepalive lets a silently dropped one be noticed.
    keepAlive: true,
    ...config,
    options: typeof config.options === 'string' ? `${config.options} ${options}` : options,
  });
  // An idle client's error (the server restarted) is also the next query's; unheard, it would crash the process.
  pool.on('error', () => {});
  const table = `${quoted}.${HANDOVER_TABLE}`;
  try {
    // Like ioredis for Redis, wait for a server that is down or starting (a worker started during a restart).
    for (let delay = RETRY_FIRST_MS; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      try {
        await prepare(pool, schema, table, bullmq);
        break;
      } catch (err) {
        if (!unreachable(err) || signal?.aborted) throw err;
        await abortableSleep(delay, signal);
      }
    }
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
  return {
    bullmq: pool,
    backend: bullmq.createPostgresBackend,
    store: null,
    handOver: (queue) => new PgHandOverStore(pool, table, queue.name),
    close: () => pool.end().catch(() => {}),
  };
}
