/**
 * A TCP proxy in front of a fast sink that stops answering for a while:
 * `node stall-proxy.js UPSTREAM_PORT STALL_AFTER_MS STALL_MS`. From STALL_AFTER_MS after the first
 * connection, for STALL_MS, no byte of the server's replies reaches the clients (they are held, then
 * delivered in order). Byte shuffling only, so Postfix smtp-sink behind it keeps its speed; prints
 * `port N` once listening on 127.0.0.1.
 */
import net from 'node:net';

const upstreamPort = Number(process.argv[2]);
const after = Number(process.argv[3] ?? 4000);
const stall = Number(process.argv[4] ?? 1000);
let stallStart = Infinity;
const held = new Set<net.Socket>();

const server = net.createServer((client) => {
  if (stallStart === Infinity) {
    stallStart = Date.now() + after;
    setTimeout(() => {
      for (const s of held) s.pause();
      setTimeout(() => {
        stallStart = -Infinity;
        for (const s of held) s.resume();
      }, stall);
    }, after);
  }
  const upstream = net.connect(upstreamPort, '127.0.0.1');
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  held.add(upstream);
  client.pipe(upstream);
  upstream.pipe(client);
  const end = (): void => {
    held.delete(upstream);
    client.destroy();
    upstream.destroy();
  };
  client.once('error', end).once('close', end);
  upstream.once('error', end).once('close', end);
  // A connection opened during the stall waits for its greeting too.
  if (Date.now() >= stallStart) upstream.pause();
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`port ${(server.address() as net.AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
