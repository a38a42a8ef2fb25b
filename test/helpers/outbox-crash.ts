/**
 * The outbox crash run shared by the topology suites (single node, Sentinel, Cluster): N messages through
 * worker processes while a random ready worker is SIGKILLed every ~killEveryMs and replaced, optionally with
 * a Redis fault injected mid-run (`during`). Counts, at the scripted SMTP sink, every message by its
 * Message-ID, and classifies every job's final result. Bounded: chaos ends when every job finished or after
 * chaosMaxMs; the drain after it has drainMaxMs.
 */
import { Queue } from 'bullmq';
import { expect } from 'vitest';
import type { SmtpOutbox } from '../../src/outbox/index.js';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';
import { spawnWorker, type WorkerProcess } from './outbox-workers.js';

export interface CrashRunOptions {
  buildDir: string;
  /** The worker's Redis flags (`--redis URL`, `--sentinels …`, `--cluster …`). */
  redisArgs: string[];
  /** The producer's outbox (on the same queue) and a connection for a plain BullMQ Queue to count jobs. */
  outbox: SmtpOutbox;
  queueConnection: object | string;
  /** BullMQ's backend factory for that Queue when it is not Redis (createPostgresBackend). */
  queueBackend?: unknown;
  queue: string;
  prefix?: string;
  messages: number;
  workers?: number;
  concurrency?: number;
  killEveryMs?: number;
  chaosMaxMs?: number;
  drainMaxMs?: number;
  /** Every dropEvery-th message is dropped by the sink after its dot (a true UNKNOWN). */
  dropEvery?: number;
  /** Run once, after `afterDelivered` messages reached the sink (e.g. kill the Redis primary). */
  during?: { afterDelivered: number; run: () => Promise<void> };
  /** Worker lock duration and stalled interval (short, so killed workers' jobs are re-run in time). */
  lockMs?: number;
}

export interface CrashRunReport {
  jobs: number;
  kills: number;
  chaosMs: number;
  /** Messages at the sink when the chaos ended (for a delivery rate under kills). */
  deliveredInChaos: number;
  totalMs: number;
  byStatus: Record<string, number>;
  /** Message-ID → copies at the sink. */
  counts: Map<string, number>;
  /** jobId → result JSON. */
  results: Map<string, Record<string, unknown>>;
  /** Message-IDs the sink dropped after the dot. */
  dropped: Set<string>;
  /** Jobs whose message the sink drops after its dot, should it get there. */
  dropJobs: Set<string>;
  /** Jobs re-run after a kill (stalled, or started more often than finished). */
  rerun: number;
  /** UNKNOWN results whose message never reached the sink (the worker died between its claim and the dot). */
  falseUnknown: number;
  /** Messages at the sink more than once. */
  duplicates: [string, number][];
  /** Jobs reported `success` whose message is not at the sink exactly once. */
  lostOrDoubled: string[];
  /** UNKNOWN job ids as listed by `listUnknown()`, and as found in the results. */
  listedUnknown: string[];
  resultUnknown: string[];
  workerLogs: string[];
  server: ScriptedSmtpServer;
}

function messageIdOf(data: string): string | null {
  return /^Message-ID: (<[^>]+>)/im.exec(data)?.[1] ?? null;
}

