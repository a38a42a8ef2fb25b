/**
 * The outbox on PostgreSQL, as bench/outbox.ts measures it on Redis: 1 KB messages end to end through
 * SmtpOutbox → PostgreSQL (BullMQ's PostgreSQL backend, fsync on, synchronous_commit on) → 1 and 2
 * `smtpwire outbox-worker --postgres` processes → the sink. End to end: from the first `send()` to the last job
 * completed. CPU per 1,000 messages: the worker processes' user+system time, PostgreSQL's (the postmaster and
 * every backend, exited ones included) and the producer's apart.
 *
 * Environment: BENCH_OUTBOX_MESSAGES (default 4000), BENCH_OUTBOX_WORKERS (1,2), BENCH_OUTBOX_CONCURRENCY (64),
 * BENCH_OUTBOX_POOL (4), BENCH_REPS (1). Run: `tsx bench/outbox-postgres.ts` (needs Debian's postgresql).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createPostgresBackend, Queue } from 'bullmq';
import { messageContent } from '../src/cli/bench/load.js';
import { SmtpOutbox } from '../src/outbox/index.js';
import { buildForWorkers, spawnWorker, type WorkerProcess } from '../test/helpers/outbox-workers.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { median } from './spawn-worker.js';

const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const MESSAGES = Number(env('BENCH_OUTBOX_MESSAGES', '4000'));
const WORKERS = env('BENCH_OUTBOX_WORKERS', '1,2').split(',').map(Number);
const CONCURRENCY = Number(env('BENCH_OUTBOX_CONCURRENCY', '64'));
const POOL = Number(env('BENCH_OUTBOX_POOL', '4'));
const REPS = Number(env('BENCH_REPS', '1'));
const SIZE = 1024;
/** Linux clock ticks per second (USER_HZ), for /proc/<pid>/stat. */
const TICKS = 100;

function stat(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** User + system CPU seconds of a process so far (0 when it is gone). */
function cpuSeconds(pid: number): number {
  const f = stat(pid);
  return f ? (Number(f[11]) + Number(f[12])) / TICKS : 0;
}

/** The postmaster's CPU, its exited children's (cutime, cstime) and its live children's. */
function postgresCpu(postmaster: number): number {
  const f = stat(postmaster);
  if (!f) return 0;
  let total = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / TICKS;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const c = stat(Number(entry));
    if (c && Number(c[1]) === postmaster) total += (Number(c[11]) + Number(c[12])) / TICKS;
  }
  return total;
}

interface Run {
  rate: number;
  workerCpu: number;
  postgresCpu: number;
  producerCpu: number;
  failed: number;
}

async function run(sinkPort: number, buildDir: string, workers: number): Promise<Run> {
  const pg = await startPostgres();
  const procs: WorkerProcess[] = [];
  const outbox = new SmtpOutbox({ connection: pg.url, queueName: 'bench' });
  await outbox.waitUntilReady();
  const queue = new Queue('bench', { connection: pg.url }, createPostgresBackend);
  try {
    for (let i = 0; i < workers; i++)
      procs.push(
        spawnWorker(buildDir, [
          '--postgres',
          pg.url,
          '--queue',
          'bench',
          '--concurrency',
          String(CONCURRENCY),
          '--pool',
          String(POOL),
          '--plain',
          `127.0.0.1:${sinkPort}`,
        ]),
      );
    await Promise.all(procs.map((p) => p.ready));
    const content = messageContent(SIZE);
    const message = (i: number) => ({
      fromAddress: 'bench@smtpwire.example',
      toAddresses: ['sink@smtpwire.example'],
      subject: `${content.subject} ${i}`,
      textBody: content.textBody,
    });
    await Promise.all(Array.from({ length: 200 }, (_, i) => outbox.send(message(-i - 1))));
    await waitForFinished(queue, 200);
    const pids = procs.map((p) => p.child.pid!);
    const cpu0 = pids.map(cpuSeconds);
    const pg0 = postgresCpu(pg.pid);
    const self0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    const producer = async (): Promise<void> => {
      while (next < MESSAGES) await outbox.send(message(next++));
    };
    await Promise.all(Array.from({ length: 128 }, producer));
    const counts = await waitForFinished(queue, 200 + MESSAGES);
    const seconds = (performance.now() - t0) / 1000;
    const self = process.cpuUsage(self0);
    const per1000 = (s: number): number => (s / MESSAGES) * 1000;
    return {
      rate: MESSAGES / seconds,
      workerCpu: per1000(pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - cpu0[i]!, 0)),
      postgresCpu: per1000(postgresCpu(pg.pid) - pg0),
      // The producer shares this process with the completion poll: an upper bound.
      producerCpu: per1000((self.user + self.system) / 1e6),
      failed: counts.failed,
    };
  } finally {
    for (const p of procs) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    await outbox.close();
    await queue.close();
    await pg.stop();
  }
}

async function waitForFinished(
  queue: { getJobCounts(...types: string[]): Promise<Record<string, number>> },
  total: number,
): Promise<{ completed: number; failed: number }> {
  for (;;) {
    const c = await queue.getJobCounts('completed', 'failed');
    if ((c.completed ?? 0) + (c.failed ?? 0) >= total) return { completed: c.completed ?? 0, failed: c.failed ?? 0 };
    await new Promise((r) => setTimeout(r, 50));
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
    const runs: Run[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      const r = await run(sink.port, build.dir, workers);
      runs.push(r);
      process.stderr.write(`  outbox/postgres ×${workers} rep ${rep + 1}: ${r.rate.toFixed(0)} msg/s\n`);
    }
    const m = (f: (r: Run) => number): number => median(runs.map(f));
    rows.push(
      `| ${workers} | ${m((r) => r.rate).toFixed(0)} | ${m((r) => r.workerCpu).toFixed(3)} | ${m((r) => r.postgresCpu).toFixed(3)} | ${m((r) => r.producerCpu).toFixed(3)} | ${runs.reduce((a, r) => a + r.failed, 0)} |`,
    );
  }
  process.stdout.write(`${rows.join('\n')}\n(sink: ${sink.name})\n`);
} finally {
  await build.remove();
  await sink.stop();
}
