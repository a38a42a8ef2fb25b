/**
 * A minimal SOCKS4/4a/5 proxy for tests (RFC 1928 CONNECT, RFC 1929 user/password): records what
 * each client asked for and pipes the connection to the target. Loopback only.
 */
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';

export interface SocksProxy {
  port: number;
  requests: { version: number; host: string; port: number; user: string }[];
  close(): Promise<void>;
}

export async function startSocksProxy(credentials?: { user: string; pass: string }): Promise<SocksProxy> {
  const requests: SocksProxy['requests'] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    let buf = Buffer.alloc(0);
    let stage = 'greeting';
    let user = '';
    const pipeTo = (host: string, port: number, ok: Buffer) => {
      const upstream = connect(port, host, () => {
        client.write(ok);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      sockets.add(upstream);
      upstream.on('error', () => client.destroy());
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (stage === 'greeting' && buf.length >= 2) {
        if (buf[0] === 4) {
          const end = buf.indexOf(0, 8);
          if (end === -1) return;
          const port = buf.readUInt16BE(2);
          let host = [...buf.subarray(4, 8)].join('.');
          user = buf.subarray(8, end).toString();
          if (host.startsWith('0.0.0.')) {
            const end2 = buf.indexOf(0, end + 1);
            if (end2 === -1) return;
            host = buf.subarray(end + 1, end2).toString();
          }
          client.off('data', onData);
          requests.push({ version: 4, host, port, user });
          pipeTo(host, port, Buffer.from([0, 0x5a, 0, 0, 0, 0, 0, 0]));
          return;
        }
        const n = buf[1]!;
        if (buf.length < 2 + n) return;
        const methods = [...buf.subarray(2, 2 + n)];
        buf = buf.subarray(2 + n);
        if (credentials) {
          if (!methods.includes(2)) return client.end(Buffer.from([5, 0xff]));
          client.write(Buffer.from([5, 2]));
          stage = 'auth';
        } else {
          client.write(Buffer.from([5, 0]));
          stage = 'request';
        }
      }
      if (stage === 'auth' && buf.length >= 2) {
        const ulen = buf[1]!;
        if (buf.length < 3 + ulen) return;
        const plen = buf[2 + ulen]!;
        if (buf.length < 3 + ulen + plen) return;
        user = buf.subarray(2, 2 + ulen).toString();
        const pass = buf.subarray(3 + ulen, 3 + ulen + plen).toString();
        buf = buf.subarray(3 + ulen + plen);
        const ok = user === credentials?.user && pass === credentials?.pass;
        client.write(Buffer.from([1, ok ? 0 : 1]));
        if (!ok) return client.end();
        stage = 'request';
      }
      if (stage === 'request' && buf.length >= 5) {
        const atyp = buf[3]!;
        const len = atyp === 1 ? 4 : atyp === 4 ? 16 : 1 + buf[4]!;
        if (buf.length < 4 + len + 2) return;
        const host =
          atyp === 1 ? [...buf.subarray(4, 8)].join('.') : atyp === 3 ? buf.subarray(5, 5 + buf[4]!).toString() : '::1';
        const port = buf.readUInt16BE(4 + len);
        client.off('data', onData);
        requests.push({ version: 5, host, port, user });
        pipeTo(host === 'localhost' ? '127.0.0.1' : host, port, Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]));
      }
    };
    client.on('data', onData);
    client.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
