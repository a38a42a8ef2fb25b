/**
 * The outbox across worker processes (`smtpwire outbox-worker`, compiled) against a private redis-server
 * (appendonly yes, appendfsync always) and a counting SMTP sink in this process:
 * - crash: N messages while a random worker is SIGKILLed every ~300 ms and replaced; every job ends
 *   completed or failed with a reason, each completed message is stored exactly once, no message is
 *   stored twice, and messages the sink drops after the dot end UNKNOWN and are never resent;
 * - Redis SIGKILLed mid-run and restarted from its AOF: no job lost, still no duplicate;
 * - BullMQ's global limiter holds across worker processes (job starts per window; the overall rate at the sink).
 * The crash run also on node-redis (producer, queue connection and `outbox-worker --driver node-redis`), a
 * quarter of the messages (at most 200).
 * Bounded by count and time: SMTPWIRE_OUTBOX_CRASH_MESSAGES (default 800), chaos at most 20 s.
 */

import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SmtpOutbox } from '../../src/outbox/index.js';
import { type ScriptedSmtpServer, startScriptedServer, waitFor } from '../../src/testing/index.js';
import { reportUnavailable } from '../conformance/unavailable.js';
import { crashRun, crashSummary, expectCrashSafe } from '../helpers/outbox-crash.js';
import { buildForWorkers, spawnWorker, type WorkerProcess } from '../helpers/outbox-workers.js';
import { type RedisInstance, redisAvailability, startRedis } from '../helpers/redis.js';

const availability = await redisAvailability();
const CRASH_MESSAGES = Number(process.env.SMTPWIRE_OUTBOX_CRASH_MESSAGES ?? 800);
const CHAOS_MAX_MS = 20_000;
const DRAIN_MAX_MS = 45_000;
const KILL_EVERY_MS = 300;

