/**
 * The outbox on Redis Cluster (real redis-server, cluster-enabled; test/helpers/redis-topologies.ts): three
 * primaries with a replica each, the queue name hash-tagged (`{mail}`) so BullMQ's keys and the hand-over
 * records share one slot. The crash run (worker processes SIGKILLed repeatedly) while the primary serving
 * the queue's slot is SIGKILLed and its replica takes over (the killed node then rejoins as its replica): 0
 * lost, 0 unreported duplicates at the sink. Claims WAIT for a replica (`--claim-replicas 1`), aimed at the
 * primary serving the queue's slot.
 * Bounded: SMTPWIRE_OUTBOX_TOPOLOGY_MESSAGES (default 400), chaos at most 20 s.
 */
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { SmtpOutbox } from '../../src/outbox/index.js';
import { reportUnavailable } from '../conformance/unavailable.js';
import { failoverCrashRun, TOPOLOGY_MESSAGES as MESSAGES } from '../helpers/outbox-crash.js';
import { buildForWorkers } from '../helpers/outbox-workers.js';
import { redisAvailability } from '../helpers/redis.js';
import { type RedisCluster, startCluster } from '../helpers/redis-topologies.js';

const availability = await redisAvailability();
const QUEUE = '{mail}';

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

    it(`crash: ${MESSAGES} messages, workers SIGKILLed, the queue's primary SIGKILLed and failed over: nothing lost, nothing sent twice`, async () => {
      // The caller's own ioredis Cluster for the producer; the workers open theirs from --cluster.
      const producer = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: null } });
      producer.on('error', () => {});
      const outbox = new SmtpOutbox({ connection: producer, queueName: QUEUE });
      const queueConnection = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: null } });
      queueConnection.on('error', () => {});
      try {
        await failoverCrashRun(
          'outbox crash test (Cluster)',
          {
            buildDir: build.dir,
            // Each claim WAITs for the replica of the slot's primary (aimed at that primary, not any node).
            redisArgs: [
              '--cluster',
              cluster.nodes.map((n) => `${n.host}:${n.port}`).join(','),
              '--claim-replicas',
              '1',
            ],
            outbox,
            queueConnection,
            queue: QUEUE,
          },
          async () => {
            const failover = await cluster.killPrimaryOf('{mail}');
            // Back as the new primary's replica, so claims can WAIT for one again.
            await cluster.restart(failover.killed);
            return failover;
          },
        );
      } finally {
        await outbox.close();
        producer.disconnect();
        queueConnection.disconnect();
      }
    }, 170_000);
  });
