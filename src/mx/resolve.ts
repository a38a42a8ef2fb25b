/**
 * MX resolution (RFC 5321 §5.1): the MX hosts of a domain in preference order, equals in random
 * order; the implicit MX (the domain itself) when it has none; a null MX (RFC 7505) or a domain that
 * does not exist refused at once, permanently; every DNS failure a temporary DnsError. Each host's
 * addresses (AAAA then A unless IPv6 is off) come with whether the resolver validated them, which
 * DANE needs (RFC 7672 §2.2.2: TLSA only behind secure address records).
 *
 * `orderMx` and `mxTargets` are pure and table-tested; `resolveMx` does the lookups.
 */

import type { DnsLookup, DnsResolver } from '../dns/client.js';
import { canonicalName, type DnsRecord, RecordType } from '../dns/message.js';
import { DnsError, ErrorCodes } from '../errors.js';

export interface MxTarget {
  /** The MX host name (for the implicit MX, the domain). */
  host: string;
  preference: number;
  /** True for the implicit MX: the domain had no MX record. */
  implicit: boolean;
}

export interface MxHost extends MxTarget {
  /** Addresses in the order to try. Empty when the lookups found none (see `error`). */
  addresses: string[];
  /** The resolver validated the address records (and is trusted). */
  secure: boolean;
  /** Why this host has no addresses when a lookup failed (temporary). */
  error: DnsError | null;
}

export interface MxResolution {
  domain: string;
  /** The MX RRset was validated (DNSSEC) by a trusted resolver. */
  secure: boolean;
  hosts: MxHost[];
}

type MxRecord = DnsRecord & { type: 15; preference: number; exchange: string };

/** Sorted by preference; equal preferences shuffled (RFC 5321 §5.1). Pure given `random`. */
export function orderMx<T extends { preference: number }>(
  records: readonly T[],
  random: () => number = Math.random,
): T[] {
  const keyed = records.map((r) => ({ r, k: random() }));
  keyed.sort((a, b) => a.r.preference - b.r.preference || a.k - b.k);
  return keyed.map((x) => x.r);
}

/**
 * What an MX answer means for delivery. Pure.
 * @throws DnsError `ERR_SMTP_NO_MAIL_DOMAIN` (permanent) for NXDOMAIN or a null MX.
 */
export function mxTargets(
  domain: string,
  answer: { rcode: 'NOERROR' | 'NXDOMAIN'; records: readonly DnsRecord[] },
  random: () => number = Math.random,
): MxTarget[] {
  if (answer.rcode === 'NXDOMAIN')
    throw new DnsError(`${domain} does not exist (NXDOMAIN): it accepts no mail`, {
      temporary: false,
      rcode: 'NXDOMAIN',
      code: ErrorCodes.NO_MAIL_DOMAIN,
    });
  const mx = answer.records.filter((r): r is MxRecord => r.type === RecordType.MX && 'exchange' in r);
  if (mx.length === 0) return [{ host: canonicalName(domain), preference: 0, implicit: true }];
  const real = mx.filter((r) => r.exchange !== '');
  // RFC 7505 §3: a null MX ("0 .") says the domain takes no mail; once anything else is published too,
  // the null record is ignored (its meaning would contradict the others).
  if (real.length === 0)
    throw new DnsError(`${domain} publishes a null MX (RFC 7505): it accepts no mail`, {
      temporary: false,
      rcode: 'NOERROR',
      code: ErrorCodes.NO_MAIL_DOMAIN,
    });
  const seen = new Set<string>();
  const out: MxTarget[] = [];
  for (const r of orderMx(real, random)) {
    const host = canonicalName(r.exchange);
    if (seen.has(host)) continue;
    seen.add(host);
    out.push({ host, preference: r.preference, implicit: false });
  }
  return out;
}

export interface ResolveMxOptions {
  /** Look up AAAA records too (tried before A). Default true. */
  ipv6?: boolean;
  signal?: AbortSignal | undefined;
  random?: () => number;
  /** The domain's MX answer, when the caller already looked it up (not asked again). */
  answer?: DnsLookup;
}

/**
 * Resolves a domain's MX hosts and their addresses.
 * @throws DnsError: permanent for NXDOMAIN / null MX, temporary for a failed MX lookup.
 */
export async function resolveMx(
  resolver: DnsResolver,
  domain: string,
  options: ResolveMxOptions = {},
): Promise<MxResolution> {
  const signal = options.signal;
  const answer = options.answer ?? (await resolver.lookup(domain, RecordType.MX, { signal }));
  const targets = mxTargets(domain, answer, options.random);
  const hosts = await Promise.all(
    targets.map(async (t): Promise<MxHost> => {
      const families = options.ipv6 === false ? [RecordType.A] : [RecordType.AAAA, RecordType.A];
      const addresses: string[] = [];
      let secure = true;
      let error: DnsError | null = null;
      for (const type of families) {
        try {
          const a = await resolver.lookup(t.host, type, { signal });
          for (const r of a.records) if ('address' in r) addresses.push(r.address);
          // An empty but validated answer (NODATA) keeps the host secure; any unvalidated answer does not.
          if (!a.authenticated) secure = false;
        } catch (err) {
          if (!(err instanceof DnsError)) throw err;
          // A failed family does not make the host insecure: blocking AAAA answers must not switch DANE off.
          error = err;
        }
      }
      // One family failing while the other answers is usable; both failing is a temporary failure for this host.
      return { ...t, addresses, secure: secure && addresses.length > 0, error: addresses.length > 0 ? null : error };
    }),
  );
  return { domain, secure: answer.authenticated, hosts };
}