/** Message-ID header → times the sink received the whole message (after the final dot). */
function countByMessageId(server: ScriptedSmtpServer): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of server.messages) {
    const id = /^Message-ID: (<[^>]+>)/im.exec(m.data.toString('latin1'))?.[1] ?? '(none)';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

if (!availability.available) reportUnavailable(availability);
else
  describe('outbox worker processes (real redis-server)', () => {
    let redis: RedisInstance;
    let build: Awaited<ReturnType<typeof buildForWorkers>>;
    let server: ScriptedSmtpServer | undefined;
    let outbox: SmtpOutbox | undefined;
    let workers: WorkerProcess[] = [];
    let queueCount = 0;

    beforeAll(async () => {
      // SMTPWIRE_OUTBOX_WORKER_BUILD: run the workers from another build (to compare releases' crash figures).
      const other = process.env.SMTPWIRE_OUTBOX_WORKER_BUILD;
      [redis, build] = await Promise.all([
        startRedis(),
        other ? { dir: other, remove: async () => {} } : buildForWorkers(),
      ]);
    }, 120_000);
    afterAll(async () => {
      await redis?.stop();
      await build?.remove();
    });
    afterEach(async () => {
      for (const w of workers) w.child.kill('SIGKILL');
      await Promise.all(workers.map((w) => w.exited));
      workers = [];
      await outbox?.close();
      outbox = undefined;
      await server?.close();
      server = undefined;
    });

    function startWorker(queue: string, extra: string[] = []): WorkerProcess {
      const w = spawnWorker(build.dir, [
        '--redis',
        redis.url,
        '--queue',
        queue,
        '--concurrency',
        '16',
        '--lock-duration',
        '2000',
        '--stalled-interval',
        '1000',
        ...extra,
        '--plain',
        `127.0.0.1:${server!.port}`,
      ]);
      workers.push(w);
      return w;
    }

    async function sendAll(queue: string, n: number, subject: (i: number) => string): Promise<string[]> {
      outbox = new SmtpOutbox({ connection: { port: redis.port }, queueName: queue });
      const ids: string[] = [];
      for (let i = 0; i < n; i += 100) {
        const batch = Array.from({ length: Math.min(100, n - i) }, (_, k) =>
          outbox!.send({
            fromAddress: 'sender@example.com',
            toAddresses: ['rcpt@example.com'],
            subject: subject(i + k),
            textBody: `message ${i + k}\n${'x'.repeat(900)}`,
          }),
        );
        ids.push(...(await Promise.all(batch)));
      }
      return ids;
    }

    /** Every job's result JSON, once all are finished; throws with the stragglers' states after `deadline`. */
    async function results(ids: string[], deadline: number): Promise<Map<string, Record<string, unknown>>> {
      const done = new Map<string, Record<string, unknown>>();
      for (;;) {
        for (const id of ids) {
          if (done.has(id)) continue;
          const r = await outbox!.getResult(id);
          if (r !== null && typeof r === 'object') done.set(id, r);
        }
        if (done.size === ids.length) return done;
        if (Date.now() > deadline) {
          const open = ids.filter((id) => !done.has(id)).slice(0, 5);
          const states = await Promise.all(open.map((id) => outbox!.getResult(id)));
          throw new Error(`${ids.length - done.size} job(s) unfinished, e.g. ${JSON.stringify(states)}`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    }

    function statusCounts(all: Map<string, Record<string, unknown>>): Record<string, number> {
      const out: Record<string, number> = {};
      for (const r of all.values()) out[String(r.status)] = (out[String(r.status)] ?? 0) + 1;
      return out;
    }

    it(`crash: ${CRASH_MESSAGES} messages, 3 workers, one SIGKILLed every ~${KILL_EVERY_MS} ms: nothing lost, nothing sent twice`, async () => {
      const queue = `crash${++queueCount}`;
      outbox = new SmtpOutbox({ connection: redis.url, queueName: queue });
      const queueConnection = new Redis(redis.port, { maxRetriesPerRequest: null });
      try {
        const report = await crashRun({
          buildDir: build.dir,
          redisArgs: ['--redis', redis.url],
          outbox,
          queueConnection,
          queue,
          messages: CRASH_MESSAGES,
          killEveryMs: KILL_EVERY_MS,
          chaosMaxMs: CHAOS_MAX_MS,
          drainMaxMs: DRAIN_MAX_MS,
        });
        server = report.server;
        console.info(crashSummary('outbox crash test (single node)', report));
        expectCrashSafe(report);
        // The kills hit jobs in flight: some were picked up again after their worker died (stalled).
        expect(report.rerun).toBeGreaterThan(0);
      } finally {
        await queueConnection.quit();
      }
    }, 150_000);

    it(`crash on node-redis: ${Math.min(200, CRASH_MESSAGES / 4)} messages, 3 workers, one SIGKILLed every ~${KILL_EVERY_MS} ms: nothing lost, nothing sent twice`, async () => {
      const queue = `crash${++queueCount}`;
      const producer = createClient({ url: redis.url });
      const queueConnection = createClient({ url: redis.url });
      for (const c of [producer, queueConnection]) c.on('error', () => {});
      outbox = new SmtpOutbox({ connection: producer, queueName: queue });
      try {
        const report = await crashRun({
          buildDir: build.dir,
          redisArgs: ['--redis', redis.url, '--driver', 'node-redis'],
          outbox,
          queueConnection,
          queue,
          messages: Math.min(200, CRASH_MESSAGES / 4),
          killEveryMs: KILL_EVERY_MS,
          chaosMaxMs: CHAOS_MAX_MS,
          drainMaxMs: DRAIN_MAX_MS,
        });
        server = report.server;
        console.info(crashSummary('outbox crash test (single node, node-redis)', report));
        // Fewer messages finish sooner: the kills stop once every job finished.
        expectCrashSafe(report, 1);
      } finally {
        await outbox.close();
        outbox = undefined;
        await producer.destroy();
        await queueConnection.destroy();
      }
    }, 150_000);

    it('Redis SIGKILLed mid-run and restarted from its AOF: no job lost, none sent twice', async () => {
      const queue = `restart${++queueCount}`;
      server = await startScriptedServer({
        onCommand: (_s, _l, event) => (event === 'DATA_END' ? { delay: 2 } : undefined),
      });
      const ids = await sendAll(queue, 600, (i) => `r ${i}`);
      for (let i = 0; i < 3; i++) startWorker(queue);
      await waitFor(() => server!.messages.length >= 150, 30_000);
      await redis.kill();
      const atKill = server.messages.length;
      await new Promise((r) => setTimeout(r, 1000));
      await redis.restart();
      const all = await results(ids, Date.now() + 45_000);
      const counts = countByMessageId(server);
      console.info(
        `outbox Redis-restart test: killed at ${atKill} delivered, statuses ${JSON.stringify(statusCounts(all))}`,
      );
      expect(atKill).toBeLessThan(600);
      expect(all.size).toBe(600);
      expect([...counts].filter(([, n]) => n > 1)).toEqual([]);
      for (const [id, result] of all) {
        expect(['success', 'unknown'], `job ${id}`).toContain(result.status);
        if (result.status === 'success') expect(counts.get(String(result.message_id)), `job ${id}`).toBe(1);
      }
    }, 120_000);

    it('the global limiter holds across 3 worker processes (job starts per window; the overall rate at the sink)', async () => {
      const queue = `limit${++queueCount}`;
      const at: number[] = [];
      server = await startScriptedServer({
        onCommand: (_s, _l, event) => {
          if (event === 'DATA_END') at.push(Date.now());
          return undefined;
        },
      });
      const max = 10;
      const duration = 500;
      const n = 80;
      const ids = await sendAll(queue, n, (i) => `l ${i}`);
      const ws = [0, 1, 2].map((i) =>
        startWorker(queue, ['--limit', `${max}/${duration}`, ...(i === 0 ? ['--progress', '400', '--json'] : [])]),
      );
      await Promise.all(ws.map((w) => w.ready));
      await results(ids, Date.now() + 45_000);
      // The progress line (--json): this process's counts, its rate and the queue's depth, once per interval.
      await waitFor(() => /"queued":0/.test(ws[0]!.log()), 5000);
      const lines = ws[0]!
        .log()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map(
          (l) =>
            JSON.parse(l) as {
              delivered: number;
              failed: number;
              unknown: number;
              retry: number;
              rate: number;
              queued: number;
              active: number;
            },
        );
      expect(lines.length).toBeGreaterThan(2);
      const last = lines.at(-1)!;
      expect(Object.keys(last).sort()).toEqual(['active', 'delivered', 'failed', 'queued', 'rate', 'retry', 'unknown']);
      expect(last.delivered).toBeGreaterThan(0);
      expect(last.delivered).toBeLessThanOrEqual(n);
      expect(last.failed + last.unknown + last.retry).toBe(0);
      expect(Math.max(...lines.map((l) => l.queued))).toBeGreaterThan(0);
      at.sort((a, b) => a - b);
      const span = at.at(-1)! - at[0]!;
      // n messages at max per duration need at least (n / max − 1) whole windows; one window of slack
      // for the first messages' slower delivery (new SMTP connections), which shortens the span at the sink.
      const minimum = (n / max - 2) * duration;
      // The limiter governs when jobs start (BullMQ's processedOn); arrivals at the sink also carry each
      // send's latency, which a loaded machine bunches up, so the window check is on the starts.
      const client = new Redis(redis.port, { maxRetriesPerRequest: null });
      const q = new Queue(queue, { connection: client });
      const started = (await q.getJobs(['completed'], 0, -1)).map((j) => j.processedOn!).sort((a, b) => a - b);
      await q.close();
      await client.quit();
      let busiest = 0;
      for (let i = 0; i < started.length; i++) {
        let j = i;
        while (j < started.length && started[j]! - started[i]! < duration) j++;
        busiest = Math.max(busiest, j - i);
      }
      console.info(
        `outbox limiter test: ${n} messages in ${span} ms at the sink (minimum ${minimum}), busiest ${duration} ms of job starts: ${busiest}`,
      );
      expect(at).toHaveLength(n);
      expect(started).toHaveLength(n);
      expect(span).toBeGreaterThanOrEqual(minimum);
      // A fixed window lets a sliding one see at most two windows' worth.
      expect(busiest).toBeLessThanOrEqual(2 * max);
    }, 90_000);

    it('SIGTERM: the worker finishes the job in flight and exits 0', async () => {
      const queue = `term${++queueCount}`;
      server = await startScriptedServer({
        onCommand: (_s, _l, event) => (event === 'DATA_END' ? { delay: 1500 } : undefined),
      });
      // Progress lines while it runs; none once it closed.
      const w = startWorker(queue, ['--progress', '100']);
      await w.ready;
      const [id] = await sendAll(queue, 1, () => 'in flight at SIGTERM');
      await waitFor(() => server!.sessions.some((s) => s.commands.some((c) => c.verb === 'DATA')), 10_000);
      await waitFor(() => w.log().includes('progress: '), 1000);
      const atTerm = w.log();
      w.child.kill('SIGTERM');
      expect(await w.exited).toBe(0);
      expect(w.log()).toMatch(/smtpwire outbox-worker closed\n$/);
      // Progress stops at the signal, not at the end of the 1.5 s drain (at most a line already on its way).
      const after = w.log().slice(atTerm.length);
      expect(after.split('\n').filter((line) => line.startsWith('progress: ')).length).toBeLessThanOrEqual(1);
      expect(await outbox!.getResult(id!)).toMatchObject({ status: 'success' });
      expect(server.messages).toHaveLength(1);
    }, 60_000);
  });
