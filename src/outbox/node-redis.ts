/**
 * node-redis (`redis` ≥ 5) instances for the outbox: a `createClient()`, a `createSentinel()` or a
 * `createCluster()`. BullMQ's node-redis adapter (`createNodeRedisClient`) is written for a single client; a
 * Sentinel and a Cluster route every command themselves (the Sentinel to its current primary, the Cluster by
 * key to the primary serving the key's slot: a hash-tagged queue's keys are all in one slot), so a thin view
 * that speaks the client's dialect is all the adapter needs. Nothing here speaks the Redis protocol.
 */

import type { ClaimCommand } from './claim-replicas.js';

/** Which node-redis instance: structural, as BullMQ's own driver detection is. */
export type NodeRedisKind = 'client' | 'sentinel' | 'cluster';

/** The part of a node-redis client, Sentinel or Cluster used here (node-redis's types are not a dependency). */
export interface NodeRedisLike {
  readonly isOpen: boolean;
  duplicate(overrides?: Record<string, unknown>): NodeRedisLike;
  destroy(): unknown;
  on(event: string, listener: (...args: never[]) => void): unknown;
  // Client: (args, options); Sentinel: (isReadonly, args, options); Cluster: (firstKey, isReadonly, args, options).
  sendCommand(...args: unknown[]): Promise<unknown>;
}

interface SentinelLike extends NodeRedisLike {
  close(): Promise<void>;
}

interface ClusterLike extends NodeRedisLike {
  getNodeClientForKey(key: string, isReadonly?: boolean): NodeRedisLike | Promise<NodeRedisLike>;
}

export function nodeRedisKind(instance: object): NodeRedisKind {
  const c = instance as Record<string, unknown>;
  if (typeof c.getNodeClientForKey === 'function') return 'cluster';
  if (typeof c.getMasterNode === 'function' && typeof c.acquire === 'function') return 'sentinel';
  return 'client';
}

/** A Cluster announces `connect` / `disconnect` where a client (and the adapter listening to it) says `ready` / `end`. */
const CLUSTER_EVENTS: Record<string, string> = { ready: 'connect', end: 'disconnect' };

/**
 * The instance as BullMQ's node-redis adapter expects a client: a client as it is; a Sentinel or a Cluster
 * behind a view (an object whose prototype is the instance, so every command still runs on it) with the
 * client's `sendCommand(args)`, `quit()`, `disconnect()`, events, and a `duplicate()` that is a view too.
 */
export function clientView(instance: NodeRedisLike, kind = nodeRedisKind(instance)): NodeRedisLike {
  if (kind === 'client') return instance;
  const view = Object.create(instance) as NodeRedisLike & Record<string, unknown>;
  // Not the caller's options: BullMQ passes ioredis-style ones (`name` is a connection name there, the primary's
  // name to a Sentinel); the adapter applies the connection name itself.
  view.duplicate = () => clientView(instance.duplicate(), kind);
  if (kind === 'cluster') {
    view.on = (event: string, listener: (...args: never[]) => void) => {
      instance.on(CLUSTER_EVENTS[event] ?? event, listener);
      return view;
    };
    view.sendCommand = (args: unknown, options?: unknown) => instance.sendCommand(undefined, false, args, options);
  } else {
    view.sendCommand = (args: unknown, options?: unknown) => instance.sendCommand(false, args, options);
    view.quit = () => (instance as SentinelLike).close();
    view.disconnect = () => instance.destroy();
    // A blocking pop cut by close() fails inside the Sentinel with a TypeError; said as a client says it, the
    // adapter knows it for the closed connection it is (instead of reporting it as an error).
    const bzPopMin = (instance as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>).bzPopMin!;
    view.bzPopMin = async (...args: unknown[]) => {
      try {
        return await bzPopMin.apply(view, args);
      } catch (err) {
        if (!instance.isOpen) throw new Error('The client is closed', { cause: err });
        throw err;
      }
    };
  }
  return view;
}

/**
 * The connection a worker runs on: its own duplicate of the caller's instance, closed by the outbox. A claim's
 * `WAIT` blocks the connection it is sent on for up to its timeout, which must not stall the caller's own
 * commands; and on a Sentinel the claim and its `WAIT` must share one connection, which a pool of one primary
 * connection (`masterPoolSize: 1`) guarantees.
 */
export function workerDuplicate(instance: NodeRedisLike, kind = nodeRedisKind(instance)): NodeRedisLike {
  const own = instance.duplicate(kind === 'sentinel' ? { masterPoolSize: 1, reserveClient: false } : undefined);
  // BullMQ reports connection errors through its own events; an `error` without a listener would throw.
  own.on('error', () => {});
  return own;
}

/**
 * A command on the connection the claim of `key` is written on (a claim's `WAIT` waits for that connection's
 * writes, and `CLIENT INFO` names it): the client itself; the Sentinel's primary connection; on a Cluster, the
 * connection to the primary serving `key`'s slot (WAIT has no key: sent through the Cluster it would reach any
 * node).
 */
export function nodeRedisCommand(instance: NodeRedisLike, kind = nodeRedisKind(instance)): ClaimCommand {
  if (kind === 'cluster')
    return async (key, args) => {
      const node = await (instance as ClusterLike).getNodeClientForKey(key, false);
      return node.sendCommand(args);
    };
  if (kind === 'sentinel') return (_key, args) => instance.sendCommand(false, args);
  return (_key, args) => instance.sendCommand(args);
}

/** Closes an instance the outbox opened; one already closed (BullMQ may have quit it) is left as it is. */
export async function closeNodeRedis(instance: NodeRedisLike): Promise<void> {
  if (!instance.isOpen) return;
  try {
    await instance.destroy();
  } catch {
    // closed meanwhile
  }
}