/** Runs the crash scenario; the caller closes `report.server` and the outbox. */
export async function crashRun(o: CrashRunOptions): Promise<CrashRunReport> {
  const dropEvery = o.dropEvery ?? 100;
  const killEveryMs = o.killEveryMs ?? 300;
  const chaosMaxMs = o.chaosMaxMs ?? 30_000;
  const drainMaxMs = o.drainMaxMs ?? 45_000;
  const lockMs = o.lockMs ?? 2000;
  const dropped = new Set<string>();
  const server = await startScriptedServer({
    maxRecipients: 10,
    // A short pause before the 250 widens the window between the dot and the outcome, where kills hurt.
    onCommand: (session, _line, event) => {
      if (event !== 'DATA_END') return undefined;
      const data = session.messages.at(-1)?.data.toString('latin1') ?? '';
      if (/^Subject: drop-after-dot/m.test(data)) {
        dropped.add(messageIdOf(data)!);
        return { action: 'drop' };
      }
      return { delay: 5 };
    },
  });
  const ids: string[] = [];
  const dropJobs = new Set<string>();
  for (let i = 0; i < o.messages; i += 100) {
    const batch = Array.from({ length: Math.min(100, o.messages - i) }, (_, k) =>
      o.outbox.send({
        fromAddress: 'sender@example.com',
        toAddresses: ['rcpt@example.com'],
        subject: (i + k) % dropEvery === 7 ? `drop-after-dot ${i + k}` : `m ${i + k}`,
        textBody: `message ${i + k}\n${'x'.repeat(900)}`,
      }),
    );
    const batchIds = await Promise.all(batch);
    batchIds.forEach((id, k) => {
      if ((i + k) % dropEvery === 7) dropJobs.add(id);
    });
    ids.push(...batchIds);
  }
  let workers: WorkerProcess[] = [];
  const logs: string[] = [];
  const startWorker = (): void => {
    workers.push(
      spawnWorker(o.buildDir, [
        ...o.redisArgs,
        '--queue',
        o.queue,
        '--concurrency',
        String(o.concurrency ?? 16),
        '--lock-duration',
        String(lockMs),
        '--stalled-interval',
        String(Math.max(500, lockMs / 2)),
        '--plain',
        `127.0.0.1:${server.port}`,
      ]),
    );
  };
  const q = new Queue(
    o.queue,
    { connection: o.queueConnection as never, ...(o.prefix ? { prefix: o.prefix } : {}) },
    o.queueBackend as undefined,
  );
  q.on('error', () => {});
  const started = Date.now();
  let kills = 0;
  try {
    for (let i = 0; i < (o.workers ?? 3); i++) startWorker();
    let during = o.during;
    const finishedJobs = async (): Promise<number> => {
      const c = await q.getJobCounts('completed', 'failed').catch(() => ({}) as Record<string, number>);
      return (c.completed ?? 0) + (c.failed ?? 0);
    };
    while (Date.now() - started < chaosMaxMs && (await finishedJobs()) < ids.length) {
      await new Promise((r) => setTimeout(r, killEveryMs * (0.5 + Math.random())));
      if (during && server.messages.length >= during.afterDelivered) {
        const run = during.run;
        during = undefined;
        await run();
      }
      // Only ready workers are killed (a worker still starting has taken no job).
      const live = workers.filter((w) => w.isReady() && w.child.exitCode === null && w.child.signalCode === null);
      if (live.length === 0) continue;
      const victim = live[Math.floor(Math.random() * live.length)]!;
      victim.child.kill('SIGKILL');
      kills++;
      logs.push(victim.log());
      workers = workers.filter((w) => w !== victim);
      startWorker();
    }
    const chaosMs = Date.now() - started;
    const deliveredInChaos = server.messages.length;
    if (during) await during.run();
    await finalResults(o.outbox, ids, Date.now() + drainMaxMs);
    // Read again once every job finished: after a failover a result seen earlier can change (the promoted replica
    // may lack a job's last writes, so a job seen completed is re-run and ends UNKNOWN; a late 'delivered'
    // resolves an UNKNOWN), and what counts is what the outbox says at the end.
    const results = await finalResults(o.outbox, ids, Date.now() + drainMaxMs);
    const counts = new Map<string, number>();
    for (const m of server.messages) {
      const id = messageIdOf(m.data.toString('latin1')) ?? '(none)';
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const byStatus: Record<string, number> = {};
    for (const r of results.values()) byStatus[String(r.status)] = (byStatus[String(r.status)] ?? 0) + 1;
    const jobs = await q.getJobs(['completed', 'failed'], 0, -1);
    const rerun = jobs.filter((j) => j.attemptsStarted > j.attemptsMade + 1 || j.stalledCounter > 0).length;
    const resultUnknown = [...results].filter(([, r]) => r.status === 'unknown').map(([id]) => id);
    const falseUnknown = resultUnknown.filter((id) => !counts.has(String(results.get(id)!.message_id))).length;
    const lostOrDoubled = [...results]
      .filter(([, r]) => r.status === 'success' && counts.get(String(r.message_id)) !== 1)
      .map(([id]) => id);
    const listedUnknown = (await o.outbox.listUnknown()).map((u) => u.jobId);
    return {
      jobs: ids.length,
      kills,
      chaosMs,
      deliveredInChaos,
      totalMs: Date.now() - started,
      byStatus,
      counts,
      results,
      dropped,
      dropJobs,
      rerun,
      falseUnknown,
      duplicates: [...counts].filter(([, n]) => n > 1),
      lostOrDoubled,
      listedUnknown: listedUnknown.sort(),
      resultUnknown: resultUnknown.sort(),
      workerLogs: logs,
      server,
    };
  } finally {
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await q.close().catch(() => {});
  }
}

/** Every job's result JSON once all finished; throws naming the stragglers' states after `deadline`. */
async function finalResults(
  outbox: SmtpOutbox,
  ids: string[],
  deadline: number,
): Promise<Map<string, Record<string, unknown>>> {
  const done = new Map<string, Record<string, unknown>>();
  for (;;) {
    for (const id of ids) {
      if (done.has(id)) continue;
      const r = await outbox.getResult(id).catch(() => null);
      if (r !== null && typeof r === 'object') done.set(id, r);
    }
    if (done.size === ids.length) return done;
    if (Date.now() > deadline) {
      const open = ids.filter((id) => !done.has(id)).slice(0, 5);
      const states = await Promise.all(open.map((id) => outbox.getResult(id)));
      throw new Error(`${ids.length - done.size} job(s) unfinished, e.g. ${JSON.stringify(states)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The one-line summary every crash suite prints. */
export function crashSummary(name: string, r: CrashRunReport): string {
  return (
    `${name}: ${r.jobs} jobs, ${r.kills} kills in ${r.chaosMs} ms, ${r.server.messages.length} messages at the sink, ` +
    `statuses ${JSON.stringify(r.byStatus)}, ${r.rerun} re-run after a kill, ${r.dropped.size} dropped after the dot, ` +
    `false UNKNOWN ${r.falseUnknown} (${(r.falseUnknown / Math.max(1, r.kills)).toFixed(2)} per kill), total ${r.totalMs} ms`
  );
}

/**
 * What every crash run must show: every job finished as success or unknown (the sink refuses nothing), no
 * message twice at the sink, each success there exactly once, each message dropped after its dot UNKNOWN,
 * and the UNKNOWNs listed for an operator.
 */
export function expectCrashSafe(r: CrashRunReport, minKills = 5): void {
  expect(r.kills).toBeGreaterThanOrEqual(minKills);
  expect(r.results.size).toBe(r.jobs);
  expect(Object.keys(r.byStatus)).toContain('success');
  for (const [id, result] of r.results)
    expect(['success', 'unknown'], `job ${id}: ${JSON.stringify(result)}`).toContain(result.status);
  expect(r.duplicates).toEqual([]);
  expect(r.lostOrDoubled).toEqual([]);
  for (const [id, result] of r.results)
    if (r.dropped.has(String(result.message_id)))
      expect(result.status, `job ${id} dropped after the dot`).toBe('unknown');
  // Kills may cut every drop-after-dot job before its dot (then each is a false UNKNOWN, never a success);
  // when any reached the sink, the lines above checked that the drop was reported UNKNOWN.
  if (r.dropped.size === 0)
    for (const id of r.dropJobs) expect(r.results.get(id)?.status, `job ${id} never reached its dot`).toBe('unknown');
  expect(r.listedUnknown).toEqual(r.resultUnknown);
}

/** Messages in each topology's crash run (SMTPWIRE_OUTBOX_TOPOLOGY_MESSAGES, default 400). */
export const TOPOLOGY_MESSAGES = Number(process.env.SMTPWIRE_OUTBOX_TOPOLOGY_MESSAGES ?? 400);

/**
 * Messages in a topology's crash run on a driver: the second driver's run is half as long (at most 200), so each
 * topology suite stays bounded in CI time; the same kills and failover happen within it.
 */
export function topologyMessages(driver: 'ioredis' | 'node-redis'): number {
  return driver === 'ioredis' ? TOPOLOGY_MESSAGES : Math.min(200, Math.ceil(TOPOLOGY_MESSAGES / 2));
}

/** What a topology reports of the failover it caused. */
export interface Failover {
  killed: number;
  promoted: number;
  failoverMs: number;
}

/**
 * The crash run of the Sentinel and Cluster suites: two workers SIGKILLed repeatedly (chaos at most 20 s),
 * and once a quarter of the messages reached the sink, `failover` SIGKILLs the Redis primary. Then the
 * run must be crash-safe and a different node must have taken over. Closes the sink; the caller closes
 * the outbox and its connections.
 */
export async function failoverCrashRun(
  name: string,
  o: Pick<CrashRunOptions, 'buildDir' | 'redisArgs' | 'outbox' | 'queueConnection' | 'queue'> & {
    messages?: number;
  },
  failover: () => Promise<Failover>,
): Promise<void> {
  let done: Failover | undefined;
  const messages = o.messages ?? TOPOLOGY_MESSAGES;
  const report = await crashRun({
    ...o,
    messages,
    workers: 2,
    chaosMaxMs: 20_000,
    drainMaxMs: 50_000,
    during: {
      afterDelivered: Math.floor(messages / 4),
      run: async () => {
        done = await failover();
      },
    },
  });
  try {
    console.info(
      `${crashSummary(name, report)}; primary ${done?.killed} killed, ${done?.promoted} took over in ${done?.failoverMs} ms`,
    );
    expect(done).toBeDefined();
    expect(done!.promoted).not.toBe(done!.killed);
    // The failover is this run's main event; the worker kills stop once every job has finished, which on a
    // fast run can be after one or two kills (a count tied to timing would fail on the machine's load, not on a fault).
    expectCrashSafe(report, 1);
  } finally {
    await report.server.close();
  }
}
