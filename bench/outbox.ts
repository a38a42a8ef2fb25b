/**
 * The outbox row of `npm run bench` (issue 16): 1 KB messages end to end through SmtpOutbox → Redis →
 * 1 and 2 `smtpwire outbox-worker` processes → the sink, against direct `sendMessage` in the same run.
 * End to end: from the first `send()` to the last job completed. CPU per 1,000 messages: the worker
 * processes' user+system time (from /proc), Redis's and the producer's shown apart.
 *
 * Environment: BENCH_OUTBOX_MESSAGES (measured, default 20,000) after BENCH_OUTBOX_WARMUP (3,000: with a
 * 200-message warm-up a 4,000-message run charged the workers twice the steady-state CPU per job, JIT and all),
 * BENCH_OUTBOX_WORKERS (1,2), BENCH_OUTBOX_FSYNC (everysec,always: Redis appendfsync),
 * BENCH_OUTBOX_CONCURRENCY (64 jobs in flight per worker, over
 * BENCH_OUTBOX_POOL (4) SMTP connections: 16 sends per connection, as the direct rows). Standalone:
 * `tsx bench/outbox.ts`. BENCH_OUTBOX_BUILD: the compiled src/ the workers run (default: this checkout's).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { messageContent } from '../src/cli/bench/load.js';
import { SmtpOutbox } from '../src/outbox/index.js';
import { buildForWorkers, spawnWorker, type WorkerProcess } from '../test/helpers/outbox-workers.js';
import { startRedis } from '../test/helpers/redis.js';
import { median, runWorker } from './spawn-worker.js';

const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const MESSAGES = Number(env('BENCH_OUTBOX_MESSAGES', '20000'));
/** Sent and finished before the measured run: connections, JIT, Lua script cache, BullMQ's steady state. */
const WARMUP = Number(env('BENCH_OUTBOX_WARMUP', '3000'));
const WORKERS = env('BENCH_OUTBOX_WORKERS', '1,2').split(',').map(Number);
const FSYNC = env('BENCH_OUTBOX_FSYNC', 'everysec,always').split(',') as ('always' | 'everysec')[];
const CONCURRENCY = Number(env('BENCH_OUTBOX_CONCURRENCY', '64'));
const POOL = Number(env('BENCH_OUTBOX_POOL', '4'));
const SIZE = 1024;
/** Linux clock ticks per second (USER_HZ), for /proc/<pid>/stat. */
const TICKS = 100;

