/**
 * The outbox measurement both store benches share (bench/outbox.ts on Redis, bench/outbox-postgres.ts on
 * PostgreSQL): `outbox-worker` processes on the store, a warm-up sent and finished, then the measured messages
 * end to end — from the first `send()` to the last job completed — with CPU per 1,000 messages for the
 * workers, the store and the producer apart (from /proc).
 *
 * Environment: BENCH_OUTBOX_MESSAGES (measured, default 20,000) after BENCH_OUTBOX_WARMUP (3,000: with a
 * 200-message warm-up a 4,000-message run charged the workers twice the steady-state CPU per job, JIT and all),
 * BENCH_OUTBOX_CONCURRENCY (64 jobs in flight per worker, over BENCH_OUTBOX_POOL (4) SMTP connections).
 */
import { readFileSync } from 'node:fs';
import { messageContent } from '../src/cli/bench/load.js';
import type { SmtpOutbox } from '../src/outbox/index.js';
import { spawnWorker, type WorkerProcess } from '../test/helpers/outbox-workers.js';

const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
export const MESSAGES = Number(env('BENCH_OUTBOX_MESSAGES', '20000'));
/** Sent and finished before the measured run: connections, JIT, script caches, BullMQ's steady state. */
export const WARMUP = Number(env('BENCH_OUTBOX_WARMUP', '3000'));
export const CONCURRENCY = Number(env('BENCH_OUTBOX_CONCURRENCY', '64'));
export const POOL = Number(env('BENCH_OUTBOX_POOL', '4'));
export const SIZE = 1024;
/** Linux clock ticks per second (USER_HZ), for /proc/<pid>/stat. */
const TICKS = 100;
/** Producers sending at once. */
const PRODUCERS = 128;

/** The fields of /proc/<pid>/stat after the command name, or null when the process is gone. */
export function procStat(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** User + system CPU seconds of a process so far (0 when it is gone). */
export function cpuSeconds(pid: number): number {
  const f = procStat(pid);
  return f ? (Number(f[11]) + Number(f[12])) / TICKS : 0;
}

export interface OutboxRun {
  rate: number;
  workerCpu: number;
  storeCpu: number;
  producerCpu: number;
  failed: number;
}

/** Job counts of the queue (a BullMQ `Queue` on either store). */
interface Counted {
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
}

/** `outbox-worker` processes on the store (`storeArgs`: `--redis URL` or `--postgres URL`), sending to the sink. */
export function spawnWorkers(buildDir: string, count: number, storeArgs: string[], sinkPort: number): WorkerProcess[] {
  return Array.from({ length: count }, () =>
    spawnWorker(buildDir, [
      ...storeArgs,
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
}

/** Warms up, then measures MESSAGES through `outbox` and `workers`; `storeCpu()` reads the store's CPU seconds. */
export async function measureOutbox(
  outbox: SmtpOutbox,
  queue: Counted,
  workers: WorkerProcess[],
  storeCpu: () => number,
): Promise<OutboxRun> {
  await Promise.all(workers.map((p) => p.ready));
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
  await Promise.all(Array.from({ length: PRODUCERS }, warmProducer));
  await waitForFinished(queue, WARMUP);
  const pids = workers.map((p) => p.child.pid!);
  const cpu0 = pids.map(cpuSeconds);
  const store0 = storeCpu();
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  const producer = async (): Promise<void> => {
    while (next < MESSAGES) await outbox.send(message(next++));
  };
  await Promise.all(Array.from({ length: PRODUCERS }, producer));
  const counts = await waitForFinished(queue, WARMUP + MESSAGES);
  const seconds = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(self0);
  const per1000 = (s: number): number => (s / MESSAGES) * 1000;
  return {
    rate: MESSAGES / seconds,
    workerCpu: per1000(pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - cpu0[i]!, 0)),
    storeCpu: per1000(storeCpu() - store0),
    // The producer shares this process with the completion poll: an upper bound.
    producerCpu: per1000((self.user + self.system) / 1e6),
    failed: counts.failed,
  };
}

async function waitForFinished(queue: Counted, total: number): Promise<{ completed: number; failed: number }> {
  for (;;) {
    const c = await queue.getJobCounts('completed', 'failed');
    if ((c.completed ?? 0) + (c.failed ?? 0) >= total) return { completed: c.completed ?? 0, failed: c.failed ?? 0 };
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Stops the workers (SIGTERM: graceful) and waits for them. */
export async function stopWorkers(workers: WorkerProcess[]): Promise<void> {
  for (const p of workers) p.child.kill('SIGTERM');
  await Promise.all(workers.map((p) => p.exited));
}
