/**
 * claimReplicas against a real primary and replica (redis-server): a claim's WAIT answered on a connection
 * opened anew after the claim counts replicas for a connection that wrote nothing (it answers at once), so
 * the claim is refused, not reported replicated; on the claim's own connection it is.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimReplicated, nameConnection, waitOn } from '../../src/outbox/claim-replicas.js';
import { type OpenedConnection, openConnection } from '../../src/outbox/connection.js';
import { waitFor } from '../../src/testing/index.js';
import { reportUnavailable } from '../conformance/unavailable.js';
import { type RedisInstance, redisAvailability, startRedis } from '../helpers/redis.js';
import { command as redisCommand } from '../helpers/redis-topologies.js';

const availability = await redisAvailability();

if (!availability.available) reportUnavailable(availability);
else
  describe('claimReplicas on a real primary and replica', () => {
    let primary: RedisInstance;
    let replica: RedisInstance;
    let opened: OpenedConnection;
    type Ioredis = { status: string; disconnect(reconnect?: boolean): void };

    beforeAll(async () => {
      [primary, replica] = await Promise.all([startRedis(), startRedis()]);
      await redisCommand(replica.port, `REPLICAOF 127.0.0.1 ${primary.port}`);
      await waitFor(
        async () => /master_link_status:up/.test(await redisCommand(replica.port, 'INFO replication')),
        10_000,
      );
      opened = await openConnection(primary.url, { blocking: true });
      await waitFor(() => (opened.bullmq as Ioredis).status === 'ready', 5000);
    }, 30_000);
    afterAll(async () => {
      await opened?.close();
      await Promise.all([primary?.stop(), replica?.stop()]);
    });

    it('a claim WAITed on its own connection is replicated', async () => {
      const command = opened.command!;
      const before = await nameConnection(command, 'claim:a');
      await command('claim:a', ['SET', 'claim:a', '1']);
      await expect(claimReplicated(command, 'claim:a', 1, 1000, before)).resolves.toBeUndefined();
    });

    it('a reconnect between the claim and its WAIT: WAIT alone would say 1 replica; the claim is refused', async () => {
      const command = opened.command!;
      const before = await nameConnection(command, 'claim:b');
      await command('claim:b', ['SET', 'claim:b', '1']);
      const client = opened.bullmq as Ioredis;
      client.disconnect(true);
      await waitFor(() => client.status === 'ready', 5000);
      // The hole: a WAIT on the new connection has nothing to wait for.
      expect(await waitOn(command, 1, 1000, 'claim:b')).toBe(1);
      await expect(claimReplicated(command, 'claim:b', 1, 1000, before)).rejects.toThrow(/changed/);
    });
  });
