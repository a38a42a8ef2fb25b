/**
 * The outbox on Redis Sentinel (real redis-server + redis-sentinel, test/helpers/redis-topologies.ts): a
 * primary, two replicas, three sentinels. The crash run (worker processes SIGKILLed repeatedly) while the
 * primary is SIGKILLed mid-run and the sentinels promote a replica: 0 lost, 0 unreported duplicates at the
 * sink. Each claim WAITs for a replica (`--claim-replicas 1`), so the promoted replica holds every claim
 * whose dot may have left. Bounded: SMTPWIRE_OUTBOX_TOPOLOGY_MESSAGES (default 400), chaos at most 25 s.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpOutbox } from '../../src/outbox/index.js';
import { reportUnavailable } from '../conformance/unavailable.js';
import { crashRun, crashSummary, expectCrashSafe } from '../helpers/outbox-crash.js';
import { buildForWorkers } from '../helpers/outbox-workers.js';
import {
  SENTINEL_NAME,
  type SentinelSet,
  sentinelAvailability,
  startSentinelSet,
} from '../helpers/redis-topologies.js';

const availability = await sentinelAvailability();
const MESSAGES = Number(process.env.SMTPWIRE_OUTBOX_TOPOLOGY_MESSAGES ?? 400);

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

    it(`crash: ${MESSAGES} messages, workers SIGKILLed, the primary SIGKILLed and failed over: nothing lost, nothing sent twice`, async () => {
      const connection = { sentinels: set.sentinels, name: SENTINEL_NAME };
      const outbox = new SmtpOutbox({ connection, queueName: 'sentinel' });
      const queueConnection = new Redis({ ...connection, maxRetriesPerRequest: null });
      queueConnection.on('error', () => {});
      let failover: Awaited<ReturnType<SentinelSet['killPrimary']>> | undefined;
      try {
        const report = await crashRun({
          buildDir: build.dir,
          redisArgs: [
            '--sentinels',
            set.sentinels.map((s) => `${s.host}:${s.port}`).join(','),
            '--sentinel-name',
            SENTINEL_NAME,
            '--claim-replicas',
            '1',
          ],
          outbox,
          queueConnection,
          queue: 'sentinel',
          messages: MESSAGES,
          workers: 2,
          chaosMaxMs: 25_000,
          drainMaxMs: 50_000,
          during: {
            afterDelivered: Math.floor(MESSAGES / 4),
            run: async () => {
              failover = await set.killPrimary();
            },
          },
        });
        try {
          console.info(
            `${crashSummary('outbox crash test (Sentinel)', report)}; primary ${failover?.killed} killed, ${failover?.promoted} promoted in ${failover?.failoverMs} ms`,
          );
          expect(failover).toBeDefined();
          expect(failover!.promoted).not.toBe(failover!.killed);
          expectCrashSafe(report, 3);
        } finally {
          await report.server.close();
        }
      } finally {
        await outbox.close();
        queueConnection.disconnect();
      }
    }, 170_000);
  });
