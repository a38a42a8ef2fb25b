/**
 * DANE for SMTP (RFC 7672, RFC 6698, RFC 7671): what the TLSA records at `_25._tcp.<mx>` require, and
 * whether a presented certificate chain satisfies them.
 *
 * - Only records a *trusted* validating resolver marked authentic count (the caller's `trusted`
 *   resolver; the AD bit from anywhere else is ignored). Insecure or absent records: no DANE.
 * - A SERVFAIL (which a validating resolver gives for a bogus signature) is a temporary failure of
 *   this MX host, never a fall back to plaintext or unauthenticated TLS (RFC 7672 §2.2).
 * - Usable records: DANE-TA(2) and DANE-EE(3) (RFC 7672 §3.1.3 says PKIX-TA(0) and PKIX-EE(1) are
 *   not used for SMTP), selector Cert(0) or SPKI(1), matching Full(0), SHA2-256(1), SHA2-512(2).
 *   Secure records of which none is usable still make TLS mandatory, without authentication (§2.2).
 * - DANE-EE(3): the leaf matches; no name and no expiry check (§3.1.1). DANE-TA(2): a certificate
 *   the server sent matches, the chain from the leaf up to it verifies, and the leaf names the MX
 *   host (§3.2.2) and is within its validity period.
 *
 * `tlsaRequirement` and `verifyDane` are pure (the certificates come in as DER); `lookupTlsa` queries.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { DnsResolver } from '../dns/client.js';
import { type DnsRecord, RecordType } from '../dns/message.js';
import { DnsError, ErrorCodes, TlsError } from '../errors.js';

export interface TlsaRecord {
  usage: number;
  selector: number;
  matchingType: number;
  data: Buffer;
}

/** What DANE asks of one MX host. */
export type DaneRequirement =
  | { kind: 'none'; reason: string }
  /** Secure TLSA records, none usable: TLS is mandatory, the certificate is not checked. */
  | { kind: 'encrypt'; records: TlsaRecord[] }
  | { kind: 'authenticate'; records: TlsaRecord[] };

export const DANE_TA = 2;
export const DANE_EE = 3;

/** Whether this implementation can use a record (RFC 7672 §3.1). */
export function usableTlsa(r: TlsaRecord): boolean {
  return (r.usage === DANE_TA || r.usage === DANE_EE) && (r.selector === 0 || r.selector === 1) && r.matchingType <= 2;
}

/** The TLSA lookup's answer → the requirement. Pure. */
export function tlsaRequirement(answer: {
  authenticated: boolean;
  rcode: string;
  records: readonly TlsaRecord[];
}): DaneRequirement {
  if (!answer.authenticated) return { kind: 'none', reason: 'TLSA records are not DNSSEC-validated' };
  if (answer.records.length === 0) return { kind: 'none', reason: 'no TLSA records' };
  const usable = answer.records.filter(usableTlsa);
  if (usable.length === 0) return { kind: 'encrypt', records: [...answer.records] };
  return { kind: 'authenticate', records: usable };
}

/**
 * The TLSA records of an MX host, looked up only when its address records were validated.
 * @throws DnsError (temporary) when the lookup fails: the host must not be used.
 */
export async function lookupTlsa(
  resolver: DnsResolver,
  mxHost: string,
  options: { port?: number; addressesSecure: boolean; signal?: AbortSignal | undefined },
): Promise<DaneRequirement> {
  if (!resolver.trusted) return { kind: 'none', reason: 'the resolver is not trusted for DNSSEC' };
  if (!options.addressesSecure) return { kind: 'none', reason: `the address records of ${mxHost} are not validated` };
  const name = `_${options.port ?? 25}._tcp.${mxHost}`;
  let answer: Awaited<ReturnType<DnsResolver['lookup']>>;
  try {
    answer = await resolver.lookup(name, RecordType.TLSA, { signal: options.signal });
  } catch (err) {
    if (err instanceof DnsError)
      throw new DnsError(`TLSA lookup of ${name} failed (${err.rcode ?? err.message}): this MX host is not used`, {
        temporary: true,
        rcode: err.rcode,
        cause: err,
      });
    throw err;
  }
  const records = answer.records
    .filter((r: DnsRecord): r is DnsRecord & TlsaRecord => r.type === RecordType.TLSA && 'usage' in r)
    .map((r) => ({ usage: r.usage, selector: r.selector, matchingType: r.matchingType, data: r.data }));
  return tlsaRequirement({ authenticated: answer.authenticated, rcode: answer.rcode, records });
}

/** The bytes a record's selector and matching type compare (RFC 6698 §2.1.2–3). */
export function associationData(certDer: Buffer, selector: number, matchingType: number): Buffer {
  const subject = selector === 0 ? certDer : spki(certDer);
  if (matchingType === 1) return createHash('sha256').update(subject).digest();
  if (matchingType === 2) return createHash('sha512').update(subject).digest();
  return subject;
}

function spki(certDer: Buffer): Buffer {
  return new X509Certificate(certDer).publicKey.export({ type: 'spki', format: 'der' }) as Buffer;
}

function matchesRecord(certDer: Buffer, r: TlsaRecord): boolean {
  try {
    return associationData(certDer, r.selector, r.matchingType).equals(r.data);
  } catch {
    return false;
  }
}

/**
 * Checks a presented chain (leaf first, as the server sent it, DER) against the records.
 * Pure given `now`. Returns null when satisfied, else why not (for the error and TLS-RPT).
 */
export function verifyDane(
  chain: readonly Buffer[],
  records: readonly TlsaRecord[],
  mxHost: string,
  now: Date = new Date(),
): string | null {
  const leaf = chain[0];
  if (!leaf) return 'the server presented no certificate';
  if (records.some((r) => r.usage === DANE_EE && matchesRecord(leaf, r))) return null;
  const ta = records.filter((r) => r.usage === DANE_TA);
  if (ta.length > 0) {
    let certs: X509Certificate[];
    try {
      certs = chain.map((d) => new X509Certificate(d));
    } catch {
      return 'the server presented an unparseable certificate';
    }
    // The trust anchor is one of the issuers the server sent (RFC 7671 §5.2.2 asks servers to send it).
    for (let i = 1; i < chain.length; i++) {
      if (!ta.some((r) => matchesRecord(chain[i]!, r))) continue;
      if (!chainVerifies(certs.slice(0, i + 1))) return 'the chain up to the DANE-TA trust anchor does not verify';
      const leafCert = certs[0]!;
      if (leafCert.checkHost(mxHost, { subject: 'default' }) === undefined)
        return `the certificate does not name ${mxHost} (DANE-TA)`;
      if (now < new Date(leafCert.validFrom) || now > new Date(leafCert.validTo))
        return 'the certificate is outside its validity period (DANE-TA)';
      return null;
    }
  }
  return 'no certificate of the presented chain matches the TLSA records';
}

/** Each certificate is issued and signed by the next. */
function chainVerifies(certs: readonly X509Certificate[]): boolean {
  for (let i = 0; i + 1 < certs.length; i++) {
    const cert = certs[i]!;
    const issuer = certs[i + 1]!;
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) return false;
  }
  return true;
}

/** The error for a host DANE refuses: temporary (RFC 7672 §2.2: delivery is deferred, never downgraded). */
export function daneRefused(mxHost: string, why: string): TlsError {
  return new TlsError(`DANE: ${mxHost} refused: ${why}`, { code: ErrorCodes.TLS_POLICY });
}
