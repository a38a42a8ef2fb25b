/**
 * The outbox on PostgreSQL (BullMQ's PostgreSQL backend, the hand-over records in a table), against a private
 * Debian `postgres` (fsync on, synchronous_commit on) started here:
 * - the hand-over table keeps the Redis store's rules (claim refusals, only a delivery clears UNKNOWN, expiry);
 * - a worker started while PostgreSQL is down waits for it (and close() does not wait for it);
 * - SmtpOutbox + SmtpOutboxWorker deliver, a user's own BullMQ Queue sees the jobs and return values, a re-run
 *   that finds an open claim reports UNKNOWN and sends nothing, and resolveUnknown('resend') delivers it once;
 * - the crash run: `smtpwire outbox-worker --postgres` processes SIGKILLed repeatedly and PostgreSQL itself
 *   shut down immediately (SIGQUIT, WAL replay on restart) mid-run: 0 lost, 0 unreported duplicates.
 * Bounded: SMTPWIRE_OUTBOX_TOPOLOGY_MESSAGES (default 400) messages, chaos at most 20 s.
 */
import { createPostgresBackend, Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { SmtpOutbox, SmtpOutboxWorker } from '../../src/outbox/index.js';
import { openPostgres } from '../../src/outbox/postgres/connection.js';
import { type ScriptedSmtpServer, startScriptedServer, waitFor } from '../../src/testing/index.js';
import { reportUnavailable } from '../conformance/unavailable.js';
import { crashRun, crashSummary, expectCrashSafe, TOPOLOGY_MESSAGES } from '../helpers/outbox-crash.js';
import { buildForWorkers } from '../helpers/outbox-workers.js';
import { type PostgresInstance, postgresAvailability, startPostgres } from '../helpers/postgres.js';

const availability = await postgresAvailability();

const msg = (n: number | string) => ({
  messageId: `<pg-${n}-${process.pid}@example.com>`,
  fromAddress: 'sender@example.com',
  toAddresses: ['rcpt@example.com'],
  subject: `m ${n}`,
  textBody: `message ${n}`,
});

async function finished(outbox: SmtpOutbox, id: string): Promise<Record<string, unknown>> {
  let result: unknown;
  await waitFor(async () => {
    result = await outbox.getResult(id);
    return typeof result === 'object';
  }, 15_000);
  return result as Record<string, unknown>;
}

if (!availability.available) reportUnavailable(availability);
else
  describe('outbox on PostgreSQL (real postgres)', () => {
    let pg: PostgresInstance;
    let build: Awaited<ReturnType<typeof buildForWorkers>>;
    const closers: (() => Promise<unknown>)[] = [];
    let queueCount = 0;

    beforeAll(async () => {
      [pg, build] = await Promise.all([startPostgres(), buildForWorkers()]);
    }, 120_000);
    afterAll(async () => {
      await pg?.stop();
      await build?.remove();
    });
    afterEach(async () => {
      for (const close of closers.splice(0).reverse()) await close();
    });

    it('refuses a malformed postgres connection with a typed error naming it', () => {
      for (const [connection, field] of [
        [{ postgres: 5 }, 'connection.postgres'],
        [{ postgres: 'redis://x' }, 'connection.postgres'],
        [{ postgres: 'postgres://x', host: 'y' }, 'connection'],
        [{ postgres: { schema: 'mail' } }, 'connection.postgres.schema'],
      ] as const) {
        let err: unknown;
        try {
          new SmtpOutbox({ connection: connection as never });
        } catch (e) {
          err = e;
        }
        expect(err, JSON.stringify(connection)).toBeInstanceOf(InvalidArgumentError);
        expect((err as InvalidArgumentError).field).toBe(field);
      }
    });

    it('hand-over records: the Redis store’s rules, in a table (claims, only a delivery clears UNKNOWN, expiry)', async () => {
      const opened = await openPostgres(pg.url);
      closers.push(() => opened.close());
      const name = `rules-${++queueCount}`;
      const store = opened.handOver({ name });
      const other = opened.handOver({ name: `rules-${++queueCount}` });
      expect(await store.claim('j1', 'run-a', '<j1@example.com>', 1)).toBe(true);
      // The same run may claim again; another may not; another queue's job of the same id is its own.
      expect(await store.claim('j1', 'run-a', '<j1@example.com>', 1)).toBe(true);
      expect(await store.claim('j1', 'run-b', '<j1@example.com>', 2)).toBe(false);
      expect(await other.claim('j1', 'run-b', '<j1@example.com>', 1)).toBe(true);
      expect((await store.listClaims()).map((c) => c.jobId)).toEqual(['j1']);
      // A stale run records nothing over a claim in progress.
      expect(await store.record('j1', 'run-b', 'not-delivered', { status: 'retry' })).toBe(false);
      expect(await store.abandoned('j1', 'run-b', { status: 'unknown' })).toBe(false);
      expect(await store.abandoned('j1', 'run-a', { status: 'unknown' })).toBe(true);
      expect(await store.listClaims()).toEqual([]);
      // A late 'not-delivered' must not take the job off the UNKNOWN list; a claim is refused while UNKNOWN.
      expect(await store.record('j1', 'run-a', 'not-delivered', { status: 'retry' })).toBe(false);
      expect(await store.claim('j1', 'run-c', null, 3)).toBe(false);
      expect((await store.read('j1')).state).toBe('unknown');
      expect((await store.listUnknown()).map((u) => u.jobId)).toEqual(['j1']);
      // The truth does: a late delivery resolves it.
      expect(
        await store.record('j1', 'run-a', 'delivered', { status: 'success', message_id: '<j1@example.com>' }),
      ).toBe(true);
      expect(await store.listUnknown()).toEqual([]);
      expect(await store.read('j1')).toMatchObject({
        state: 'delivered',
        token: 'run-a',
        messageId: '<j1@example.com>',
        attempt: 1,
        result: { status: 'success' },
      });
      // 'delivered' is final: no stale failure or UNKNOWN over it, no new claim, no forget.
      expect(await store.record('j1', 'stale', 'not-delivered', { status: 'retry' })).toBe(false);
      expect(await store.record('j1', 'stale', 'unknown', { status: 'unknown' })).toBe(false);
      expect(await store.claim('j1', 'run-d', null, 4)).toBe(false);
      expect(await store.forget('j1')).toBe(false);
      // Not delivered: a later run may claim it.
      expect(await store.record('j2', 'run-a', 'not-delivered', { status: 'retry' })).toBe(true);
      expect(await store.claim('j2', 'run-b', null, 2)).toBe(true);
      expect(await store.forget('j2')).toBe(false);
      // Forget: UNKNOWN records and absent ones only.
      expect(await store.record('j3', 'run-a', 'unknown', { status: 'unknown' })).toBe(true);
      expect(await store.forget('j3')).toBe(true);
      expect((await store.read('j3')).state).toBe(null);
      expect(await store.forget('never-there')).toBe(true);
      // Settled records expire (then read as absent and may be claimed); claims and UNKNOWNs never do.
      const pool = opened.bullmq as {
        query(t: string, v: unknown[]): Promise<{ rows: { job_id: string; expires: boolean }[] }>;
      };
      const { rows } = await pool.query(
        'SELECT job_id, expires_at IS NOT NULL AS expires FROM smtpwire_handover WHERE queue = $1 ORDER BY job_id',
        [name],
      );
      expect(rows).toEqual([
        { job_id: 'j1', expires: true },
        { job_id: 'j2', expires: false },
      ]);
      await pool.query(`UPDATE smtpwire_handover SET expires_at = 1 WHERE queue = $1 AND job_id = 'j1'`, [name]);
      expect((await store.read('j1')).state).toBe(null);
      expect(await store.claim('j1', 'run-e', null, 5)).toBe(true);
      // Expired rows are deleted as records go on (every 1,000 records), whichever queue they belong to.
      await other.record('old', 'run-a', 'delivered', { status: 'success' });
      await pool.query(`UPDATE smtpwire_handover SET expires_at = 1 WHERE job_id = 'old'`, []);
      const count = async () =>
        Number(
          ((await pool.query(`SELECT count(*) AS job_id FROM smtpwire_handover WHERE job_id = 'old'`, [])).rows[0]!
            .job_id as unknown as string) ?? 0,
        );
      expect(await count()).toBe(1);
      for (let i = 0; i < 1000; i += 50)
        await Promise.all(
          Array.from({ length: 50 }, (_, k) =>
            store.record(`bulk-${i + k}`, 'run', 'not-delivered', { status: 'retry' }),
          ),
        );
      expect(await count()).toBe(0);
    }, 30_000);

    it('delivers through SmtpOutboxWorker; a plain BullMQ Queue on the PostgreSQL backend sees the jobs', async () => {
      const server: ScriptedSmtpServer = await startScriptedServer();
      closers.push(() => server.close());
      const queueName = `e2e-${++queueCount}`;
      const outbox = new SmtpOutbox({ connection: pg.url, queueName });
      closers.push(() => outbox.close());
      const completed: string[] = [];
      outbox.on('completed', (id: string) => completed.push(id));
      const worker = new SmtpOutboxWorker({
        connection: { postgres: { connectionString: pg.url } },
        queueName,
        handler: { hostname: '127.0.0.1', port: server.port, encryption: 'none' },
      });
      closers.push(() => worker.close());
      await outbox.waitUntilReady();
      const ids = await Promise.all([1, 2, 3].map((n) => outbox.send(msg(n))));
      for (const id of ids) expect(await finished(outbox, id)).toMatchObject({ status: 'success' });
      expect(server.messages).toHaveLength(3);
      // Submitting the same Message-ID again adds nothing.
      const again = await outbox.send(msg(1));
      expect(again).toBe(ids[0]);
      await new Promise((r) => setTimeout(r, 300));
      expect(server.messages).toHaveLength(3);
      await waitFor(() => completed.length === 3, 5000);
      const queue = new Queue(queueName, { connection: pg.url }, createPostgresBackend);
      closers.push(() => queue.close());
      const job = await queue.getJob(ids[0]!);
      expect(job?.returnvalue).toMatchObject({ status: 'success' });
      expect(await queue.getJobCounts('completed')).toMatchObject({ completed: 3 });
      expect(await worker.counts()).toMatchObject({ completed: 3, waiting: 0, active: 0 });
    });

    it('a re-run that finds an open claim reports UNKNOWN and sends nothing; resolveUnknown(resend) delivers once', async () => {
      const server = await startScriptedServer();
      closers.push(() => server.close());
      const queueName = `rerun-${++queueCount}`;
      const opened = await openPostgres(pg.url);
      closers.push(() => opened.close());
      // What a worker killed between its claim and its outcome leaves behind.
      const store = opened.handOver({ name: queueName });
      expect(await store.claim('crashed-1', 'dead-run', '<m@example.com>', 1)).toBe(true);
      const outbox = new SmtpOutbox({ connection: pg.url, queueName });
      closers.push(() => outbox.close());
      const unknown: string[] = [];
      outbox.on('unknown', (id: string) => unknown.push(id));
      const worker = new SmtpOutboxWorker({
        connection: pg.url,
        queueName,
        handler: { hostname: '127.0.0.1', port: server.port, encryption: 'none' },
      });
      closers.push(() => worker.close());
      await outbox.waitUntilReady();
      const id = await outbox.send(msg('crashed'), { jobId: 'crashed-1' });
      expect(await finished(outbox, id)).toMatchObject({ status: 'unknown' });
      expect(server.messages).toHaveLength(0);
      const listed = await outbox.listUnknown();
      expect(listed.map((u) => u.jobId)).toEqual([id]);
      expect(listed[0]!.messageId).toBe('<m@example.com>');
      // The event comes through QueueEvents (PostgreSQL's NOTIFY): a bound for a loaded machine, not a timing.
      await waitFor(() => unknown.length === 1, 20_000);
      await outbox.resolveUnknown(id, 'resend');
      await waitFor(async () => ((await outbox.getResult(id)) as { status?: string }).status === 'success', 10_000);
      expect(server.messages).toHaveLength(1);
      expect(await outbox.listUnknown()).toEqual([]);
      // A delivery is not UNKNOWN: nothing to resolve.
      await expect(outbox.resolveUnknown(id, 'drop')).rejects.toMatchObject({ code: 'ERR_SMTP_INVALID_STATE' });
    });

    it('a worker started while PostgreSQL is down waits for it, then delivers; close() returns while it waits or with the server gone', async () => {
      const server = await startScriptedServer();
      closers.push(() => server.close());
      const queueName = `down-${++queueCount}`;
      const handler = { hostname: '127.0.0.1', port: server.port, encryption: 'none' as const };
      await pg.crash();
      const waiting = new SmtpOutboxWorker({ connection: pg.url, queueName, handler });
      const closed = new SmtpOutboxWorker({ connection: pg.url, queueName, handler });
      closers.push(() => waiting.close());
      await new Promise((r) => setTimeout(r, 500));
      const t = Date.now();
      await closed.close();
      expect(Date.now() - t).toBeLessThan(2000);
      await expect(closed.waitUntilReady()).rejects.toThrow();
      await pg.restart();
      await waiting.waitUntilReady();
      const outbox = new SmtpOutbox({ connection: pg.url, queueName });
      closers.push(() => outbox.close());
      const id = await outbox.send(msg('after-restart'));
      expect(await finished(outbox, id)).toMatchObject({ status: 'success' });
      expect(server.messages).toHaveLength(1);
      // With the server gone, close() does not wait for it.
      await pg.crash();
      const t2 = Date.now();
      await waiting.close();
      await outbox.close();
      expect(Date.now() - t2).toBeLessThan(5000);
      await pg.restart();
    }, 30_000);

    it('crash: worker processes SIGKILLed and PostgreSQL shut down immediately mid-run, 0 lost, 0 duplicated', async () => {
      const queue = `crash-${++queueCount}`;
      const outbox = new SmtpOutbox({ connection: pg.url, queueName: queue });
      closers.push(() => outbox.close());
      outbox.on('error', () => {});
      let restartMs = 0;
      const report = await crashRun({
        buildDir: build.dir,
        redisArgs: ['--postgres', pg.url],
        outbox,
        queueConnection: pg.url,
        queueBackend: createPostgresBackend,
        queue,
        messages: TOPOLOGY_MESSAGES,
        workers: 2,
        chaosMaxMs: 20_000,
        drainMaxMs: 45_000,
        during: {
          afterDelivered: Math.floor(TOPOLOGY_MESSAGES / 3),
          run: async () => {
            const t = Date.now();
            await pg.crash();
            await pg.restart();
            restartMs = Date.now() - t;
          },
        },
      });
      try {
        console.info(`${crashSummary('postgres', report)}; postgres down and back in ${restartMs} ms`);
        expect(restartMs).toBeGreaterThan(0);
        expectCrashSafe(report, 1);
      } finally {
        await report.server.close();
      }
    }, 120_000);
  });
