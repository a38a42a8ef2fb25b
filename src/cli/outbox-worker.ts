/**
 * `smtpwire outbox-worker --redis URL [--queue NAME] … host[:port]`: runs one SmtpOutboxWorker process
 * until SIGTERM or SIGINT, then closes it gracefully (jobs in flight finish; a second signal exits at once),
 * printing a progress line every interval. Loads bullmq (and ioredis) only when run: they are optional peer
 * dependencies, and every other command works without them.
 */
import diagnostics from 'node:diagnostics_channel';
import { parseArgs } from 'node:util';
// Neither loads bullmq or a Redis driver (connection.ts imports them on first use).
import { connectionFor, DRIVERS, type Driver, type RedisTarget } from '../outbox/connection.js';
import { OUTBOX_JOB_CHANNEL } from '../outbox/diagnostics.js';
import { isPostgresConnection } from '../outbox/postgres/connection.js';
import { escapeTerminalText } from './api.js';
import {
  type CliIo,
  CONNECTION_OPTIONS,
  ENCRYPTION_USAGE,
  EXIT_FAILURE,
  EXIT_OK,
  encryptionFlag,
  parseTarget,
  positiveInt,
  readPassword,
  tlsFlags,
  UsageError,
} from './common.js';

/** `smtpwire outbox-worker --help`. */
export const OUTBOX_WORKER_USAGE = `usage: smtpwire outbox-worker [--redis redis://127.0.0.1:6379 | --sentinels H:P,… --sentinel-name NAME
                    | --cluster H:P,… | --postgres postgres://…] [--redis-pass-env VAR]
                    [--driver ioredis|node-redis] [--queue smtpwire-outbox]
                    [--concurrency 10] [--limit MAX/MS] [--from ADDRESS] [--pool N]
                    [--lock-duration MS] [--stalled-interval MS] [--attachment-root DIR]
                    [--claim-replicas N] [--progress MS] [--json]
                    ${ENCRYPTION_USAGE} [--ca FILE] [--insecure] [--user U --pass-env VAR] host[:port]
  Sends the jobs of an SmtpOutbox queue (smtpwire/outbox, needs the bullmq package and the driver's: ioredis,
  or redis for --driver node-redis) through host[:port] until SIGTERM, then finishes the jobs in flight.
  Redis: one node (--redis), the primary that Sentinel names (--sentinels, --sentinel-name), or a Cluster
  (--cluster; give the queue a {hash tag}). --postgres: the queue on PostgreSQL (BullMQ's backend, needs
  the pg package; password from PGPASSWORD).
  --limit 100/1000: at most 100 messages per second across every worker of the queue. Attachments given
  by path in job data are read only under --attachment-root (job data is untrusted). --claim-replicas 1:
  each hand-over claim waits for a replica before the final dot. Every --progress ms
  (default 10000, 0: never) a line: this process's delivered/failed/unknown/retry, its rate, the queue's
  depth; --json prints it as one JSON object. Default: STARTTLS required (port 587).`;

/** host:port,host:port → [{ host, port }], each read as a server argument is (parseTarget). @throws UsageError. */
function nodeList(flag: string, value: string): { host: string; port: number }[] {
  return value.split(',').map((item) => {
    const { host, port } = parseTarget(item);
    if (port === undefined) throw new UsageError(`--${flag} takes host:port,host:port, not ${JSON.stringify(item)}`);
    return { host, port };
  });
}

/** The URL as a log line may show it: its password masked. */
function withoutPassword(url: URL): string {
  const shown = new URL(url);
  shown.password = shown.password ? '****' : '';
  return shown.href;
}

