/**
 * A small stub resolver: queries over UDP (node:dgram) with a fresh random ID and source port each,
 * TCP when the answer is truncated (RFC 7766), EDNS0 with the DO bit, and the AD bit read from the
 * answer — trusted only when the caller says this resolver is (RFC 6698 §4.1 / RFC 7672 §2.1: the
 * path to a validating resolver must itself be secure, e.g. loopback, as Postfix requires).
 * Answers are matched on server address and port, ID and question; anything else is ignored.
 */
import dgram from 'node:dgram';
import { getServers } from 'node:dns';
import net from 'node:net';
import { AbortError, DnsError, InvalidArgumentError } from '../errors.js';
import { listenAbort } from '../util/abort.js';
import {
  canonicalName,
  type DnsMessage,
  type DnsRecord,
  decodeMessage,
  encodeQuery,
  RecordType,
  rcodeName,
} from './message.js';

export interface DnsServer {
  host: string;
  /** Default 53. */
  port?: number;
}

export interface DnsResolverOptions {
  /** `'127.0.0.1'`, `'127.0.0.1:5353'`, `'[::1]:53'` or `{ host, port }`; default the system's (`dns.getServers()`). */
  servers?: readonly (string | DnsServer)[];
  /**
   * Trust this resolver's AD bit (DNSSEC validated). Only for a validating resolver reached over a
   * path nobody can tamper with (loopback, or a link you secure). Default false: DANE is then off.
   */
  trusted?: boolean;
  /** Per query and server, ms; default 3000. */
  timeout?: number;
  /** Rounds over the server list; default 2. */
  tries?: number;
}

/** One lookup's answer: the records of the asked type at the end of any CNAME chain. */
export interface DnsLookup<R extends DnsRecord = DnsRecord> {
  name: string;
  /** `NOERROR` or `NXDOMAIN` (other codes throw). */
  rcode: 'NOERROR' | 'NXDOMAIN';
  records: R[];
  /** The name the records belong to after CNAMEs (RFC 1034 §3.6.2); equal to `name` without one. */
  canonical: string;
  /** The resolver validated the whole answer (AD set) and is trusted. */
  authenticated: boolean;
}

const DEFAULT_TIMEOUT = 3000;
const DEFAULT_TRIES = 2;
/** CNAME chains longer than this are treated as a loop. */
const MAX_CNAME_CHAIN = 8;

/** Parses `host`, `host:port`, `[v6]:port`. @throws InvalidArgumentError. */
export function parseServer(s: string | DnsServer): Required<DnsServer> {
  if (typeof s === 'object' && s !== null) {
    if (net.isIP(s.host) === 0)
      throw new InvalidArgumentError(`DNS server ${s.host} is not an IP address`, { field: 'servers' });
    const port = s.port ?? 53;
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new InvalidArgumentError(`DNS server port ${String(port)} out of range`, { field: 'servers' });
    return { host: s.host, port };
  }
  if (typeof s !== 'string')
    throw new InvalidArgumentError('a DNS server is a string or { host, port }', { field: 'servers' });
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) return parseServer({ host: bracket[1]!, port: bracket[2] === undefined ? 53 : Number(bracket[2]) });
  if (net.isIP(s) !== 0) return { host: s, port: 53 };
  const hp = /^([^:]+):(\d+)$/.exec(s);
  if (hp) return parseServer({ host: hp[1]!, port: Number(hp[2]) });
  throw new InvalidArgumentError(`DNS server ${JSON.stringify(s)} is not an address`, { field: 'servers' });
}

/** A stub resolver over the servers the caller chose. */
export class DnsResolver {
  readonly servers: readonly Required<DnsServer>[];
  readonly trusted: boolean;
  readonly #timeout: number;
  readonly #tries: number;

