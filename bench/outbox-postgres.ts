/**
 * The outbox on PostgreSQL, as bench/outbox.ts measures it on Redis (bench/outbox-measure.ts: its environment
 * applies): 1 KB messages end to end through SmtpOutbox → PostgreSQL (BullMQ's PostgreSQL backend, fsync on,
 * synchronous_commit on) → 1 and 2 `smtpwire outbox-worker --postgres` processes → the sink. PostgreSQL's CPU:
 * the postmaster and every backend, exited ones included.
 *
 * Environment: BENCH_OUTBOX_WORKERS (1,2), BENCH_REPS (1). Run: `tsx bench/outbox-postgres.ts` (needs Debian's
 * postgresql).
 */
import { readdirSync } from 'node:fs';
import { createPostgresBackend, Queue } from 'bullmq';
import { SmtpOutbox } from '../src/outbox/index.js';
import { buildForWorkers } from '../test/helpers/outbox-workers.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { measureOutbox, type OutboxRun, procStat, spawnWorkers, stopWorkers } from './outbox-measure.js';
import { median } from './spawn-worker.js';

const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const WORKERS = env('BENCH_OUTBOX_WORKERS', '1,2').split(',').map(Number);
const REPS = Number(env('BENCH_REPS', '1'));
/** Linux clock ticks per second (USER_HZ), for /proc/<pid>/stat. */
const TICKS = 100;

/** The postmaster's CPU, its exited children's (cutime, cstime) and its live children's. */
function postgresCpu(postmaster: number): number {
  const f = procStat(postmaster);
  if (!f) return 0;
  let total = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / TICKS;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const c = procStat(Number(entry));
    if (c && Number(c[1]) === postmaster) total += (Number(c[11]) + Number(c[12])) / TICKS;
  }
  return total;
}

async function run(sinkPort: number, buildDir: string, workers: number): Promise<OutboxRun> {
  const pg = await startPostgres();
  const outbox = new SmtpOutbox({ connection: pg.url, queueName: 'bench' });
  // The outbox runs BullMQ's migrations: the plain Queue only after them.
  await outbox.waitUntilReady();
  const queue = new Queue('bench', { connection: pg.url }, createPostgresBackend);
  const procs = spawnWorkers(buildDir, workers, ['--postgres', pg.url], sinkPort);
  try {
    return await measureOutbox(outbox, queue, procs, () => postgresCpu(pg.pid));
  } finally {
    await stopWorkers(procs);
    await outbox.close();
    await queue.close();
    await pg.stop();
  }
}

const { startSink } = await import('./sink.js');
const sink = await startSink();
const build = await buildForWorkers();
try {
  const rows = [
    '| worker processes | msg/s end to end (median) | CPU s / 1,000: workers | PostgreSQL | producer | failed |',
    '|---:|---:|---:|---:|---:|---:|',
  ];
  for (const workers of WORKERS) {
    const runs: OutboxRun[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      const r = await run(sink.port, build.dir, workers);
      runs.push(r);
      process.stderr.write(`  outbox/postgres ×${workers} rep ${rep + 1}: ${r.rate.toFixed(0)} msg/s\n`);
    }
    const m = (f: (r: OutboxRun) => number): number => median(runs.map(f));
    rows.push(
      `| ${workers} | ${m((r) => r.rate).toFixed(0)} | ${m((r) => r.workerCpu).toFixed(3)} | ${m((r) => r.storeCpu).toFixed(3)} | ${m((r) => r.producerCpu).toFixed(3)} | ${runs.reduce((a, r) => a + r.failed, 0)} |`,
    );
  }
  process.stdout.write(`${rows.join('\n')}\n(sink: ${sink.name})\n`);
} finally {
  await build.remove();
  await sink.stop();
}