/** Runs until a signal; resolves with exit code 0. @throws UsageError. */
export async function outboxWorkerCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...CONNECTION_OPTIONS,
      redis: { type: 'string' },
      postgres: { type: 'string' },
      sentinels: { type: 'string' },
      'sentinel-name': { type: 'string' },
      cluster: { type: 'string' },
      'redis-pass-env': { type: 'string' },
      driver: { type: 'string' },
      progress: { type: 'string' },
      'claim-replicas': { type: 'string' },
      json: { type: 'boolean' },
      queue: { type: 'string' },
      concurrency: { type: 'string' },
      limit: { type: 'string' },
      from: { type: 'string' },
      pool: { type: 'string' },
      'lock-duration': { type: 'string' },
      'stalled-interval': { type: 'string' },
      'attachment-root': { type: 'string' },
      chunking: { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('outbox-worker takes exactly one server: host[:port]');
  const target = parseTarget(positionals[0]);
  let limiter: { max: number; duration: number } | undefined;
  if (values.limit !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(values.limit);
    if (!m) throw new UsageError(`--limit must be MAX/MS, e.g. 100/1000, not ${JSON.stringify(values.limit)}`);
    limiter = { max: positiveInt('limit', m[1], 1), duration: positiveInt('limit', m[2], 1) };
  }
  const concurrency = positiveInt('concurrency', values.concurrency, 10);
  const optionalInt = (name: 'lock-duration' | 'stalled-interval'): number | undefined =>
    values[name] === undefined ? undefined : positiveInt(name, values[name], 1);
  const lockDuration = optionalInt('lock-duration');
  const stalledInterval = optionalInt('stalled-interval');
  const password = await readPassword(io, values.user, values['pass-env']);
  const topologies = [values.redis, values.sentinels, values.cluster, values.postgres].filter(
    (v) => v !== undefined,
  ).length;
  if (topologies > 1) throw new UsageError('give one of --redis, --sentinels, --cluster, --postgres');
  if ((values.sentinels === undefined) !== (values['sentinel-name'] === undefined))
    throw new UsageError('--sentinels and --sentinel-name go together');
  const redisPassEnv = values['redis-pass-env'];
  const redisPassword = redisPassEnv === undefined ? undefined : io.env[redisPassEnv];
  if (redisPassEnv !== undefined && !redisPassword)
    throw new UsageError(`--redis-pass-env: ${redisPassEnv} is not set`);
  const driver = (values.driver ?? 'ioredis') as Driver;
  if (!DRIVERS.includes(driver))
    throw new UsageError(`--driver is ${DRIVERS.join(' or ')}, not ${JSON.stringify(values.driver)}`);
  const auth = redisPassword === undefined ? {} : { password: redisPassword };
  // Redis (on `driver`), or a PostgreSQL URL.
  let store: RedisTarget | { postgres: string };
  let where: string;
  if (values.postgres !== undefined) {
    if (values.driver !== undefined) throw new UsageError('--driver chooses a Redis driver: not with --postgres');
    if (redisPassEnv !== undefined)
      throw new UsageError("--redis-pass-env is Redis's: PostgreSQL's password comes from PGPASSWORD");
    if (!isPostgresConnection(values.postgres) || !URL.canParse(values.postgres))
      throw new UsageError(`--postgres must be a postgres:// URL, not ${JSON.stringify(values.postgres)}`);
    store = { postgres: values.postgres };
    where = withoutPassword(new URL(values.postgres));
  } else if (values.sentinels !== undefined) {
    store = { sentinels: nodeList('sentinels', values.sentinels), name: values['sentinel-name']!, ...auth };
    where = `Sentinel ${values['sentinel-name']} via ${values.sentinels}`;
  } else if (values.cluster !== undefined) {
    store = { cluster: nodeList('cluster', values.cluster), ...auth };
    where = `Cluster ${values.cluster}`;
  } else {
    const url = values.redis ?? 'redis://127.0.0.1:6379';
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`--redis must be a redis:// URL, not ${JSON.stringify(url)}`);
    }
    if (!/^rediss?:$/.test(parsed.protocol))
      throw new UsageError(`--redis must be a redis:// or rediss:// URL, not ${JSON.stringify(url)}`);
    store = { url, ...auth };
    where = withoutPassword(parsed);
  }
  if (!('postgres' in store)) where += ` (${driver})`;
  const progressMs = values.progress === '0' ? 0 : positiveInt('progress', values.progress, 10_000);
  const tls = tlsFlags(values);
  let outbox: typeof import('../outbox/index.js');
  try {
    outbox = await import('../outbox/index.js');
  } catch (err) {
    throw new UsageError(`the outbox needs the bullmq package (npm install bullmq): ${(err as Error).message}`);
  }
  const opened =
    'postgres' in store ? { connection: store.postgres, close: async () => {} } : await connectionFor(driver, store);
  const worker = new outbox.SmtpOutboxWorker({
    connection: opened.connection,
    ...(values.queue === undefined ? {} : { queueName: values.queue }),
    concurrency,
    ...(limiter ? { limiter } : {}),
    ...(lockDuration ? { lockDuration } : {}),
    ...(stalledInterval ? { stalledInterval } : {}),
    ...(values['attachment-root'] === undefined ? {} : { attachmentRoot: values['attachment-root'] }),
    ...(values['claim-replicas'] === undefined || values['claim-replicas'] === '0'
      ? {}
      : { claimReplicas: positiveInt('claim-replicas', values['claim-replicas'], 0) }),
    handler: {
      hostname: target.host,
      encryption: encryptionFlag(values) ?? 'tls',
      ...(target.port === undefined ? {} : { port: target.port }),
      ...(tls === undefined ? {} : { tls }),
      ...(values.user === undefined ? {} : { username: values.user }),
      ...(password === undefined ? {} : { password }),
      ...(values.from === undefined ? {} : { fromAddress: values.from }),
      ...(values.pool === undefined ? {} : { poolSize: positiveInt('pool', values.pool, 1) }),
      ...(values.chunking ? { chunking: true } : {}),
    },
  });
  // The server's error text is server-derived: through the one terminal escaper.
  const storeName = 'postgres' in store ? 'postgres' : 'redis';
  worker.on('error', (err: Error) =>
    io.stderr.write(`smtpwire outbox-worker: ${storeName}: ${escapeTerminalText(err.message)}\n`),
  );
  await worker.waitUntilReady();
  io.stdout.write(`smtpwire outbox-worker ready: queue ${worker.queueName} on ${where}, pid ${process.pid}\n`);
  const stopProgress = progressMs > 0 ? startProgress(worker, io, progressMs, values.json === true) : () => {};
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  // A second signal does not wait for the jobs in flight (BullMQ re-runs them after lockDuration).
  const force = (): never => process.exit(EXIT_FAILURE);
  process.once('SIGTERM', force);
  process.once('SIGINT', force);
  // Before close: a tick after it would count on a queue connection opened anew and never closed.
  stopProgress();
  await worker.close();
  await opened.close();
  process.off('SIGTERM', force);
  process.off('SIGINT', force);
  io.stdout.write('smtpwire outbox-worker closed\n');
  return EXIT_OK;
}

