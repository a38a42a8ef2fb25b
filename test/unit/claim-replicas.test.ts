/** claimReplicas' decision, with a scripted claim connection: how many replicas, and on which connection. */
import { describe, expect, it } from 'vitest';
import {
  type ClaimCommand,
  claimReplicated,
  connectionIdentity,
  nameConnection,
} from '../../src/outbox/claim-replicas.js';

const INFO = (id: number, port: number) =>
  `id=${id} addr=127.0.0.1:${port} laddr=127.0.0.1:6379 fd=8 name=bull:x age=0 idle=0 flags=N db=0\n`;

/** A claim connection: CLIENT INFO names the current connection, WAIT answers `acked`; `reconnect()` swaps it. */
function scripted(acked: number) {
  let current = INFO(5, 50001);
  const sent: string[][] = [];
  const command: ClaimCommand = async (_key, args) => {
    sent.push(args);
    return args[0] === 'WAIT' ? acked : current;
  };
  const reconnect = (): void => {
    current = INFO(9, 50002);
  };
  return { command, sent, reconnect };
}

describe('claimReplicas', () => {
  it('names a connection by its id and both addresses; a reply without an id is refused (Redis < 6.2)', () => {
    expect(connectionIdentity(INFO(5, 50001))).toBe('5 127.0.0.1:50001 127.0.0.1:6379');
    expect(connectionIdentity(Buffer.from(INFO(5, 50001)))).toBe('5 127.0.0.1:50001 127.0.0.1:6379');
    expect(() => connectionIdentity('ERR unknown subcommand')).toThrow(/6\.2/);
  });

  it.each([
    ['enough replicas on the same connection', 1, false, null],
    ['too few replicas', 0, false, /reached 0 of 1/],
    ['the connection changed after the claim (WAIT would answer for a connection with no write)', 1, true, /changed/],
  ])('%s', async (_, acked, reconnect, refusal) => {
    const c = scripted(acked);
    const before = await nameConnection(c.command, 'k');
    if (reconnect) c.reconnect();
    const done = claimReplicated(c.command, 'k', 1, 1000, before);
    if (refusal) await expect(done).rejects.toThrow(refusal);
    else await expect(done).resolves.toBeUndefined();
    // WAIT first, then the connection is named again behind it.
    expect(c.sent).toEqual([
      ['CLIENT', 'INFO'],
      ['WAIT', '1', '1000'],
      ['CLIENT', 'INFO'],
    ]);
  });
});