  /** @throws InvalidArgumentError for a bad server, timeout or tries. */
  constructor(options: DnsResolverOptions = {}) {
    const list = options.servers ?? getServers();
    if (!Array.isArray(list) || list.length === 0)
      throw new InvalidArgumentError('servers must list at least one DNS server', { field: 'servers' });
    this.servers = Object.freeze(list.map(parseServer));
    this.trusted = options.trusted === true;
    this.#timeout = options.timeout ?? DEFAULT_TIMEOUT;
    this.#tries = options.tries ?? DEFAULT_TRIES;
    if (!Number.isInteger(this.#timeout) || this.#timeout <= 0)
      throw new InvalidArgumentError('timeout must be a positive integer (ms)', { field: 'timeout' });
    if (!Number.isInteger(this.#tries) || this.#tries <= 0)
      throw new InvalidArgumentError('tries must be a positive integer', { field: 'tries' });
  }

  /**
   * One query, the raw answer. Tries each server in turn, `tries` rounds.
   * @throws DnsError (temporary) when no server answers; AbortError.
   */
  async query(name: string, type: number, options: { signal?: AbortSignal | undefined } = {}): Promise<DnsMessage> {
    let last: unknown = null;
    for (let round = 0; round < this.#tries; round++) {
      for (const server of this.servers) {
        if (options.signal?.aborted) throw new AbortError('DNS lookup aborted', { cause: options.signal.reason });
        try {
          const answer = await exchange('UDP', server, name, type, this.#timeout, options.signal);
          if (!answer.flags.tc) return answer;
          return await exchange('TCP', server, name, type, this.#timeout, options.signal);
        } catch (err) {
          if (err instanceof AbortError) throw err;
          last = err;
        }
      }
    }
    throw new DnsError(`no DNS answer for ${name} (type ${type}): ${(last as Error)?.message ?? 'no server'}`, {
      temporary: true,
      cause: last,
    });
  }

  /**
   * The records of `type` at `name`, following a CNAME chain in the answer (RFC 5321 §5.1 names the
   * canonical name). NXDOMAIN is an answer (`rcode`), not an error.
   * @throws DnsError (temporary) for SERVFAIL (a bogus DNSSEC answer from a validating resolver is one),
   * REFUSED, any other failure code, no answer, or a CNAME loop.
   */
  async lookup<R extends DnsRecord = DnsRecord>(
    name: string,
    type: number,
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<DnsLookup<R>> {
    const answer = await this.query(name, type, options);
    const rcode = rcodeName(answer);
    if (rcode !== 'NOERROR' && rcode !== 'NXDOMAIN')
      throw new DnsError(`DNS lookup of ${name} (type ${type}) failed: ${rcode}`, { temporary: true, rcode });
    let owner = canonicalName(name);
    for (let i = 0; i <= MAX_CNAME_CHAIN; i++) {
      const cname = answer.answers.find(
        (r) => r.type === RecordType.CNAME && canonicalName(r.name) === owner && 'target' in r,
      ) as { target: string } | undefined;
      if (!cname || type === RecordType.CNAME) break;
      if (i === MAX_CNAME_CHAIN)
        throw new DnsError(`CNAME chain from ${name} too long`, { temporary: true, rcode: 'NOERROR' });
      owner = canonicalName(cname.target);
    }
    const records = answer.answers.filter((r) => r.type === type && canonicalName(r.name) === owner) as R[];
    return {
      name,
      rcode,
      records,
      canonical: owner,
      authenticated: this.trusted && answer.flags.ad,
    };
  }
}

function newId(): number {
  return Math.floor(Math.random() * 0x10000);
}

function matches(answer: DnsMessage, query: Query): boolean {
  const q = answer.questions[0];
  return (
    answer.flags.qr &&
    answer.id === query.id &&
    answer.questions.length === 1 &&
    q !== undefined &&
    q.type === query.type &&
    canonicalName(q.name) === canonicalName(query.name)
  );
}

function withTimeout<T>(
  timeout: number,
  signal: AbortSignal | undefined,
  what: string,
  run: (settle: (err: Error | null, value?: T) => void) => () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let cleanup: () => void = () => {};
    const settle = (err: Error | null, value?: T): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      cleanup();
      if (err) reject(err);
      else resolve(value as T);
    };
    const onAbort = (): void => settle(new AbortError('DNS lookup aborted', { cause: signal?.reason }));
    const timer = setTimeout(
      () => settle(new DnsError(`${what}: no answer within ${timeout} ms`, { temporary: true })),
      timeout,
    );
    listenAbort(signal, onAbort);
    cleanup = run(settle);
  });
}

/** One query sent and the matching answer awaited, over UDP or TCP, bounded by `timeout` and `signal`. */
function exchange(
  via: 'UDP' | 'TCP',
  server: Required<DnsServer>,
  name: string,
  type: number,
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<DnsMessage> {
  const id = newId();
  const q: Query = { id, name, type, bytes: encodeQuery(id, name, type) };
  return withTimeout(timeout, signal, `DNS over ${via} to ${server.host}:${server.port}`, (settle) =>
    via === 'UDP' ? sendUdp(server, q, settle) : sendTcp(server, q, settle),
  );
}

interface Query {
  id: number;
  name: string;
  type: number;
  bytes: Buffer;
}

type Settle = (err: Error | null, value?: DnsMessage) => void;

/** Sends the query by UDP; returns how to release the socket. */
function sendUdp(server: Required<DnsServer>, q: Query, settle: Settle): () => void {
  const socket = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4');
  socket.on('error', (err) => settle(new DnsError(`DNS over UDP: ${err.message}`, { temporary: true, cause: err })));
  socket.on('message', (msg, rinfo) => {
    // Only the server asked, on its port: anything else may be a spoofing attempt.
    if (rinfo.port !== server.port || normaliseIp(rinfo.address) !== normaliseIp(server.host)) return;
    let answer: DnsMessage;
    try {
      answer = decodeMessage(msg);
    } catch {
      return;
    }
    if (matches(answer, q)) settle(null, answer);
  });
  socket.send(q.bytes, server.port, server.host, (err) => {
    if (err) settle(new DnsError(`DNS over UDP: ${err.message}`, { temporary: true, cause: err }));
  });
  return () => {
    try {
      socket.close();
    } catch {
      // Already closed after an error: nothing left to release.
    }
  };
}

/** Sends the query by TCP (RFC 1035 §4.2.2 length prefix); returns how to release the socket. */
function sendTcp(server: Required<DnsServer>, q: Query, settle: Settle): () => void {
  const socket = net.connect({ host: server.host, port: server.port });
  let buf = Buffer.alloc(0);
  socket.on('connect', () => {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(q.bytes.length);
    socket.write(Buffer.concat([len, q.bytes]));
  });
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    // RFC 1035 §4.2.2: a two-octet length, so a message is at most 65535 octets: the buffer is bounded.
    if (buf.length < 2) return;
    const need = buf.readUInt16BE(0);
    if (buf.length < 2 + need) return;
    try {
      const answer = decodeMessage(buf.subarray(2, 2 + need));
      if (matches(answer, q)) settle(null, answer);
      else settle(new DnsError('DNS over TCP: the answer does not match the query', { temporary: true }));
    } catch (err) {
      settle(err as Error);
    }
  });
  socket.on('error', (err) => settle(new DnsError(`DNS over TCP: ${err.message}`, { temporary: true, cause: err })));
  socket.on('close', () => settle(new DnsError('DNS over TCP: connection closed', { temporary: true })));
  return () => socket.destroy();
}

function normaliseIp(ip: string): string {
  return ip.replace(/^::ffff:/, '').toLowerCase();
}
