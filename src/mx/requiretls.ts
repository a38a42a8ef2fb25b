/**
 * REQUIRETLS (RFC 8689 §4.1): a message that asks for it goes only to an MX host reached over TLS a
 * policy validated — the MX validated by DNSSEC or MTA-STS, the certificate by DANE or PKIX — and
 * only to a server that offers REQUIRETLS (MAIL then carries `REQUIRETLS`, transaction-plan.ts).
 * Otherwise the host is not used; when none is left the message fails permanently (5.7.30 in the
 * RFC's words). Pure.
 */
import { ErrorCodes, TlsError } from '../errors.js';
import type { StsPolicy } from './mta-sts.js';
import { mxMatches } from './mta-sts.js';
import type { TlsPlan } from './policy.js';

export interface RequireTlsInput {
  domain: string;
  mxHost: string;
  /** The MX RRset was DNSSEC-validated. */
  mxSecure: boolean;
  sts: StsPolicy | null;
}

/** The error when no validated path exists. */
export function requireTlsRefused(domain: string, mxHost: string, why: string): TlsError {
  return new TlsError(`REQUIRETLS: ${mxHost} for ${domain} not used: ${why} (RFC 8689, 5.7.30)`, {
    code: ErrorCodes.REQUIRETLS,
  });
}

/**
 * Narrows a plan for a REQUIRETLS message: DANE stays, PKIX stays, MTA-STS testing with a listed MX
 * becomes PKIX (the certificate is then required to be valid); anything else is refused.
 */
export function requireTlsPlan(plan: TlsPlan, input: RequireTlsInput): TlsPlan {
  if (plan.kind === 'refuse') return plan;
  const stsListed = input.sts !== null && input.sts.mode !== 'none' && mxMatches(input.sts.mx, input.mxHost);
  if (plan.kind === 'dane') {
    if (input.mxSecure || stsListed) return plan;
    return {
      kind: 'refuse',
      error: requireTlsRefused(
        input.domain,
        input.mxHost,
        'the MX records are not DNSSEC-validated and no MTA-STS policy lists the host',
      ),
      resultType: 'validation-failure',
    };
  }
  if (plan.kind === 'pkix') return plan;
  if (plan.kind === 'opportunistic' && stsListed) return { kind: 'pkix' };
  return {
    kind: 'refuse',
    error: requireTlsRefused(
      input.domain,
      input.mxHost,
      plan.kind === 'encrypt'
        ? 'its TLSA records are unusable, so its certificate cannot be validated'
        : 'no DANE or MTA-STS policy validates it',
    ),
    resultType: 'validation-failure',
  };
}