/** Counts this process's job attempts from the outbox channel and prints a line every `everyMs`. */
function startProgress(
  worker: { counts(): Promise<Record<string, number>> },
  io: CliIo,
  everyMs: number,
  json: boolean,
): () => void {
  const total = { delivered: 0, failed: 0, unknown: 0, retry: 0 };
  let last = { ...total, at: performance.now() };
  const onJob = (message: unknown): void => {
    const outcome = (message as { outcome: keyof typeof total }).outcome;
    if (outcome in total) total[outcome]++;
  };
  diagnostics.subscribe(OUTBOX_JOB_CHANNEL, onJob);
  let stopped = false;
  const timer = setInterval(async () => {
    const now = performance.now();
    const ended = (t: typeof total) => t.delivered + t.failed + t.unknown + t.retry;
    const rate = ((ended(total) - ended(last)) * 1000) / (now - last.at);
    last = { ...total, at: now };
    const counts = await worker.counts().catch(() => null);
    const depth = counts === null ? null : (counts.waiting ?? 0) + (counts.prioritized ?? 0) + (counts.delayed ?? 0);
    const active = counts?.active ?? null;
    // Stopped while the counts were on their way: no line after the worker's last.
    if (stopped) return;
    const line = json
      ? JSON.stringify({ ...total, rate: Math.round(rate * 10) / 10, queued: depth, active })
      : `progress: delivered ${total.delivered}, failed ${total.failed}, unknown ${total.unknown}, retry ${total.retry}, ` +
        `${rate.toFixed(1)} jobs/s; queue: ${depth ?? '?'} waiting, ${active ?? '?'} active`;
    io.stdout.write(`${line}\n`);
  }, everyMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
    diagnostics.unsubscribe(OUTBOX_JOB_CHANNEL, onJob);
  };
}
