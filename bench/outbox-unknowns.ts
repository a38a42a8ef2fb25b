/**
 * False UNKNOWNs per worker kill (issue 24): the crash run of the outbox tests (test/helpers/outbox-crash.ts: 3
 * `outbox-worker` processes, a random ready one SIGKILLed every ~300 ms and replaced, Redis `appendfsync always`),
 * repeated in rounds, counting the UNKNOWN results whose message never reached the sink: the worker died after
 * its claim and before its dot. Each round also checks what the crash test checks (no duplicate, nothing lost).
 *
 * A/B on a shared machine: give several compiled builds of src/ (`name=dir,…`); rounds alternate between them,
 * so load drifts hit each alike. The figure per build is the pooled ratio Σfalse / Σkills with a 95% confidence
 * interval from the spread between rounds (ratio estimator, cluster-robust standard error, Student t).
 *
 *   npx tsx bench/outbox-unknowns.ts [name=buildDir,…]      (no argument: this checkout's src/, compiled)
 *
 * Environment: BENCH_UNKNOWN_ROUNDS (rounds per build, default 4), BENCH_UNKNOWN_MESSAGES (per round, 3000),
 * BENCH_UNKNOWN_CHAOS_MS (kills for at most this long per round, 20,000), BENCH_UNKNOWN_CONCURRENCY (16).
 */
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { SmtpOutbox } from '../src/outbox/index.js';
import { type CrashRunReport, crashRun } from '../test/helpers/outbox-crash.js';
import { startRedis } from '../test/helpers/redis.js';
import { buildsFrom, roundOrder } from './ab-builds.js';

const env = (name: string, fallback: string): number => Number(process.env[name] ?? fallback);
const ROUNDS = env('BENCH_UNKNOWN_ROUNDS', '4');
const MESSAGES = env('BENCH_UNKNOWN_MESSAGES', '3000');
const CHAOS_MS = env('BENCH_UNKNOWN_CHAOS_MS', '20000');
const CONCURRENCY = env('BENCH_UNKNOWN_CONCURRENCY', '16');

interface Round {
  kills: number;
  falseUnknown: number;
  /** Messages at the sink per second of chaos (all workers). */
  rate: number;
  unknown: number;
  duplicates: number;
}

/** Two-sided 95% Student t quantile for `df` degrees of freedom (table; 1.96 beyond 30). */
function t95(df: number): number {
  const table = [12.71, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145];
  return table[df - 1] ?? (df <= 30 ? 2.1 : 1.96);
}

/** Σfalse / Σkills and its 95% interval, the rounds being the independent units. */
function pooled(rounds: Round[]): { ratio: number; low: number; high: number } {
  const kills = rounds.reduce((a, r) => a + r.kills, 0);
  const ratio = rounds.reduce((a, r) => a + r.falseUnknown, 0) / Math.max(1, kills);
  const n = rounds.length;
  if (n < 2) return { ratio, low: Number.NaN, high: Number.NaN };
  const ss = rounds.reduce((a, r) => a + (r.falseUnknown - ratio * r.kills) ** 2, 0);
  const se = Math.sqrt((n / (n - 1)) * ss) / kills;
  const half = t95(n - 1) * se;
  return { ratio, low: Math.max(0, ratio - half), high: ratio + half };
}

async function round(buildDir: string, port: number, url: string, queue: string): Promise<Round> {
  const outbox = new SmtpOutbox({ connection: url, queueName: queue });
  const queueConnection = new Redis(port, { maxRetriesPerRequest: null });
  let report: CrashRunReport | null = null;
  try {
    report = await crashRun({
      buildDir,
      redisArgs: ['--redis', url],
      outbox,
      queueConnection,
      queue,
      messages: MESSAGES,
      concurrency: CONCURRENCY,
      chaosMaxMs: CHAOS_MS,
      drainMaxMs: 60_000,
    });
    if (report.duplicates.length > 0 || report.lostOrDoubled.length > 0)
      throw new Error(
        `round on ${buildDir}: duplicates ${JSON.stringify(report.duplicates)} / ${report.lostOrDoubled}`,
      );
    return {
      kills: report.kills,
      falseUnknown: report.falseUnknown,
      rate: report.deliveredInChaos / (report.chaosMs / 1000),
      unknown: report.byStatus.unknown ?? 0,
      duplicates: report.duplicates.length,
    };
  } finally {
    await report?.server.close();
    await outbox.close();
    await queueConnection.quit();
  }
}

const arg = process.argv[2];
const built = await buildsFrom(arg);
const builds = built.list;
const redis = await startRedis({ appendfsync: 'always' });
const results = new Map<string, Round[]>(builds.map(([name]) => [name, []]));
let q = 0;
try {
  for (let i = 0; i < ROUNDS; i++)
    for (const [name, dir] of roundOrder(builds, i)) {
      const load = loadavg()[0]!.toFixed(2);
      const r = await round(dir, redis.port, redis.url, `unknowns${++q}`);
      results.get(name)!.push(r);
      process.stderr.write(
        `  ${name} round ${i + 1}: ${r.kills} kills, ${r.falseUnknown} false UNKNOWN (${(r.falseUnknown / Math.max(1, r.kills)).toFixed(2)}/kill), ` +
          `${r.unknown} UNKNOWN in all, ${r.rate.toFixed(0)} msg/s under kills, load ${load}\n`,
      );
    }
  const rows = [
    `False UNKNOWNs per worker kill: ${MESSAGES} messages per round, 3 workers × concurrency ${CONCURRENCY}, a kill every ~300 ms for at most ${CHAOS_MS} ms, Redis appendfsync always`,
    '| build | rounds | kills | false UNKNOWN | per kill (95% CI) | msg/s under kills (median) | implied window ms |',
    '|---|---:|---:|---:|---|---:|---:|',
  ];
  for (const [name, rs] of results) {
    const p = pooled(rs);
    const rates = rs.map((r) => r.rate).sort((a, b) => a - b);
    const rate = rates[Math.floor(rates.length / 2)]!;
    // Little's law: jobs inside the claim→dot window of one worker = its claim rate × the window.
    const windowMs = (p.ratio / (rate / 3)) * 1000;
    rows.push(
      `| ${name} | ${rs.length} | ${rs.reduce((a, r) => a + r.kills, 0)} | ${rs.reduce((a, r) => a + r.falseUnknown, 0)} | ` +
        `${p.ratio.toFixed(2)} (${p.low.toFixed(2)}–${p.high.toFixed(2)}) | ${rate.toFixed(0)} | ${windowMs.toFixed(1)} |`,
    );
  }
  process.stdout.write(`${rows.join('\n')}\n(load average at the end: ${loadavg().map((l) => l.toFixed(2))})\n`);
} finally {
  await redis.stop();
  await built.remove();
}
