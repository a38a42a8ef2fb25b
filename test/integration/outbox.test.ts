/**
 * The outbox against a real, private redis-server (test/helpers/redis.ts) and the scripted SMTP server,
 * worker in this process: semantics per status, idempotency, JSON safety, poison jobs, UNKNOWN never
 * resent, and the hand-over record deciding a re-run; all of it on both drivers, ioredis (options and URLs)
 * and a node-redis client instance. The multi-process crash, Redis-restart and limiter tests are in
 * outbox-processes.test.ts.
 */
import diagnostics from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createIORedisClient, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SmtpOutbox, SmtpOutboxWorker } from '../../src/outbox/index.js';
import { HandOverStore } from '../../src/outbox/store.js';
import { type ScriptedSmtpServer, startScriptedServer, waitFor } from '../../src/testing/index.js';
import { CERTS } from '../conformance/servers/process.js';
import { reportUnavailable } from '../conformance/unavailable.js';
import { type RedisInstance, redisAvailability, startRedis } from '../helpers/redis.js';

const availability = await redisAvailability();

const msg = (n: number | string) => ({
  fromAddress: 'sender@example.com',
  toAddresses: ['rcpt@example.com'],
  subject: `outbox ${n}`,
  textBody: `body ${n}`,
});

type Driver = 'ioredis' | 'node-redis';

