/**
 * MTA-STS (RFC 8461): the `_mta-sts.<domain>` TXT record, the policy fetched over HTTPS from
 * `https://mta-sts.<domain>/.well-known/mta-sts.txt` (certificate checked, no redirects, bounded size
 * and time), its parse, `mx` pattern matching, and a cache honouring `max_age` and `id` changes.
 *
 * Parsing, matching and the cache decision are pure; `MtaSts.policyFor` does the I/O. Enforcement
 * (refusing an MX outside the policy, requiring a valid certificate) is the caller's, from `mode`.
 */
import type { LookupFunction } from 'node:net';
import type { DnsResolver } from '../dns/client.js';
import { canonicalName, RecordType } from '../dns/message.js';
import { AbortError, DnsError, ErrorCodes, TlsError } from '../errors.js';

export type StsMode = 'enforce' | 'testing' | 'none';

export interface StsPolicy {
  mode: StsMode;
  /** `mx` patterns, lower case (`mail.example.com`, `*.example.net`). */
  mx: string[];
  /** Seconds (RFC 8461 §3.2: at most 31557600). */
  maxAge: number;
  /** The policy text as fetched (TLS-RPT reports it, RFC 8460 §4.4). */
  text: string;
}

/** A cached policy: the policy, the TXT `id` it was fetched under, and until when it holds. */
export interface StsCacheEntry {
  policy: StsPolicy;
  id: string;
  /** ms since the epoch. */
  expiresAt: number;
}

/**
 * Where policies are kept between deliveries (RFC 8461 §5.1: a policy is cached for `max_age`).
 * In memory by default; give one backed by a shared store (e.g. the outbox's Redis) to share it.
 */
export interface StsCache {
  get(domain: string): Promise<StsCacheEntry | undefined> | StsCacheEntry | undefined;
  set(domain: string, entry: StsCacheEntry): Promise<void> | void;
}

/** RFC 8461 §3.2. */
export const MAX_POLICY_AGE = 31_557_600;
/** RFC 8461 §3.3: policy bodies are small; 64 KiB is the limit it suggests. */
export const MAX_POLICY_SIZE = 64 * 1024;
/** RFC 8461 §3.3 suggests a 60 s timeout; a sender waiting minutes for it helps nobody: 15 s. */
export const DEFAULT_FETCH_TIMEOUT = 15_000;

/** An in-memory cache, bounded in entries (the oldest goes first). */
export class MemoryStsCache implements StsCache {
  readonly #entries = new Map<string, StsCacheEntry>();
  constructor(readonly maxEntries = 10_000) {}
  get(domain: string): StsCacheEntry | undefined {
    return this.#entries.get(domain);
  }
  set(domain: string, entry: StsCacheEntry): void {
    this.#entries.delete(domain);
    this.#entries.set(domain, entry);
    if (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
  }
}

/**
 * The TXT record (RFC 8461 §3.1): `v=STSv1; id=<1–32 alphanumerics>;`. Strings of one record are
 * concatenated; records not starting with `v=STSv1` are ignored; more than one STS record means none.
 * Pure. Returns the id, or null when there is no (single, valid) record.
 */
export function parseStsTxt(records: readonly (readonly string[])[]): string | null {
  const sts = records.map((r) => r.join('')).filter((t) => /^v=STSv1(;|$)/.test(t.trim()));
  if (sts.length !== 1) return null;
  const fields = new Map<string, string>();
  for (const part of sts[0]!.split(';')) {
    const m = /^\s*([A-Za-z0-9_-]+)=([^\s;]*)\s*$/.exec(part);
    if (m) fields.set(m[1]!, m[2]!);
  }
  const id = fields.get('id');
  return id !== undefined && /^[A-Za-z0-9]{1,32}$/.test(id) ? id : null;
}

/**
 * The policy body (RFC 8461 §3.2): `key: value` lines (CRLF or LF), `version: STSv1`, `mode`,
 * `max_age`, one or more `mx` (unless mode is none). Pure.
 * @throws TlsError `ERR_SMTP_TLS_POLICY` naming what is wrong.
 */
export function parseStsPolicy(text: string): StsPolicy {
  const bad = (why: string): TlsError => new TlsError(`MTA-STS policy: ${why}`, { code: ErrorCodes.TLS_POLICY });
  const fields: Record<string, string[]> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    const m = /^([A-Za-z0-9_]+)\s*:\s*(.*)$/.exec(line);
    if (!m) throw bad(`malformed line ${JSON.stringify(line.slice(0, 80))}`);
    const key = m[1]!;
    fields[key] = [...(fields[key] ?? []), m[2]!.trim()];
  }
  if (fields.version?.[0] !== 'STSv1') throw bad('version is not STSv1');
  const mode = fields.mode?.[0];
  if (mode !== 'enforce' && mode !== 'testing' && mode !== 'none') throw bad(`unknown mode ${JSON.stringify(mode)}`);
  const ageText = fields.max_age?.[0];
  if (ageText === undefined || !/^\d{1,10}$/.test(ageText)) throw bad('max_age missing or not a number');
  const maxAge = Math.min(Number(ageText), MAX_POLICY_AGE);
  const mx = (fields.mx ?? []).map((p) => canonicalName(p));
  if (mode !== 'none' && mx.length === 0) throw bad('no mx pattern');
  for (const p of mx)
    if (!/^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(p)) throw bad(`bad mx pattern ${JSON.stringify(p)}`);
  return { mode, mx, maxAge, text };
}

