/**
 * `claimReplicas`: a hand-over claim that reached N replicas before its dot (Redis `WAIT`). `WAIT` counts the
 * replicas that have every write of the connection it is sent on; on a connection opened anew (a reconnect,
 * or a failover between the claim's reply and its `WAIT`) it has no write to wait for and answers at once,
 * though the claim may be lost with the old primary. So the connection is named (`CLIENT INFO`, Redis ≥ 6.2)
 * before the claim is sent (its reply awaited: a round trip before the claim, outside the claim → dot window)
 * and again just after the `WAIT`, pipelined behind it: the same connection both times, or the claim is not
 * known to be replicated.
 */

/** A command on the connection a claim of `key` is written on (connection.ts `OpenedConnection.command`). */
export type ClaimCommand = (key: string, args: string[]) => Promise<unknown>;

/** Redis `WAIT numreplicas timeout` on the claim's connection: the replicas that acknowledged its writes. */
export async function waitOn(command: ClaimCommand, replicas: number, timeoutMs: number, key: string): Promise<number> {
  return Number(await command(key, ['WAIT', String(replicas), String(timeoutMs)]));
}

/** What names one connection in `CLIENT INFO`: its id at the server and both ends' addresses. Pure. */
export function connectionIdentity(info: unknown): string {
  const text = typeof info === 'string' ? info : Buffer.isBuffer(info) ? info.toString('latin1') : '';
  const fields = new Map<string, string>();
  for (const pair of text.trim().split(' ')) {
    const eq = pair.indexOf('=');
    if (eq > 0) fields.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const id = fields.get('id');
  if (id === undefined) throw new Error(`CLIENT INFO did not name the connection (Redis 6.2 or later is needed)`);
  return `${id} ${fields.get('addr') ?? ''} ${fields.get('laddr') ?? ''}`;
}

/** Names the claim's connection; await it before sending the claim. */
export function nameConnection(command: ClaimCommand, key: string): Promise<string> {
  return command(key, ['CLIENT', 'INFO']).then(connectionIdentity);
}

/**
 * After a claim: resolves once `replicas` replicas have it; rejects (the claim is then released and the job
 * retried) when fewer acknowledged within `timeoutMs`, or when the `WAIT` was not answered on the connection
 * `before` named.
 */
export async function claimReplicated(
  command: ClaimCommand,
  key: string,
  replicas: number,
  timeoutMs: number,
  before: string,
): Promise<void> {
  // Issued in this order on the claim's connection: a reconnect between them shows as another name after.
  const acked = waitOn(command, replicas, timeoutMs, key);
  const after = nameConnection(command, key);
  const [n, last] = await Promise.all([acked, after]);
  if (before !== last)
    throw new Error(
      "the claim's connection changed before its WAIT was answered (a reconnect or a failover): the claim is not known to be on a replica",
    );
  if (n < replicas) throw new Error(`the claim reached ${n} of ${replicas} replica(s) within ${timeoutMs} ms`);
}