if (!availability.available) reportUnavailable(availability);
else
  describe.each<Driver>(['ioredis', 'node-redis'])(
    'SmtpOutbox + SmtpOutboxWorker on %s (real redis-server)',
    (driver) => {
      let redis: RedisInstance;
      let server: ScriptedSmtpServer;
      let queueCount = 0;
      let queueName: string;
      const closers: (() => Promise<unknown>)[] = [];
      /** Run after every closer: servers the closers' clients are still connected to. */
      const lastly: (() => Promise<unknown>)[] = [];

      beforeAll(async () => {
        redis = await startRedis();
      });
      afterAll(async () => {
        await redis?.stop();
      });
      afterEach(async () => {
        for (const close of closers.splice(0).reverse()) await close();
        for (const close of lastly.splice(0)) await close();
        await server?.close();
      });

      /**
       * The `connection` the driver under test gets: ioredis options or a URL (alternately), or a node-redis
       * client of the caller's (closed by the test, after the outbox that uses it).
       */
      let connections = 0;
      function connection(port = redis.port): object | string {
        if (driver === 'node-redis') {
          const client = createClient({ url: `redis://127.0.0.1:${port}` });
          client.on('error', () => {});
          closers.unshift(async () => client.destroy());
          return client;
        }
        return ++connections % 2 ? { port } : `redis://127.0.0.1:${port}`;
      }

      /** A plain ioredis client for the test's own look into Redis. */
      function rawClient(): Redis {
        const client = new Redis(redis.port, { maxRetriesPerRequest: null });
        client.on('error', () => {});
        closers.push(() => client.quit());
        return client;
      }

      async function setup(
        script: Parameters<typeof startScriptedServer>[0] = {},
        worker: { attempts?: number; concurrency?: number; protocol?: 'lmtp'; attachmentRoot?: string } = {},
      ) {
        server = await startScriptedServer(script);
        queueName = `q${++queueCount}`;
        const outbox = new SmtpOutbox({
          connection: connection(),
          queueName,
          ...(worker.attempts ? { defaultJobOptions: { attempts: worker.attempts } } : {}),
        });
        closers.push(() => outbox.close());
        const w = new SmtpOutboxWorker({
          connection: connection(),
          queueName,
          concurrency: worker.concurrency ?? 4,
          ...(worker.attachmentRoot ? { attachmentRoot: worker.attachmentRoot } : {}),
          handler: {
            hostname: '127.0.0.1',
            port: server.port,
            encryption: 'none',
            retryPolicy: { delays: [20], jitter: 0 },
            ...(worker.protocol ? { protocol: worker.protocol } : {}),
          },
        });
        closers.push(() => w.close());
        await outbox.waitUntilReady();
        await w.waitUntilReady();
        return { outbox, worker: w };
      }

      async function finished(outbox: SmtpOutbox, jobId: string, timeout = 15_000) {
        let result: Awaited<ReturnType<SmtpOutbox['getResult']>> = 'waiting';
        await waitFor(async () => {
          result = await outbox.getResult(jobId);
          return typeof result === 'object';
        }, timeout);
        return result as unknown as Record<string, unknown>;
      }

      it('delivers a queued message and keeps its DeliveryResult JSON; the Message-ID is fixed at send', async () => {
        const { outbox } = await setup();
        const completed: string[] = [];
        outbox.on('completed', (id: string) => completed.push(id));
        await outbox.waitUntilReady();
        const jobId = await outbox.send(msg(1));
        const result = await finished(outbox, jobId);
        expect(result).toMatchObject({ status: 'success', smtp_code: 250, retry_count: 0 });
        expect(server.messages).toHaveLength(1);
        expect(server.messages[0]!.data.toString()).toContain(`Message-ID: ${result.message_id}`);
        await waitFor(() => completed.includes(jobId));
        expect(await outbox.getResult('no-such-job')).toBe('not-found');
        const later = await outbox.send(msg('later'), { delay: 60_000 });
        expect(await outbox.getResult(later)).toBe('delayed');
      });

      it('LMTP: delivered to some recipients, refused for a while by others: follow-ups to those alone, never re-run to all', async () => {
        const { outbox } = await setup(
          { lmtp: true, script: [{ on: 'LMTP_RCPT', match: /^busy@/, reply: '452 4.2.2 Mailbox busy' }] },
          { attempts: 3, protocol: 'lmtp' },
        );
        const jobId = await outbox.send({ ...msg('partial'), toAddresses: ['a@example.com', 'busy@example.com'] });
        const result = await finished(outbox, jobId);
        expect(result.delivered_recipients).toEqual(['a@example.com']);
        expect(Object.keys(result.recipient_failures as object)).toEqual(['busy@example.com']);
        await new Promise((r) => setTimeout(r, 300));
        // a@ once; the follow-ups went to busy@ alone (a re-run to all would have delivered to a@ again).
        expect(server.messages.map((m) => m.rcptTo)).toEqual([
          ['a@example.com', 'busy@example.com'],
          ['busy@example.com'],
          ['busy@example.com'],
        ]);
      });

      it('job data is untrusted: a file named by path is read only under the worker attachmentRoot', async () => {
        const root = mkdtempSync(join(tmpdir(), 'smtpwire-root-'));
        closers.push(async () => rmSync(root, { recursive: true, force: true }));
        writeFileSync(join(root, 'ok.txt'), 'inside the root');
        const { outbox } = await setup({}, { attachmentRoot: root });
        const outside = await outbox.send({
          ...msg('outside'),
          attachments: [{ filename: 'x', path: '/etc/hostname' }],
        });
        const climbsOut = await outbox.send({
          ...msg('escape'),
          attachments: [{ filename: 'x', path: join(root, '..', 'etc', 'hostname') }],
        });
        const inside = await outbox.send({
          ...msg('inside'),
          attachments: [{ filename: 'ok.txt', path: join(root, 'ok.txt') }],
        });
        for (const id of [outside, climbsOut]) {
          const result = await finished(outbox, id);
          expect(result.status).toBe('invalid');
          expect(String(result.smtp_error)).toContain('attachmentRoot');
        }
        expect((await finished(outbox, inside)).status).toBe('success');
        expect(server.messages).toHaveLength(1);
        expect(server.messages[0]!.data.toString()).toContain('Subject: outbox inside');
      });

      it('without attachmentRoot, no file named by job data is read', async () => {
        const { outbox } = await setup();
        const id = await outbox.send({ ...msg('p'), attachments: [{ filename: 'x', path: '/etc/hostname' }] });
        expect((await finished(outbox, id)).status).toBe('invalid');
        expect(server.messages).toHaveLength(0);
      });

      it('one job per jobId, and per Message-ID when no jobId is given', async () => {
        const { outbox } = await setup();
        const a = await outbox.send(msg('a'), { jobId: 'order-17' });
        const b = await outbox.send(msg('a-again'), { jobId: 'order-17' });
        const m = { ...msg('b'), messageId: '<fixed-1@example.com>' };
        const c = await outbox.send(m);
        const d = await outbox.send(m);
        expect(b).toBe(a);
        expect(d).toBe(c);
        await finished(outbox, a);
        await finished(outbox, c);
        await new Promise((r) => setTimeout(r, 200));
        expect(server.messages.map((x) => x.data.toString().match(/^Subject: (.*)$/m)?.[1]).sort()).toEqual([
          'outbox a',
          'outbox b',
        ]);
      });

      it('refuses what JSON cannot carry or a job must not carry, with the path named', async () => {
        const { outbox } = await setup();
        const cases: [Record<string, unknown>, RegExp][] = [
          [
            { ...msg(1), attachments: [{ filename: 'a', content: Buffer.from('x') }] },
            /attachments\[0\]\.content is binary/,
          ],
          [{ ...msg(1), attachments: [{ filename: 'a', content: Readable.from(['x']) }] }, /content is a stream/],
          [{ ...msg(1), signal: new AbortController().signal }, /signal cannot be queued/],
          [{ ...msg(1), dkim: { privateKey: 'k' } }, /private key must not travel/],
          [{ ...msg(1), date: new Date() }, /message\.date is a Date/],
          [{ ...msg(1), messageId: 'no-brackets' }, /messageId/],
        ];
        for (const [message, error] of cases) await expect(outbox.send(message as never)).rejects.toThrow(error);
        await expect(outbox.send(msg(1), { jobId: '12' })).rejects.toThrow(/jobId/);
        await expect(outbox.send(msg(1), { jobld: 'x' } as never)).rejects.toThrow(/did you mean 'jobId'/);
        // An attachment by base64 is fine.
        const ok = await outbox.send({ ...msg(2), attachments: [{ filename: 'a.bin', data: 'AAEC' }] });
        expect(await finished(outbox, ok)).toMatchObject({ status: 'success' });
      });

      it('sendRaw queues bytes with the message header Message-ID as the job key', async () => {
        const { outbox } = await setup();
        const raw =
          'From: a@example.com\r\nTo: b@example.com\r\nMessage-ID: <raw-1@example.com>\r\nSubject: raw\r\n\r\nhi\r\n';
        const id1 = await outbox.sendRaw({ from: 'a@example.com', to: ['b@example.com'] }, raw);
        const id2 = await outbox.sendRaw({ from: 'a@example.com', to: ['b@example.com'] }, Buffer.from(raw));
        expect(id2).toBe(id1);
        expect(await finished(outbox, id1)).toMatchObject({ status: 'success', message_id: '<raw-1@example.com>' });
        await expect(
          outbox.sendRaw({ from: 'a@example.com', to: ['b@example.com'] }, Readable.from([raw]) as never),
        ).rejects.toThrow(/stream/);
      });

      it('REJECTED and FAILED fail at once, without retry', async () => {
        const { outbox } = await setup({ script: [{ on: 'RCPT', match: /nobody/, reply: '550 5.1.1 No such user' }] });
        const failed: string[] = [];
        outbox.on('failed', (id: string, _reason: string, status: string) => failed.push(`${id}:${status}`));
        await outbox.waitUntilReady();
        const id = await outbox.send({ ...msg(1), toAddresses: ['nobody@example.com'] });
        const result = await finished(outbox, id);
        expect(result).toMatchObject({ status: 'rejected', smtp_code: 550 });
        expect(server.sessions.flatMap((s) => s.commands).filter((c) => c.verb === 'RCPT')).toHaveLength(1);
        await waitFor(() => failed.includes(`${id}:rejected`));
      });

      it('TEMP_FAILED is retried by the queue (one SMTP attempt per job attempt) until it succeeds or attempts run out', async () => {
        const { outbox } = await setup(
          { script: [{ on: 'MAIL', reply: '451 4.3.0 Try later', times: 2 }] },
          {
            attempts: 4,
          },
        );
        const id = await outbox.send(msg(1));
        expect(await finished(outbox, id)).toMatchObject({ status: 'success' });
        expect(server.sessions.flatMap((s) => s.commands).filter((c) => c.verb === 'MAIL')).toHaveLength(3);

        server.script = [{ on: 'MAIL', reply: '451 4.3.0 Try later' }];
        const id2 = await outbox.send(msg(2), { jobId: 'always-451' });
        expect(await finished(outbox, id2)).toMatchObject({
          status: 'temp_failed',
          is_retryable: true,
          retry_count: 3,
        });
      });

      it('UNKNOWN (connection dropped after the dot) fails the job, is listed, emitted, and never resent', async () => {
        const { outbox } = await setup({ script: [{ on: 'DATA_END', action: 'drop' }] });
        const unknown: string[] = [];
        outbox.on('unknown', (id: string) => unknown.push(id));
        await outbox.waitUntilReady();
        const id = await outbox.send(msg(1));
        const result = await finished(outbox, id);
        expect(result).toMatchObject({ status: 'unknown' });
        await waitFor(() => unknown.includes(id));
        await new Promise((r) => setTimeout(r, 300));
        expect(server.messages).toHaveLength(1);
        const listed = await outbox.listUnknown();
        expect(listed.map((u) => u.jobId)).toEqual([id]);
        expect(listed[0]!.messageId).toBe(result.message_id);
        // The operator checked: not delivered; resend it.
        server.script = [];
        await outbox.resolveUnknown(id, 'resend');
        await waitFor(async () => ((await outbox.getResult(id)) as { status?: string }).status === 'success', 10_000);
        expect(server.messages).toHaveLength(2);
        expect(await outbox.listUnknown()).toEqual([]);
      });

      it('hand-over records: only a delivery clears UNKNOWN; settled records expire, claims and UNKNOWNs do not', async () => {
        await setup();
        const client = rawClient();
        const store = new HandOverStore(createIORedisClient(client) as never, `test:${queueName}`);
        const key = `test:${queueName}:handover:j1`;
        expect(await store.claim('j1', 'run-a', '<j1@example.com>', 1)).toBe(true);
        expect(await client.call('PTTL', key)).toBe(-1);
        expect(await store.abandoned('j1', 'run-a', { status: 'unknown' })).toBe(true);
        // A late 'not-delivered' (a run that lost its lock) must not take the job off the UNKNOWN list.
        expect(await store.record('j1', 'run-a', 'not-delivered', { status: 'retry' })).toBe(false);
        expect((await store.read('j1')).state).toBe('unknown');
        expect((await store.listUnknown()).map((u) => u.jobId)).toEqual(['j1']);
        expect(await client.call('PTTL', key)).toBe(-1);
        // The truth does: a late delivery resolves it, and the settled record now expires.
        expect(await store.record('j1', 'run-a', 'delivered', { status: 'success' })).toBe(true);
        expect(await store.listUnknown()).toEqual([]);
        expect(Number(await client.call('PTTL', key))).toBeGreaterThan(0);
        // 'delivered' is final: a stale run's failure or UNKNOWN recorded over it would let a later claim resend.
        expect(await store.record('j1', 'stale-run', 'not-delivered', { status: 'retry' })).toBe(false);
        expect(await store.record('j1', 'stale-run', 'unknown', { status: 'unknown' })).toBe(false);
        expect((await store.read('j1')).state).toBe('delivered');
        expect(await store.claim('j1', 'run-b', '<j1@example.com>', 2)).toBe(false);
        // An operator's forget is for UNKNOWN records only: never a delivery, never a claim in progress.
        expect(await store.forget('j1')).toBe(false);
        expect((await store.read('j1')).state).toBe('delivered');
        expect(await store.claim('j2', 'run-c', '<j2@example.com>', 1)).toBe(true);
        expect(await store.forget('j2')).toBe(false);
        expect((await store.read('j2')).state).toBe('handing-over');
      });

      it('a re-run that finds a claimed hand-over without an outcome reports UNKNOWN and sends nothing', async () => {
        const { outbox } = await setup();
        // What a worker killed between its claim and its outcome leaves behind.
        const client = rawClient();
        const queue = new Queue(queueName, { connection: client });
        closers.push(() => queue.close());
        const store = new HandOverStore(createIORedisClient(client) as never, queue.toKey('smtpwire'));
        expect(await store.claim('crashed-1', 'dead-run', '<m@example.com>', 1)).toBe(true);
        // Another run cannot claim it while it is held.
        expect(await store.claim('crashed-1', 'other-run', '<m@example.com>', 1)).toBe(false);
        // The job as BullMQ's stalled check leaves it (stalled once), so the re-run reads the record first.
        const id = await outbox.send(msg(1), { jobId: 'crashed-1', delay: 300 });
        await client.call('HSET', queue.toKey(id), 'stc', 1);
        expect(await finished(outbox, id)).toMatchObject({ status: 'unknown' });
        expect(server.connectionCount).toBe(0);
        expect((await outbox.listUnknown()).map((u) => u.jobId)).toEqual([id]);
        // Without the stall mark the claim before the dot refuses it just the same: no message either.
        expect(await store.claim('crashed-2', 'dead-run', '<m2@example.com>', 1)).toBe(true);
        const id1 = await outbox.send(msg(1), { jobId: 'crashed-2' });
        expect(await finished(outbox, id1)).toMatchObject({ status: 'unknown' });
        expect(server.messages).toHaveLength(0);
        // A recorded delivery completes the re-run with the recorded result, again without sending.
        await store.record('delivered-1', 'dead-run', 'delivered', {
          status: 'success',
          message_id: '<d@example.com>',
        });
        const id2 = await outbox.send(msg(2), { jobId: 'delivered-1' });
        expect(await finished(outbox, id2)).toMatchObject({ status: 'success', message_id: '<d@example.com>' });
        expect(server.messages).toHaveLength(0);
      });

      it('a stalled re-run whose claim is released while it looks (its run was alive: a lost lock) sends, never fails the job', async () => {
        const { outbox } = await setup();
        const client = rawClient();
        const queue = new Queue(queueName, { connection: client });
        closers.push(() => queue.close());
        const store = new HandOverStore(createIORedisClient(client) as never, queue.toKey('smtpwire'));
        expect(await store.claim('released-1', 'live-run', '<r@example.com>', 1)).toBe(true);
        // The live run gives its claim back (its hand-over was refused, nothing sent) just as the re-run, having
        // read the claim, marks it UNKNOWN: the marking finds the claim changed.
        const original = HandOverStore.prototype.abandoned;
        const spy = vi.spyOn(HandOverStore.prototype, 'abandoned').mockImplementation(async function (
          this: HandOverStore,
          jobId,
          token,
          result,
        ) {
          if (jobId === 'released-1')
            await store.record(jobId, 'live-run', 'not-delivered', { status: 'retry', message_id: '<r@example.com>' });
          return original.call(this, jobId, token, result);
        });
        closers.push(async () => void spy.mockRestore());
        const id = await outbox.send(msg(1), { jobId: 'released-1', delay: 300 });
        await client.call('HSET', queue.toKey(id), 'stc', 1);
        expect(await finished(outbox, id)).toMatchObject({ status: 'success' });
        expect(server.messages).toHaveLength(1);
        expect(spy).toHaveBeenCalled();
        expect(await outbox.listUnknown()).toEqual([]);
      });

      it('a run that loses the claim to another run (a lost lock) sends no dot: UNKNOWN, or the other run’s delivery', async () => {
        // The "other run" acts while this run is in DATA: after its start check, before its claim.
        let other: ((jobId: string) => Promise<unknown>) | null = null;
        let jobUnderTest = '';
        const { outbox } = await setup({
          onCommand: async (_s, _l, event) => {
            if (event === 'DATA' && other) await other(jobUnderTest);
            return undefined;
          },
        });
        const client = rawClient();
        const queue = new Queue(queueName, { connection: client });
        closers.push(() => queue.close());
        const store = new HandOverStore(createIORedisClient(client) as never, queue.toKey('smtpwire'));

        jobUnderTest = 'race-claimed';
        other = (id) => store.claim(id, 'other-run', '<o@example.com>', 1);
        const a = await outbox.send(msg(1), { jobId: jobUnderTest });
        expect(await finished(outbox, a)).toMatchObject({ status: 'unknown' });
        expect((await outbox.listUnknown()).map((u) => u.jobId)).toContain(a);

        jobUnderTest = 'race-delivered';
        other = (id) =>
          store.record(id, 'other-run', 'delivered', { status: 'success', message_id: '<o2@example.com>' });
        const b = await outbox.send(msg(2), { jobId: jobUnderTest });
        expect(await finished(outbox, b)).toMatchObject({ status: 'success', message_id: '<o2@example.com>' });
        // Neither run of this worker wrote a final dot.
        await new Promise((r) => setTimeout(r, 100));
        expect(server.messages).toHaveLength(0);
      });

      it('a claim that reached Redis but whose reply was lost is released: the retry delivers, once', async () => {
        const { outbox } = await setup();
        const claim = HandOverStore.prototype.claim;
        const spy = vi.spyOn(HandOverStore.prototype, 'claim').mockImplementationOnce(async function (
          this: HandOverStore,
          ...args
        ) {
          await claim.apply(this, args);
          throw new Error('connection lost after the claim');
        });
        closers.push(async () => spy.mockRestore());
        const id = await outbox.send(msg(1));
        expect(await finished(outbox, id)).toMatchObject({ status: 'success' });
        expect(spy).toHaveBeenCalledTimes(2);
        expect(server.messages).toHaveLength(1);
      });

      it('a claim left open by a job BullMQ failed without the worker (too many stalls) is listed as UNKNOWN', async () => {
        const { outbox } = await setup();
        const client = rawClient();
        const queue = new Queue(queueName, { connection: client });
        closers.push(() => queue.close());
        const store = new HandOverStore(createIORedisClient(client) as never, queue.toKey('smtpwire'));
        // What a run that claimed and then stalled past maxStalledCount leaves: an open claim and a job that
        // BullMQ failed with its own reason (here a bare BullMQ worker on a queue of its own plays that part).
        const side = `${queueName}-side`;
        const sideQueue = new Queue(side, { connection: client });
        closers.push(() => sideQueue.close());
        const sideStore = new HandOverStore(createIORedisClient(client) as never, sideQueue.toKey('smtpwire'));
        const sideOutbox = new SmtpOutbox({ connection: connection(), queueName: side });
        closers.push(() => sideOutbox.close());
        const id = await sideOutbox.send(msg('stalled'), { jobId: 'stalled-out' });
        expect(await sideStore.claim(id, 'dead-run', '<s@example.com>', 1)).toBe(true);
        const bare = new Worker(
          side,
          async () => {
            throw new UnrecoverableError('job stalled more than allowable limit');
          },
          { connection: new Redis(redis.port, { maxRetriesPerRequest: null }) },
        );
        closers.push(async () => {
          await bare.close();
          await bare.disconnect();
        });
        await waitFor(async () => (await sideQueue.getJobState(id)) === 'failed');
        expect(await sideOutbox.getResult(id)).toMatchObject({ status: 'unknown' });
        const listed = await sideOutbox.listUnknown();
        expect(listed.map((u) => u.jobId)).toEqual([id]);
        expect(listed[0]!.messageId).toBe('<s@example.com>');
        expect(String(listed[0]!.result?.smtp_error)).toContain('job stalled more than allowable limit');
        // Listed once marked: the claim is now an UNKNOWN until an operator resolves it.
        expect((await sideStore.read(id)).state).toBe('unknown');
        expect(await sideStore.listClaims()).toEqual([]);
        // A claim of a job BullMQ has not ended (in flight, or waiting for its re-run) is not listed.
        const pending = await outbox.send(msg('pending'), { jobId: 'in-flight', delay: 60_000 });
        expect(await store.claim(pending, 'live-run', null, 1)).toBe(true);
        expect(await outbox.listUnknown()).toEqual([]);
      });

      it('a plain ioredis instance (maxRetriesPerRequest left at its default) or Cluster-less defaults are not thrown at the user', async () => {
        if (driver !== 'ioredis') return;
        server = await startScriptedServer();
        // BullMQ throws "maxRetriesPerRequest must be null" for such an instance on a worker: the worker
        // duplicates it with null instead, and leaves the caller's instance open and unchanged.
        const given = new Redis(redis.port);
        closers.unshift(() => given.quit());
        const outbox = new SmtpOutbox({ connection: given, queueName: 'plain-instance' });
        closers.push(() => outbox.close());
        const w = new SmtpOutboxWorker({
          connection: given,
          queueName: 'plain-instance',
          handler: { hostname: '127.0.0.1', port: server.port, encryption: 'none' },
        });
        closers.push(() => w.close());
        await w.waitUntilReady();
        const id = await outbox.send(msg('plain'));
        expect(await finished(outbox, id)).toMatchObject({ status: 'success' });
        await w.close();
        await outbox.close();
        expect(given.status).toBe('ready');
        expect(given.options.maxRetriesPerRequest).toBe(20);
      });

      it('publishes each attempt end on the smtpwire:outbox:job diagnostics channel', async () => {
        const { outbox } = await setup(
          {
            script: [{ on: 'MAIL', reply: '451 4.3.0 Try later', times: 1 }],
          },
          { attempts: 2 },
        );
        const seen: Record<string, unknown>[] = [];
        const listener = (m: unknown): void => void seen.push(m as Record<string, unknown>);
        diagnostics.subscribe('smtpwire:outbox:job', listener);
        closers.push(async () => diagnostics.unsubscribe('smtpwire:outbox:job', listener));
        const id = await outbox.send(msg('diag'));
        expect(await finished(outbox, id)).toMatchObject({ status: 'success' });
        await waitFor(() => seen.length >= 2);
        expect(seen.map((m) => [m.queue, m.jobId, m.outcome, m.status])).toEqual([
          [queueName, id, 'retry', 'retry'],
          [queueName, id, 'delivered', 'success'],
        ]);
        for (const m of seen) expect(m.durationMs).toBeGreaterThan(0);
      });

      it('poison job data fails INVALID at once and the worker goes on', async () => {
        const { outbox } = await setup();
        const queue = new Queue(queueName, { connection: rawClient() });
        closers.push(() => queue.close());
        const poison = [
          await queue.add('send', { hello: 'world' }),
          await queue.add('send', 'just a string'),
          await queue.add('send', { v: 1, kind: 'message', message: { messageId: '<p@example.com>', toAddresses: 7 } }),
          await queue.add('send', {
            v: 1,
            kind: 'raw',
            envelope: { from: 'a@example.com', to: [] },
            raw: { text: 'x' },
          }),
        ];
        const good = await outbox.send(msg('after poison'));
        for (const job of poison) {
          const r = await finished(outbox, job.id!);
          expect(r.status).toBe('invalid');
          expect((await queue.getJob(job.id!))!.attemptsMade).toBe(1);
        }
        expect(await finished(outbox, good)).toMatchObject({ status: 'success' });
      });

      it('close() is graceful: jobs in flight finish, then the worker stops taking jobs', async () => {
        const { outbox, worker } = await setup({ script: [{ on: 'DATA_END', delay: 300 }] });
        const ids = await Promise.all([1, 2, 3].map((n) => outbox.send(msg(n))));
        await waitFor(() => server.messages.length >= 1);
        await worker.close();
        const states = await Promise.all(ids.map((id) => outbox.getResult(id)));
        for (const s of states) if (typeof s === 'object') expect(s.status).toBe('success');
        const later = await outbox.send(msg('later'));
        await new Promise((r) => setTimeout(r, 300));
        expect(await outbox.getResult(later)).toBe('waiting');
      });

      it('over TLS with a password (rediss); a wrong password or an untrusted certificate delivers nothing', async () => {
        const secure = await startRedis({ tls: true, password: 's3cret-pass' });
        lastly.push(() => secure.stop());
        server = await startScriptedServer();
        const ca = readFileSync(CERTS.ca, 'utf8');
        const conn = (password: string, trusted = true): object => {
          if (driver === 'node-redis') {
            const client = createClient({
              url: `rediss://127.0.0.1:${secure.port}`,
              password,
              socket: { tls: true, ...(trusted ? { ca } : {}), servername: 'localhost', reconnectStrategy: 200 },
            });
            client.on('error', () => {});
            closers.unshift(async () => client.destroy());
            return client;
          }
          return {
            host: '127.0.0.1',
            port: secure.port,
            password,
            tls: { ...(trusted ? { ca } : {}), servername: 'localhost' },
          };
        };
        const outbox = new SmtpOutbox({ connection: conn('s3cret-pass'), queueName: 'tls' });
        closers.push(() => outbox.close());
        const w = new SmtpOutboxWorker({
          connection: conn('s3cret-pass'),
          queueName: 'tls',
          handler: { hostname: '127.0.0.1', port: server.port, encryption: 'none' },
        });
        closers.push(() => w.close());
        const id = await outbox.send(msg('tls'));
        expect(await finished(outbox, id)).toMatchObject({ status: 'success' });

        for (const bad of [conn('wrong-pass'), conn('s3cret-pass', false)]) {
          const other = new SmtpOutbox({ connection: bad, queueName: 'tls' });
          closers.push(() => other.close());
          const outcome = await Promise.race([
            other.send(msg('never')).then(
              () => 'sent',
              (e: Error) => e.message,
            ),
            new Promise((r) => setTimeout(() => r('not connected'), 1500)),
          ]);
          expect(outcome).not.toBe('sent');
          expect(String(outcome)).not.toContain('wrong-pass');
        }
        expect(server.messages).toHaveLength(1);
      });

      it('waits for a Redis that is not up yet, and close() returns while Redis is down', async () => {
        // ioredis only: a node-redis client whose first connect fails rejects BullMQ's initialisation for good
        // (README "Outbox": start it against a reachable Redis, or use ioredis).
        if (driver !== 'ioredis') return;
        const late = await startRedis();
        lastly.push(() => late.stop());
        await late.kill();
        server = await startScriptedServer();
        const w = new SmtpOutboxWorker({
          connection: connection(late.port),
          queueName: 'late',
          handler: { hostname: '127.0.0.1', port: server.port, encryption: 'none' },
        });
        const outbox = new SmtpOutbox({ connection: connection(late.port), queueName: 'late' });
        closers.push(() => outbox.close());
        const ready = Promise.all([w.waitUntilReady(), outbox.waitUntilReady()]);
        await new Promise((r) => setTimeout(r, 500));
        await late.restart();
        await ready;
        const id = await outbox.send(msg('late'));
        expect(await finished(outbox, id)).toMatchObject({ status: 'success' });
        await late.kill();
        const t0 = Date.now();
        await w.close();
        // Bounded: Redis unreachable for 5 s cuts the connections instead of waiting for it.
        expect(Date.now() - t0).toBeLessThan(15_000);
      }, 60_000);

      it('rejects unknown or bad options with the key named', () => {
        expect(() => new SmtpOutbox({ connection: { port: 1 }, queueNmae: 'x' } as never)).toThrow(/queueName/);
        expect(() => new SmtpOutbox({ connection: 'http://127.0.0.1:6379' })).toThrow(/redis:\/\//);
        expect(() => new SmtpOutbox({ connection: { keyPrefix: 'x:' } })).toThrow(/keyPrefix/);
        expect(() => new SmtpOutbox({ connection: { duplicate() {} } })).toThrow(/ioredis .* or node-redis/);
        expect(() => new SmtpOutbox({ connection: 6379 as never })).toThrow(/connection must be/);
        expect(() => new SmtpOutboxWorker({ connection: 'redis://127.0.0.1:1', handler: undefined as never })).toThrow(
          /handler/,
        );
        expect(
          () =>
            new SmtpOutboxWorker({
              connection: 'redis://127.0.0.1:1',
              handler: { hostname: 'x' },
              limiter: { max: 0, duration: 1 },
            }),
        ).toThrow(/limiter/);
      });

      it('delay and priority follow options.ts: an integer ≥ 0, the key named', async () => {
        const { outbox } = await setup();
        for (const bad of [{ delay: -1 }, { priority: 1.5 }, { delay: '5' }])
          await expect(outbox.send(msg(1), bad as never)).rejects.toMatchObject({
            code: 'ERR_SMTP_INVALID_ARGUMENT',
            field: Object.keys(bad)[0],
          });
      });
    },
  );