/** RFC 8461 §4.1: an exact name, or `*.` standing for exactly one leftmost label. Pure. */
export function mxMatches(patterns: readonly string[], host: string): boolean {
  const h = canonicalName(host);
  return patterns.some((p) => {
    if (!p.startsWith('*.')) return p === h;
    const dot = h.indexOf('.');
    return dot > 0 && h.slice(dot + 1) === p.slice(2);
  });
}

/** What to do given the TXT answer and the cache (RFC 8461 §5.1). Pure. */
export function cacheDecision(
  txtId: string | null | 'unavailable',
  cached: StsCacheEntry | undefined,
  now: number,
): 'use-cache' | 'fetch' | 'none' {
  const fresh = cached !== undefined && cached.expiresAt > now;
  if (txtId === 'unavailable' || txtId === null) return fresh ? 'use-cache' : 'none';
  if (fresh && cached.id === txtId) return 'use-cache';
  return 'fetch';
}

export interface StsFetchOptions {
  /** Port of the policy host; default 443 (a test lab may use another). */
  port?: number;
  /** CAs to trust instead of Node's (a private or lab CA). */
  ca?: string | Buffer | (string | Buffer)[];
  /** ms for the whole fetch (connect, TLS, the policy read); default 15 s. */
  timeout?: number;
}

export interface StsLookup {
  policy: StsPolicy | null;
  id: string | null;
  source: 'fetched' | 'cache' | 'none';
  /** Why a policy announced in DNS could not be fetched (TLS-RPT `sts-policy-fetch-error`). */
  fetchError: string | null;
  /** Why the `_mta-sts` TXT lookup failed, or null when it answered: then "no policy" is not "no record". */
  txtError: string | null;
}

/** The MTA-STS policy source: DNS for the TXT record and the policy host's address, HTTPS for the body. */
export class MtaSts {
  readonly #resolver: DnsResolver;
  readonly #cache: StsCache;
  readonly #fetch: StsFetchOptions;
  readonly #now: () => number;

  constructor(options: { resolver: DnsResolver; cache?: StsCache; fetch?: StsFetchOptions; now?: () => number }) {
    this.#resolver = options.resolver;
    this.#cache = options.cache ?? new MemoryStsCache();
    this.#fetch = options.fetch ?? {};
    this.#now = options.now ?? Date.now;
  }

