/**
 * The outbox on Redis Sentinel (real redis-server + redis-sentinel, test/helpers/redis-topologies.ts): a
 * primary, two replicas, three sentinels. The crash run (worker processes SIGKILLed repeatedly) while the
 * primary is SIGKILLed mid-run and the sentinels promote a replica: 0 lost, 0 unreported duplicates at the
 * sink. Each claim WAITs for a replica (`--claim-replicas 1`), so the promoted replica holds every claim
 * whose dot may have left.
 *
 * And the failover that loses a claim, made deterministic: the replication link is held (a relay in this
 * process) while a worker claims and writes the dot; as the dot arrives the worker and the primary are
 * SIGKILLed and the link is cut (a partition: the held claim never reaches the replica), and the replica is
 * promoted. Without a claim that waits for a replica, the promoted replica knows no claim and the
 * message goes out a second time, reported `success` (the hazard, shown). With `--claim-replicas 1` the dot
 * waits until the thawed replica has the claim, and the re-run on the promoted replica reports UNKNOWN.
 *
 * The crash run on each driver (the producer, the test's own queue connection and the worker processes all on
 * it): ioredis, and node-redis's `createSentinel()` (`outbox-worker --driver node-redis`); the lost claim with
 * `--claim-replicas 1` on each driver's workers too (WAIT must reach the primary on the claim's connection).
 * Bounded: SMTPWIRE_OUTBOX_TOPOLOGY_MESSAGES (default 400; node-redis half, at most 200), chaos at most 20 s.
 */
import { Redis } from 'ioredis';
import { createSentinel } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullmqConnection, SmtpOutbox } from '../../src/outbox/index.js';
import { startScriptedServer, waitFor } from '../../src/testing/index.js';
import { reportUnavailable } from '../conformance/unavailable.js';
import { failoverCrashRun, topologyMessages } from '../helpers/outbox-crash.js';
import { buildForWorkers, spawnWorker, type WorkerProcess } from '../helpers/outbox-workers.js';
import {
  SENTINEL_NAME,
  type SentinelSet,
  sentinelAvailability,
  startSentinelSet,
} from '../helpers/redis-topologies.js';

const availability = await sentinelAvailability();

