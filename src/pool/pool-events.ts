/**
 * What the pool publishes on the diagnostics channels (util/channels.ts owns their names and payloads). Each
 * function builds nothing when nobody listens.
 */
import { channels } from '../util/channels.js';
import type { PoolConnectionParams } from './pool-key.js';

/** `smtpwire:pool:release`: a connection given back, parked or handed straight to a waiter. */
export function publishRelease(connection: object, parked: boolean): void {
  if (channels.poolRelease.hasSubscribers) channels.poolRelease.publish({ connection, parked });
}

/** `smtpwire:pool:wait`: a checkout found every slot taken and waits (for a slot or a hand-over). */
export function publishWait(params: PoolConnectionParams, label: string, waiting: number): void {
  if (channels.poolWait.hasSubscribers)
    channels.poolWait.publish({ host: params.host, port: params.port, label, waiting });
}

/** Runs a connect or a login, traced on its channel when someone listens. */
export function traced<T>(
  kind: 'connect' | 'auth',
  connection: object,
  params: PoolConnectionParams,
  run: () => Promise<T>,
): Promise<T> {
  const channel = channels[kind];
  if (!channel.hasSubscribers) return run();
  return channel.tracePromise(run, {
    connection,
    host: params.host,
    port: params.port,
    method: params.authMethod ?? null,
  });
}
