/**
 * The outbox row of `npm run bench` (issue 16): 1 KB messages end to end through SmtpOutbox → Redis →
 * 1 and 2 `smtpwire outbox-worker` processes → the sink, against direct `sendMessage` in the same run; measured
 * as bench/outbox-measure.ts says (its environment applies: messages, warm-up, concurrency, pool).
 *
 * Environment: BENCH_OUTBOX_WORKERS (1,2), BENCH_OUTBOX_FSYNC (everysec,always: Redis appendfsync).
 * Standalone: `tsx bench/outbox.ts`. BENCH_OUTBOX_BUILD: the compiled src/ the workers run (default: this
 * checkout's).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { SmtpOutbox } from '../src/outbox/index.js';
import { buildForWorkers } from '../test/helpers/outbox-workers.js';
import { startRedis } from '../test/helpers/redis.js';
import {
  cpuSeconds,
  MESSAGES,
  measureOutbox,
  type OutboxRun,
  POOL,
  SIZE,
  spawnWorkers,
  stopWorkers,
} from './outbox-measure.js';
import { median, runWorker } from './spawn-worker.js';

const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const WORKERS = env('BENCH_OUTBOX_WORKERS', '1,2').split(',').map(Number);
const FSYNC = env('BENCH_OUTBOX_FSYNC', 'everysec,always').split(',') as ('always' | 'everysec')[];

async function outboxRun(
  sinkPort: number,
  buildDir: string,
  workers: number,
  fsync: 'always' | 'everysec',
): Promise<OutboxRun> {
  const redis = await startRedis({ appendfsync: fsync });
  const client = new Redis(redis.port, { maxRetriesPerRequest: null });
  const queue = new Queue('bench', { connection: client as never });
  const outbox = new SmtpOutbox({ connection: { port: redis.port }, queueName: 'bench' });
  const procs = spawnWorkers(buildDir, workers, ['--redis', redis.url], sinkPort);
  try {
    return await measureOutbox(outbox, queue, procs, () => cpuSeconds(redis.pid));
  } finally {
    await stopWorkers(procs);
    await outbox.close();
    await queue.close();
    await client.quit();
    await redis.stop();
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
          `| outbox (SmtpOutbox → BullMQ → worker) | ${workers} | ${fsync} | ${m((r) => r.rate).toFixed(0)} | ${(m((r) => r.rate) / directRate).toFixed(2)} | ${m((r) => r.workerCpu).toFixed(3)} | ${m((r) => r.storeCpu).toFixed(3)} | ${m((r) => r.producerCpu).toFixed(3)} | ${runs.reduce((a, r) => a + r.failed, 0)} |`,
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