if (!availability.available) reportUnavailable(availability);
else
  describe('outbox on Redis Sentinel (real redis-server + redis-sentinel)', () => {
    let set: SentinelSet;
    let build: Awaited<ReturnType<typeof buildForWorkers>>;

    beforeAll(async () => {
      [set, build] = await Promise.all([startSentinelSet({ replicas: 2 }), buildForWorkers()]);
    }, 120_000);
    afterAll(async () => {
      await set?.stop();
      await build?.remove();
    });

    for (const driver of ['ioredis', 'node-redis'] as const)
      it(`crash on ${driver}: ${topologyMessages(driver)} messages, workers SIGKILLed, the primary SIGKILLed and failed over: nothing lost, nothing sent twice`, async () => {
        const queue = `sentinel-${driver}`;
        // The caller's own Sentinel instances for the producer and the test's queue; the workers open theirs
        // from --sentinels (and --driver).
        const open = (): { connection: object; close: () => unknown } => {
          if (driver === 'ioredis') {
            const c = new Redis({ sentinels: set.sentinels, name: SENTINEL_NAME, maxRetriesPerRequest: null });
            c.on('error', () => {});
            return { connection: c, close: () => c.disconnect() };
          }
          const c = createSentinel({ name: SENTINEL_NAME, sentinelRootNodes: set.sentinels });
          c.on('error', () => {});
          // A plain BullMQ Queue takes a node-redis Sentinel only through bullmqConnection (the outbox's view).
          return { connection: bullmqConnection(c), close: () => c.destroy() };
        };
        const producer = open();
        const queueConnection = open();
        const outbox = new SmtpOutbox({ connection: producer.connection, queueName: queue });
        try {
          await failoverCrashRun(
            `outbox crash test (Sentinel, ${driver})`,
            {
              buildDir: build.dir,
              redisArgs: [
                '--sentinels',
                set.sentinels.map((s) => `${s.host}:${s.port}`).join(','),
                '--sentinel-name',
                SENTINEL_NAME,
                '--claim-replicas',
                '1',
                '--driver',
                driver,
              ],
              outbox,
              queueConnection: queueConnection.connection,
              queue,
              messages: topologyMessages(driver),
            },
            async () => {
              const failover = await set.killPrimary();
              // Back as a replica, so the next run (the other driver's) still has two to fail over to.
              await set.restart(failover.killed, { synced: true });
              return failover;
            },
          );
        } finally {
          await outbox.close();
          await producer.close();
          await queueConnection.close();
        }
      }, 170_000);

    for (const [claimReplicas, driver] of [
      [0, 'ioredis'],
      [1, 'ioredis'],
      [1, 'node-redis'],
    ] as const)
      it(`a failover that loses the last claim: ${claimReplicas ? `with --claim-replicas 1 (${driver} workers) the re-run reports UNKNOWN, one copy` : 'without a replicated claim the message goes out twice'}`, async () => {
        const lone = await startSentinelSet({ replicas: 1 });
        const [primary, replica] = lone.ports as [number, number];
        const workers: WorkerProcess[] = [];
        let thawed = false;
        let killedAtDot = false;
        const server = await startScriptedServer({
          onCommand: (_session, _line, event) => {
            // The claim comes after DATA and the body: let the link through a little later, during a claim's WAIT.
            if (event === 'DATA' && !thawed)
              setTimeout(() => {
                if (killedAtDot) return;
                thawed = true;
                lone.link.thaw();
              }, 300);
            if (event === 'DATA_END' && !killedAtDot) {
              // The dot arrived: the worker dies before it hears the 250 (no outcome recorded), the primary
              // before it replicates anything more.
              killedAtDot = true;
              for (const w of workers) w.child.kill('SIGKILL');
              lone.link.cut();
              lone.signal(primary, 'SIGKILL');
              return { delay: 200 };
            }
            return undefined;
          },
        });
        const connection = { sentinels: lone.sentinels, name: SENTINEL_NAME };
        const outbox = new SmtpOutbox({ connection, queueName: 'lost-claim' });
        const raw = new Redis({ ...connection, maxRetriesPerRequest: null });
        raw.on('error', () => {});
        const args = [
          '--sentinels',
          lone.sentinels.map((n) => `${n.host}:${n.port}`).join(','),
          '--sentinel-name',
          SENTINEL_NAME,
          '--queue',
          'lost-claim',
          '--lock-duration',
          '2000',
          '--stalled-interval',
          '1000',
          '--claim-replicas',
          String(claimReplicas),
          '--driver',
          driver,
          '--plain',
          `127.0.0.1:${server.port}`,
        ];
        try {
          const worker = spawnWorker(build.dir, args);
          workers.push(worker);
          await worker.ready;
          // The job is on both nodes (delayed); then the link is held before the worker takes it.
          const id = await outbox.send(
            { fromAddress: 'a@example.com', toAddresses: ['b@example.com'], subject: 'lost claim' },
            { delay: 1500 },
          );
          expect(Number(await raw.call('WAIT', 1, 2000))).toBe(1);
          lone.link.freeze();
          await waitFor(() => killedAtDot, 15_000);
          await waitFor(async () => (await lone.primaryPort()) === replica, 20_000, 200);
          // The old primary comes back as a replica (a claim can WAIT for it again); a new worker takes over.
          await lone.restart(primary);
          const next = spawnWorker(build.dir, args);
          workers.push(next);
          await next.ready;
          let result: Awaited<ReturnType<SmtpOutbox['getResult']>> = 'waiting';
          await waitFor(
            async () => {
              result = await outbox.getResult(id).catch(() => 'waiting' as const);
              return typeof result === 'object';
            },
            30_000,
            200,
          );
          const copies = server.messages.length;
          const status = (result as unknown as Record<string, unknown>).status;
          console.info(
            `outbox lost-claim failover, claimReplicas ${claimReplicas}: ${copies} copies at the sink, ${status}`,
          );
          if (claimReplicas === 0) {
            // The hazard: the promoted replica never saw the claim; the message went out twice, reported success.
            expect(copies).toBe(2);
            expect(status).toBe('success');
          } else {
            expect(copies).toBe(1);
            expect(status).toBe('unknown');
            expect((await outbox.listUnknown()).map((u) => u.jobId)).toEqual([id]);
          }
        } finally {
          for (const w of workers) w.child.kill('SIGKILL');
          await Promise.all(workers.map((w) => w.exited));
          await outbox.close();
          raw.disconnect();
          await server.close();
          await lone.stop();
        }
      }, 90_000);
  });
