/**
 * The outbox on Redis Cluster (real redis-server, cluster-enabled; test/helpers/redis-topologies.ts): three
 * primaries with a replica each, the queue name hash-tagged (`{mail}`) so BullMQ's keys and the hand-over
 * records share one slot. The crash run (worker processes SIGKILLed repeatedly) while the primary serving
 * the queue's slot is SIGKILLed and its replica takes over (the killed node then rejoins as its replica): 0
 * lost, 0 unreported duplicates at the sink. Claims WAIT for a replica (`--claim-replicas 1`), aimed at the
 * primary serving the queue's slot.
 * And, on each driver, that a claim's WAIT goes to the connection the claim went on, to the slot's primary:
 * with that primary's replica SIGSTOPped it must answer 0 (sent on any other connection, or to another
 * primary, it would answer 1 at once: that connection wrote nothing the replica lacks).
 * The crash run on each driver (the producer, the test's own queue connection and the worker processes all on it):
 * ioredis, and node-redis's `createCluster()` (`outbox-worker --driver node-redis`).
 * Bounded: SMTPWIRE_OUTBOX_TOPOLOGY_MESSAGES (default 400; node-redis half, at most 200), chaos at most 20 s.
 */
import { Cluster } from 'ioredis';
import { createCluster } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitOn } from '../../src/outbox/claim-replicas.js';
import { connectionFor, openConnection } from '../../src/outbox/connection.js';
import { bullmqConnection, SmtpOutbox } from '../../src/outbox/index.js';
import { HandOverStore } from '../../src/outbox/store.js';
import { waitFor } from '../../src/testing/index.js';
import { reportUnavailable } from '../conformance/unavailable.js';
import { failoverCrashRun, topologyMessages } from '../helpers/outbox-crash.js';
import { buildForWorkers } from '../helpers/outbox-workers.js';
import { redisAvailability } from '../helpers/redis.js';
import { type RedisCluster, startCluster } from '../helpers/redis-topologies.js';

const availability = await redisAvailability();
/** One queue (and slot) per driver's run, hash-tagged. */
const QUEUE = { ioredis: '{mail}', 'node-redis': '{mail-nr}' } as const;

if (!availability.available) reportUnavailable(availability);
else
  describe('outbox on Redis Cluster (real redis-server, 3 primaries + 3 replicas)', () => {
    let cluster: RedisCluster;
    let build: Awaited<ReturnType<typeof buildForWorkers>>;

    beforeAll(async () => {
      [cluster, build] = await Promise.all([startCluster(), buildForWorkers()]);
    }, 120_000);
    afterAll(async () => {
      await cluster?.stop();
      await build?.remove();
    });

    for (const driver of ['ioredis', 'node-redis'] as const)
      it(`WAIT on ${driver} goes to the slot's primary, on the claim's own connection`, async () => {
        // The worker's connection, opened as outbox-worker --cluster --driver opens it.
        const given = await connectionFor(driver, { cluster: cluster.nodes });
        const opened = await openConnection(given.connection, { blocking: true });
        const store = new HandOverStore(opened.store!, 'bull:{wait}:smtpwire');
        const key = store.recordKey(driver);
        const replicas = await cluster.replicasOf('{wait}');
        expect(replicas.length).toBeGreaterThan(0);
        try {
          // A worker uses the store once BullMQ is ready; here, once the client is.
          await waitFor(() => (opened.store as unknown as { status: string }).status === 'ready', 10_000);
          expect(await store.read(driver)).toMatchObject({ state: null });
          // A fresh cluster's replicas may still be syncing: WAIT answers 1 once the slot's replica is online.
          expect(await store.claim(`${driver}-0`, 'token', null, 1)).toBe(true);
          await waitFor(async () => (await waitOn(opened.command!, 1, 1000, key)) === 1, 15_000);
          // Stopped for less than the node timeout (1 s): no failover, but no replication acknowledgement either.
          for (const port of replicas) cluster.signal(port, 'SIGSTOP');
          try {
            expect(await store.claim(driver, 'token', null, 1)).toBe(true);
            expect(await waitOn(opened.command!, 1, 300, key)).toBe(0);
          } finally {
            for (const port of replicas) cluster.signal(port, 'SIGCONT');
          }
          expect(await waitOn(opened.command!, 1, 5000, key)).toBe(1);
        } finally {
          await opened.close();
          await given.close();
        }
      }, 30_000);

    for (const driver of ['ioredis', 'node-redis'] as const)
      it(`crash on ${driver}: ${topologyMessages(driver)} messages, workers SIGKILLed, the queue's primary SIGKILLed and failed over: nothing lost, nothing sent twice`, async () => {
        // The caller's own Cluster instances for the producer and the test's queue; the workers open theirs
        // from --cluster (and --driver).
        const open = (): { connection: object; close: () => unknown } => {
          if (driver === 'ioredis') {
            const c = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: null } });
            c.on('error', () => {});
            return { connection: c, close: () => c.disconnect() };
          }
          const c = createCluster({ rootNodes: cluster.nodes.map((n) => ({ socket: n })) });
          c.on('error', () => {});
          // A plain BullMQ Queue takes a node-redis Cluster only through bullmqConnection (the outbox's view).
          return { connection: bullmqConnection(c), close: () => c.destroy() };
        };
        const producer = open();
        const queue = open();
        const outbox = new SmtpOutbox({ connection: producer.connection, queueName: QUEUE[driver] });
        try {
          await failoverCrashRun(
            `outbox crash test (Cluster, ${driver})`,
            {
              buildDir: build.dir,
              // Each claim WAITs for the replica of the slot's primary (aimed at that primary, not any node).
              redisArgs: [
                '--cluster',
                cluster.nodes.map((n) => `${n.host}:${n.port}`).join(','),
                '--claim-replicas',
                '1',
                '--driver',
                driver,
              ],
              outbox,
              queueConnection: queue.connection,
              queue: QUEUE[driver],
              messages: topologyMessages(driver),
            },
            async () => {
              const failover = await cluster.killPrimaryOf(QUEUE[driver]);
              // Back as the new primary's replica, so claims can WAIT for one again.
              await cluster.restart(failover.killed, { synced: true });
              return failover;
            },
          );
        } finally {
          await outbox.close();
          await producer.close();
          await queue.close();
        }
      }, 170_000);
  });