  /**
   * The policy that applies to `domain` now. `refresh` skips a cached entry (RFC 8461 §5.1: before
   * failing a message for a policy, check for a newer one). Never throws for a missing or broken policy
   * (MTA-STS fails open when none is known); aborts still throw.
   */
  async policyFor(
    domain: string,
    options: { refresh?: boolean; signal?: AbortSignal | undefined } = {},
  ): Promise<StsLookup> {
    const d = canonicalName(domain);
    let txtId: string | null | 'unavailable';
    let txtError: string | null = null;
    try {
      const txt = await this.#resolver.lookup(`_mta-sts.${d}`, RecordType.TXT, { signal: options.signal });
      txtId = parseStsTxt(txt.records.map((r) => ('strings' in r ? r.strings : [])));
    } catch (err) {
      if (!(err instanceof DnsError)) throw err;
      txtId = 'unavailable';
      txtError = err.message;
    }
    const cached = await this.#cache.get(d);
    let decision = cacheDecision(txtId, cached, this.#now());
    if (decision === 'use-cache' && options.refresh && typeof txtId === 'string') decision = 'fetch';
    if (decision === 'use-cache')
      return { policy: cached!.policy, id: cached!.id, source: 'cache', fetchError: null, txtError };
    if (decision === 'none') return { policy: null, id: null, source: 'none', fetchError: null, txtError };
    const id = txtId as string;
    try {
      const text = await this.#get(d, options.signal);
      const policy = parseStsPolicy(text);
      await this.#cache.set(d, { policy, id, expiresAt: this.#now() + policy.maxAge * 1000 });
      return { policy, id, source: 'fetched', fetchError: null, txtError };
    } catch (err) {
      // node:https rejects an abort with its own AbortError (ABORT_ERR), and the lookup hook recodes ours:
      // ask the signal, or an abort would pass for a fetch failure (and be reported to TLS-RPT as one).
      if (options.signal?.aborted)
        throw new AbortError('MTA-STS policy fetch aborted', { cause: options.signal.reason });
      const why = (err as Error).message;
      // A fetch failure keeps an unexpired cached policy in force (RFC 8461 §5.1).
      if (cached && cached.expiresAt > this.#now())
        return { policy: cached.policy, id: cached.id, source: 'cache', fetchError: why, txtError };
      return { policy: null, id: null, source: 'none', fetchError: why, txtError };
    }
  }

  /** GET the policy: certificate checked against the policy host name, no redirect followed, size and time bounded. */
  async #get(domain: string, signal: AbortSignal | undefined): Promise<string> {
    const https = (await import('node:https')).default;
    const host = `mta-sts.${domain}`;
    const resolver = this.#resolver;
    // The policy host is resolved with the same resolver as everything else (the caller's choice).
    const lookup: LookupFunction = (hostname, opts, callback) => {
      // A records, else AAAA.
      const addresses = async (): Promise<{ addrs: string[]; family: 4 | 6 }> => {
        const a = await resolver.lookup(hostname, RecordType.A, { signal });
        const v4 = a.records.flatMap((r) => ('address' in r ? [r.address] : []));
        if (v4.length > 0) return { addrs: v4, family: 4 };
        const aaaa = await resolver.lookup(hostname, RecordType.AAAA, { signal });
        return { addrs: aaaa.records.flatMap((r) => ('address' in r ? [r.address] : [])), family: 6 };
      };
      addresses().then(
        ({ addrs, family }) => {
          if (addrs.length === 0) {
            callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 4);
            return;
          }
          if ((opts as { all?: boolean }).all)
            (callback as unknown as (e: null, a: unknown[]) => void)(
              null,
              addrs.map((address) => ({ address, family })),
            );
          else callback(null, addrs[0]!, family);
        },
        (err: Error) => callback(Object.assign(err, { code: 'ENOTFOUND' }), '', 4),
      );
    };
    const timeout = this.#fetch.timeout ?? DEFAULT_FETCH_TIMEOUT;
    return new Promise<string>((resolve, reject) => {
      const req = https.get(
        {
          host,
          port: this.#fetch.port ?? 443,
          path: '/.well-known/mta-sts.txt',
          servername: host,
          lookup,
          ...(this.#fetch.ca === undefined ? {} : { ca: this.#fetch.ca }),
          rejectUnauthorized: true,
          signal,
          headers: { accept: 'text/plain' },
        },
        (res) => {
          // RFC 8461 §3.3: a 200 only, redirects are not followed, the type is text/plain.
          if (res.statusCode !== 200) {
            res.resume();
            reject(new Error(`HTTP ${res.statusCode} from ${host}`));
            return;
          }
          if (!/^text\/plain\b/i.test(res.headers['content-type'] ?? '')) {
            res.resume();
            reject(new Error(`the policy from ${host} is not text/plain`));
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_POLICY_SIZE) {
              req.destroy(new Error(`the policy from ${host} is larger than ${MAX_POLICY_SIZE} octets`));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
          res.on('error', reject);
        },
      );
      // The whole fetch, not each silence: a policy host trickling bytes must not hold a delivery for long.
      const deadline = setTimeout(() => req.destroy(new Error(`no policy from ${host} within ${timeout} ms`)), timeout);
      req.on('close', () => clearTimeout(deadline));
      req.on('error', reject);
    });
  }
}

/** The error for an MX host an enforce policy refuses. */
export function stsRefused(domain: string, mxHost: string, why: string): TlsError {
  return new TlsError(`MTA-STS (enforce) for ${domain}: ${mxHost} refused: ${why}`, { code: ErrorCodes.TLS_POLICY });
}
