/**
 * `smtpwire outbox-worker --redis URL [--queue NAME] … host[:port]`: runs one SmtpOutboxWorker process
 * until SIGTERM or SIGINT, then closes it gracefully (jobs in flight finish; a second signal exits at once).
 * Loads bullmq only when run: it is an optional peer dependency, and every other command works without it.
 */
import { parseArgs } from 'node:util';
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
export const OUTBOX_WORKER_USAGE = `usage: smtpwire outbox-worker [--redis redis://127.0.0.1:6379] [--queue smtpwire-outbox]
                    [--concurrency 10] [--limit MAX/MS] [--from ADDRESS] [--pool N]
                    [--lock-duration MS] [--stalled-interval MS] [--attachment-root DIR]
                    ${ENCRYPTION_USAGE} [--ca FILE] [--insecure] [--user U --pass-env VAR] host[:port]
  Sends the jobs of an SmtpOutbox queue (smtpwire/outbox, needs the bullmq package) through host[:port]
  until SIGTERM, then finishes the jobs in flight. --limit 100/1000: at most 100 messages per second
  across every worker of the queue. Attachments given by path in job data are read only under
  --attachment-root (job data is untrusted). Default: STARTTLS required (port 587).`;

/** Runs until a signal; resolves with exit code 0. @throws UsageError. */
export async function outboxWorkerCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...CONNECTION_OPTIONS,
      redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
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
  const tls = tlsFlags(values);
  let outbox: typeof import('../outbox/index.js');
  try {
    outbox = await import('../outbox/index.js');
  } catch (err) {
    throw new UsageError(`the outbox needs the bullmq package (npm install bullmq): ${(err as Error).message}`);
  }
  const worker = new outbox.SmtpOutboxWorker({
    connection: values.redis,
    ...(values.queue === undefined ? {} : { queueName: values.queue }),
    concurrency,
    ...(limiter ? { limiter } : {}),
    ...(lockDuration ? { lockDuration } : {}),
    ...(stalledInterval ? { stalledInterval } : {}),
    ...(values['attachment-root'] === undefined ? {} : { attachmentRoot: values['attachment-root'] }),
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
  // Redis's error text is server-derived: through the one terminal escaper.
  worker.on('error', (err: Error) =>
    io.stderr.write(`smtpwire outbox-worker: redis: ${escapeTerminalText(err.message)}\n`),
  );
  await worker.waitUntilReady();
  // The URL without its password: this line goes to logs.
  const redis = new URL(values.redis);
  redis.password = redis.password ? '****' : '';
  io.stdout.write(`smtpwire outbox-worker ready: queue ${worker.queueName} on ${redis.href}, pid ${process.pid}\n`);
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
  await worker.close();
  process.off('SIGTERM', force);
  process.off('SIGINT', force);
  io.stdout.write('smtpwire outbox-worker closed\n');
  return EXIT_OK;
}
