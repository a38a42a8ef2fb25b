/**
 * The TLS group of a domain scan, per MX address: STARTTLS offered, the negotiated version, whether
 * TLS 1.0/1.1 is still accepted, the certificate chain, name and expiry, and the TLSA records
 * against the presented chain (DANE). Sessions go through SmtpConnection (transport/ owns the
 * socket); certificates are captured with its `verifyPeer` hook and judged here.
 */
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { ErrorCodes } from '../../errors.js';
import { type DaneRequirement, verifyDane } from '../../mx/dane.js';
import { chainOf } from '../../mx/destination.js';
import { SmtpConnection } from '../../transport/connection.js';
import type { DomainFinding } from './types.js';

interface Captured {
  protocol: string | null;
  authorized: boolean;
  authorizationError: string | null;
  chain: Buffer[];
}

/** Days before expiry below which the certificate is a warning. */
const EXPIRY_WARNING_DAYS = 14;

async function handshake(
  address: string,
  mxHost: string,
  port: number,
  options: { ca: ScanTlsOptions['ca']; timeout: number; clientName: string; legacyOnly: boolean },
): Promise<{ captured: Captured | null; error: string | null; code: string | null; secure: boolean }> {
  let captured: Captured | null = null;
  const t = options.timeout;
  const conn = new SmtpConnection({
    host: address,
    port,
    encryption: 'tls',
    opportunisticTls: true,
    clientName: options.clientName,
    timeouts: { connect: t, greeting: t, tls: t, command: t },
    tls: {
      servername: mxHost,
      rejectUnauthorized: false,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      ciphers: 'DEFAULT:@SECLEVEL=0',
      minVersion: 'TLSv1',
      ...(options.legacyOnly ? { maxVersion: 'TLSv1.1' as const } : {}),
    },
    verifyPeer: (s: TLSSocket) => {
      captured = {
        protocol: s.getProtocol(),
        authorized: s.authorized,
        authorizationError: s.authorizationError ? String(s.authorizationError) : null,
        chain: chainOf(s),
      };
    },
  });
  try {
    await conn.connect();
    const secure = conn.secure;
    await conn.close().catch(() => {});
    return { captured, error: null, code: null, secure };
  } catch (err) {
    conn.destroy();
    return { captured, error: (err as Error).message, code: (err as { code?: string }).code ?? null, secure: false };
  }
}

export interface ScanTlsOptions {
  port: number;
  ca: string | Buffer | (string | Buffer)[] | undefined;
  timeout: number;
  clientName: string;
  dane: DaneRequirement;
  /** An MTA-STS enforce policy lists this host: an invalid certificate fails instead of warning. */
  pkixRequired: boolean;
  now: Date;
}

/** The TLS and DANE findings for one MX address. */
export async function scanTls(address: string, mxHost: string, o: ScanTlsOptions): Promise<DomainFinding[]> {
  const where = `${mxHost} [${address}]`;
  const out: DomainFinding[] = [];
  const started = performance.now();
  const add = (
    id: string,
    group: 'tls' | 'dane',
    status: DomainFinding['status'],
    rfc: string,
    reason: string,
  ): void => {
    out.push({ id, group, status, rfc, reason, host: where, durationMs: Math.round(performance.now() - started) });
  };
  const main = await handshake(address, mxHost, o.port, { ...o, legacyOnly: false });
  if (main.error !== null && main.captured === null) {
    add('starttls-offered', 'tls', 'fail', 'RFC 3207', `no TLS session: ${main.error}`);
    return out;
  }
  if (!main.secure || main.captured === null) {
    add(
      'starttls-offered',
      'tls',
      'fail',
      'RFC 3207 §4',
      'STARTTLS is not offered: mail to this host travels in plaintext',
    );
    return out;
  }
  const c: Captured = main.captured;
  add('starttls-offered', 'tls', 'pass', 'RFC 3207 §4', `STARTTLS offered, ${c.protocol} negotiated`);
  add(
    'tls-version',
    'tls',
    c.protocol === 'TLSv1.3' || c.protocol === 'TLSv1.2' ? 'pass' : 'fail',
    'RFC 8996',
    `negotiated ${c.protocol ?? 'unknown'}`,
  );
  const legacy = await handshake(address, mxHost, o.port, { ...o, legacyOnly: true });
  // Refused means the handshake was turned down (an alert, a reset); silence or a session that never
  // got to STARTTLS says nothing about the versions.
  const refused = legacy.error !== null && legacy.code !== ErrorCodes.TIMEOUT;
  add(
    'tls-legacy-versions',
    'tls',
    legacy.secure ? 'warn' : refused ? 'pass' : 'skipped',
    'RFC 8996',
    legacy.secure
      ? 'TLS 1.0 or 1.1 is still accepted'
      : refused
        ? 'TLS 1.0 and 1.1 are refused'
        : `inconclusive: the TLS 1.0/1.1 attempt ${legacy.error === null ? 'got no TLS session' : `failed: ${legacy.error}`}`,
  );
  const leaf = c.chain[0] ? new X509Certificate(c.chain[0]) : null;
  const soft = o.pkixRequired ? 'fail' : 'warn';
  // Node folds the name check into `authorized`; the name has its own finding below.
  const chainOk = c.authorized || c.authorizationError === 'ERR_TLS_CERT_ALTNAME_INVALID';
  add(
    'certificate-chain',
    'tls',
    chainOk ? 'pass' : soft,
    'RFC 8461 §4.2',
    chainOk ? 'the chain verifies to a trusted CA' : `the chain does not verify (${c.authorizationError})`,
  );
  const named = leaf !== null && leaf.checkHost(mxHost) !== undefined;
  add(
    'certificate-name',
    'tls',
    named ? 'pass' : soft,
    'RFC 6125 / RFC 8461 §4.2',
    named ? `the certificate names ${mxHost}` : `the certificate does not name ${mxHost}`,
  );
  if (leaf) {
    const daysLeft = (new Date(leaf.validTo).getTime() - o.now.getTime()) / 86_400_000;
    add(
      'certificate-expiry',
      'tls',
      daysLeft < 0 ? soft : daysLeft < EXPIRY_WARNING_DAYS ? 'warn' : 'pass',
      'RFC 5280 §4.1.2.5',
      daysLeft < 0 ? `expired on ${leaf.validTo}` : `valid until ${leaf.validTo} (${Math.floor(daysLeft)} days)`,
    );
  }
  if (o.dane.kind === 'none') add('dane-tlsa', 'dane', 'skipped', 'RFC 7672', o.dane.reason);
  else if (o.dane.kind === 'encrypt')
    add('dane-tlsa', 'dane', 'warn', 'RFC 7672 §3.1', 'TLSA records are published but none is usable (DANE-TA/EE)');
  else {
    const why = verifyDane(c.chain, o.dane.records, mxHost, o.now);
    add(
      'dane-tlsa',
      'dane',
      why === null ? 'pass' : 'fail',
      'RFC 7672 §3',
      why === null ? 'the presented chain matches the TLSA records' : `DANE would refuse this host: ${why}`,
    );
  }
  return out;
}
