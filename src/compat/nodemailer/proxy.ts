/**
 * nodemailer's `proxy` option: small clients on `node:net` for an HTTP(S) CONNECT proxy (RFC 9110
 * §9.3.6) and SOCKS4/4a/5 (RFC 1928, RFC 1929 user/password), handed to the engine as the
 * connection's `socketFactory`. Each handshake is bounded in time and in the bytes it reads.
 */
import net from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { ConnectionError, TimeoutError } from '../../errors.js';
import type { OpenSocketOptions } from '../../transport/connect.js';

const MAX_HANDSHAKE_BYTES = 16 * 1024;

export type SocketFactory = (options: OpenSocketOptions) => Promise<net.Socket>;

/**
 * The factory for a proxy URL, or null for a scheme it does not know. An `https:` proxy is reached
 * with the transport's `tls` options, as nodemailer does.
 */
export function proxySocketFactory(proxyUrl: string, tlsOptions: ConnectionOptions = {}): SocketFactory | null {
  const url = new URL(proxyUrl);
  const scheme = url.protocol.replace(/:$/, '').toLowerCase();
  if (!['http', 'https', 'socks', 'socks4', 'socks4a', 'socks5', 'socks5h'].includes(scheme)) return null;
  return (options) => viaProxy(url, scheme, options, tlsOptions);
}

async function viaProxy(
  url: URL,
  scheme: string,
  o: OpenSocketOptions,
  tlsOptions: ConnectionOptions,
): Promise<net.Socket> {
  const port = Number(url.port) || (scheme === 'https' ? 443 : scheme === 'http' ? 80 : 1080);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let socket: net.Socket = await open(host, port, o);
  const reader = new Reader(o.connectTimeout, `${url.protocol}//${host}:${port}`);
  try {
    if (scheme !== 'https') reader.attach(socket);
    else {
      const tls = await import('node:tls');
      const plain = socket;
      socket = await new Promise<net.Socket>((resolve, reject) => {
        const servername = tlsOptions.servername ?? (net.isIP(host) ? undefined : host);
        const timer = setTimeout(() => {
          s.destroy();
          reject(
            new TimeoutError(`TLS with the proxy ${host}:${port} did not finish in time`, {
              phase: 'tls',
              timeout: o.connectTimeout,
            }),
          );
        }, o.connectTimeout);
        const s = tls.connect({ ...tlsOptions, socket: plain, ...(servername ? { servername } : {}) }, () => {
          clearTimeout(timer);
          resolve(s);
        });
        s.once('error', (err) => {
          clearTimeout(timer);
          reject(new ConnectionError(`TLS with the proxy ${host}:${port} failed: ${err.message}`, { cause: err }));
        });
      });
      reader.attach(socket);
    }
    if (scheme === 'http' || scheme === 'https') await httpConnect(socket, reader, url, o);
    else if (scheme.startsWith('socks4')) await socks4(socket, reader, url, o);
    else await socks5(socket, reader, url, o);
  } catch (err) {
    reader.detach();
    socket.destroy();
    throw err;
  }
  reader.detach();
  // Bytes past the proxy's reply are the server's (its greeting): back where the connection reads them.
  if (reader.rest.length) socket.unshift(reader.rest);
  return socket;
}

function open(host: string, port: number, o: OpenSocketOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new TimeoutError(`no connection to the proxy ${host}:${port} within ${o.connectTimeout} ms`, {
          phase: 'connect',
          timeout: o.connectTimeout,
        }),
      );
    }, o.connectTimeout);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new ConnectionError(`cannot connect to the proxy ${host}:${port}: ${err.code ?? err.message}`, { cause: err }),
      );
    });
  });
}