/** User + system CPU seconds of a process so far (0 when it is gone). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return 0;
  }
}

interface OutboxRun {
  rate: number;
  workerCpu: number;
  redisCpu: number;
  producerCpu: number;
  failed: number;
}

async function outboxRun(sinkPort: number, buildDir: string, workers: number, fsync: 'always' | 'everysec') {
  const redis = await startRedis({ appendfsync: fsync });
  const procs: WorkerProcess[] = [];
  const client = new Redis(redis.port, { maxRetriesPerRequest: null });
  const queue = new Queue('bench', { connection: client as never });
  const outbox = new SmtpOutbox({ connection: { port: redis.port }, queueName: 'bench' });
  try {
    for (let i = 0; i < workers; i++)
      procs.push(
        spawnWorker(buildDir, [
          '--redis',
          redis.url,
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
    await outbox.waitUntilReady();
    const content = messageContent(SIZE);
    const message = (i: number) => ({
      fromAddress: 'bench@smtpwire.example',
      toAddresses: ['sink@smtpwire.example'],
      subject: `${content.subject} ${i}`,
      textBody: content.textBody,
    });
    let warm = 0;
    const warmProducer = async (): Promise<void> => {
      while (warm < WARMUP) await outbox.send(message(-++warm));
    };
    await Promise.all(Array.from({ length: 128 }, warmProducer));
    await waitForFinished(queue, WARMUP);
    const pids = procs.map((p) => p.child.pid!);
    const cpu0 = pids.map(cpuSeconds);
    const redis0 = cpuSeconds(redis.pid);
    const self0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    const producer = async (): Promise<void> => {
      while (next < MESSAGES) await outbox.send(message(next++));
    };
    await Promise.all(Array.from({ length: 128 }, producer));
    const counts = await waitForFinished(queue, WARMUP + MESSAGES);
    const seconds = (performance.now() - t0) / 1000;
    const self = process.cpuUsage(self0);
    const per1000 = (s: number): number => (s / MESSAGES) * 1000;
    return {
      rate: MESSAGES / seconds,
      workerCpu: per1000(pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - cpu0[i]!, 0)),
      redisCpu: per1000(cpuSeconds(redis.pid) - redis0),
      // The producer shares this process with the completion poll: an upper bound.
      producerCpu: per1000((self.user + self.system) / 1e6),
      failed: counts.failed,
    } satisfies OutboxRun;
  } finally {
    for (const p of procs) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    await outbox.close();
    await queue.close();
    await client.quit();
    await redis.stop();
  }
}

async function waitForFinished(queue: Queue, total: number): Promise<{ completed: number; failed: number }> {
  for (;;) {
    const c = await queue.getJobCounts('completed', 'failed');
    if ((c.completed ?? 0) + (c.failed ?? 0) >= total) return { completed: c.completed ?? 0, failed: c.failed ?? 0 };
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The outbox table in Markdown; `reps` runs per cell (median). */
export async function outboxTable(sinkPort: number, reps: number): Promise<string> {
  // BENCH_OUTBOX_BUILD: a compiled src/ to run the workers from (an A/B against another build).
  const compiled = process.env.BENCH_OUTBOX_BUILD ?? join(import.meta.dirname, '..', '.tmp', 'bench-build', 'src');
  let build: { dir: string; remove: () => Promise<void> } | null = null;
  let buildDir = compiled;
  try {
    readFileSync(join(compiled, 'cli', 'main.js'));
  } catch {
    build = await buildForWorkers();
    buildDir = build.dir;
  }
  const rows = [
    '| path | worker processes | Redis appendfsync | msg/s end to end (median) | × direct | CPU s / 1,000: workers | Redis | producer | failed |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|',
  ];
  try {
    for (const workers of WORKERS) {
      const direct = [];
      for (let rep = 0; rep < reps; rep++)
        direct.push(
          await runWorker({
            kind: 'throughput',
            client: 'smtpwire',
            port: sinkPort,
            connections: POOL * workers,
            messages: MESSAGES,
            size: SIZE,
            warmup: 200,
          }),
        );
      const directRate = median(direct.map((m) => m.messagesPerSecond));
      const directCpu = median(direct.map((m) => m.cpuSecondsPer1000 ?? 0));
      rows.push(
        `| direct sendMessage, ${POOL * workers} connections | 1 | - | ${directRate.toFixed(0)} | 1.00 | ${directCpu.toFixed(3)} | - | - | ${direct.reduce((a, m) => a + m.failed, 0)} |`,
      );
      for (const fsync of FSYNC) {
        const runs: OutboxRun[] = [];
        for (let rep = 0; rep < reps; rep++) {
          const r = await outboxRun(sinkPort, buildDir, workers, fsync);
          runs.push(r);
          process.stderr.write(
            `  outbox ×${workers} ${fsync} rep ${rep + 1}: ${r.rate.toFixed(0)} msg/s, workers ${r.workerCpu.toFixed(3)} s/1k\n`,
          );
        }
        const m = (f: (r: OutboxRun) => number): number => median(runs.map(f));
        rows.push(
          `| outbox (SmtpOutbox → BullMQ → worker) | ${workers} | ${fsync} | ${m((r) => r.rate).toFixed(0)} | ${(m((r) => r.rate) / directRate).toFixed(2)} | ${m((r) => r.workerCpu).toFixed(3)} | ${m((r) => r.redisCpu).toFixed(3)} | ${m((r) => r.producerCpu).toFixed(3)} | ${runs.reduce((a, r) => a + r.failed, 0)} |`,
        );
      }
    }
  } finally {
    await build?.remove();
  }
  return rows.join('\n');
}

// Standalone: its own sink, one repetition unless BENCH_REPS says otherwise.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { startSink } = await import('./sink.js');
  const sink = await startSink();
  try {
    process.stdout.write(`${await outboxTable(sink.port, Number(env('BENCH_REPS', '1')))}\n(sink: ${sink.name})\n`);
  } finally {
    await sink.stop();
  }
}