/** Reads handshake bytes until a condition holds, under one deadline. */
class Reader {
  #buf = Buffer.alloc(0);
  #socket: net.Socket | null = null;
  #wake: (() => void) | null = null;
  #failure: Error | null = null;
  readonly #deadline: number;
  readonly #where: string;
  // Paused mode ('readable' + read()): bytes not read yet stay in the socket's buffer, never lost
  // between the handshake and the SMTP connection taking the socket over.
  readonly #onReadable = (): void => {
    const socket = this.#socket;
    for (let chunk = socket?.read() as Buffer | null; chunk; chunk = socket?.read() as Buffer | null) {
      this.#buf = Buffer.concat([this.#buf, chunk]);
      if (this.#buf.length > MAX_HANDSHAKE_BYTES) {
        this.#failure = new ConnectionError(`${this.#where}: proxy reply too long`);
        break;
      }
    }
    this.#wake?.();
  };
  readonly #onEnd = (): void => {
    this.#failure ??= new ConnectionError(`${this.#where}: the proxy closed the connection`);
    this.#wake?.();
  };

  constructor(timeout: number, where: string) {
    this.#deadline = Date.now() + timeout;
    this.#where = where;
  }

  attach(socket: net.Socket): void {
    this.detach();
    this.#socket = socket;
    socket.on('readable', this.#onReadable);
    socket.on('close', this.#onEnd);
    socket.on('error', this.#onEnd);
  }

  detach(): void {
    const s = this.#socket;
    if (!s) return;
    s.off('readable', this.#onReadable);
    s.off('close', this.#onEnd);
    s.off('error', this.#onEnd);
    this.#socket = null;
  }

  /** Waits until `take(buf)` returns a length to consume; returns those bytes. */
  async until(take: (buf: Buffer) => number | null): Promise<Buffer> {
    for (;;) {
      const n = take(this.#buf);
      if (n !== null) {
        const out = this.#buf.subarray(0, n);
        this.#buf = this.#buf.subarray(n);
        return out;
      }
      if (this.#failure) throw this.#failure;
      const left = this.#deadline - Date.now();
      if (left <= 0) throw new TimeoutError(`${this.#where}: no proxy reply in time`, { phase: 'connect', timeout: 0 });
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#wake = null;
    }
  }

  /** Bytes read past the handshake (they belong to SMTP). */
  get rest(): Buffer {
    return this.#buf;
  }
}

async function httpConnect(socket: net.Socket, reader: Reader, url: URL, o: OpenSocketOptions): Promise<void> {
  const target = `${net.isIPv6(o.host) ? `[${o.host}]` : o.host}:${o.port}`;
  let request = `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n`;
  if (url.username || url.password) {
    const basic = Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString(
      'base64',
    );
    request += `Proxy-Authorization: Basic ${basic}\r\n`;
  }
  socket.write(`${request}\r\n`);
  const head = await reader.until((b) => {
    const i = b.indexOf('\r\n\r\n');
    return i === -1 ? null : i + 4;
  });
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1'));
  if (!status || status[1]![0] !== '2')
    throw new ConnectionError(
      `the proxy refused CONNECT to ${target}: ${JSON.stringify(head.toString('latin1').split('\r\n')[0])}`,
    );
}

async function socks4(socket: net.Socket, reader: Reader, url: URL, o: OpenSocketOptions): Promise<void> {
  const port = Buffer.alloc(2);
  port.writeUInt16BE(o.port);
  const user = Buffer.from(decodeURIComponent(url.username), 'utf8');
  const v4 = net.isIPv4(o.host);
  // SOCKS4a: 0.0.0.x and the host name after the user id, resolved by the proxy.
  const ip = v4 ? Buffer.from(o.host.split('.').map(Number)) : Buffer.from([0, 0, 0, 1]);
  const parts = [Buffer.from([4, 1]), port, ip, user, Buffer.from([0])];
  if (!v4) parts.push(Buffer.from(o.host, 'utf8'), Buffer.from([0]));
  socket.write(Buffer.concat(parts));
  const reply = await reader.until((b) => (b.length >= 8 ? 8 : null));
  if (reply[1] !== 0x5a) throw new ConnectionError(`the SOCKS4 proxy refused ${o.host}:${o.port} (code ${reply[1]})`);
}

const SOCKS5_ERRORS: Record<number, string> = {
  1: 'general failure',
  2: 'not allowed by ruleset',
  3: 'network unreachable',
  4: 'host unreachable',
  5: 'connection refused',
  6: 'TTL expired',
  7: 'command not supported',
  8: 'address type not supported',
};

async function socks5(socket: net.Socket, reader: Reader, url: URL, o: OpenSocketOptions): Promise<void> {
  const auth = url.username !== '' || url.password !== '';
  socket.write(Buffer.from(auth ? [5, 2, 0, 2] : [5, 1, 0]));
  const choice = await reader.until((b) => (b.length >= 2 ? 2 : null));
  if (choice[0] !== 5 || choice[1] === 0xff)
    throw new ConnectionError('the SOCKS5 proxy accepts none of our authentication methods');
  if (choice[1] === 2) {
    const u = Buffer.from(decodeURIComponent(url.username), 'utf8');
    const p = Buffer.from(decodeURIComponent(url.password), 'utf8');
    socket.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
    const status = await reader.until((b) => (b.length >= 2 ? 2 : null));
    if (status[1] !== 0) throw new ConnectionError('the SOCKS5 proxy refused the user name and password');
  }
  let addr: Buffer;
  if (net.isIPv4(o.host)) addr = Buffer.from([1, ...o.host.split('.').map(Number)]);
  else if (net.isIPv6(o.host)) {
    const words = expandIPv6(o.host);
    addr = Buffer.alloc(17);
    addr[0] = 4;
    for (const [i, w] of words.entries()) addr.writeUInt16BE(w, 1 + i * 2);
  } else {
    const name = Buffer.from(o.host, 'utf8');
    addr = Buffer.concat([Buffer.from([3, name.length]), name]);
  }
  const port = Buffer.alloc(2);
  port.writeUInt16BE(o.port);
  socket.write(Buffer.concat([Buffer.from([5, 1, 0]), addr, port]));
  const reply = await reader.until((b) => {
    if (b.length < 5) return null;
    const len = b[3] === 1 ? 4 : b[3] === 4 ? 16 : 1 + b[4]!;
    return b.length >= 4 + len + 2 ? 4 + len + 2 : null;
  });
  if (reply[1] !== 0)
    throw new ConnectionError(
      `the SOCKS5 proxy could not reach ${o.host}:${o.port}: ${SOCKS5_ERRORS[reply[1]!] ?? `code ${reply[1]}`}`,
    );
}

function expandIPv6(host: string): number[] {
  const [head, tail = ''] = host.split('::');
  const a = head ? head.split(':') : [];
  const b = tail ? tail.split(':') : [];
  const fill = host.includes('::') ? Array(8 - a.length - b.length).fill('0') : [];
  return [...a, ...fill, ...b].map((x) => Number.parseInt(x, 16));
}
