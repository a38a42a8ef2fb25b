/**
 * The TLS an MX host gets, decided from the policies that apply (pure, table-tested):
 *
 *   DANE usable TLSA (validated)  → TLS required, the chain checked against the TLSA records
 *   MTA-STS enforce               → MX must match the policy; TLS required, WebPKI-valid for the MX name
 *   DANE TLSA, none usable        → TLS required, not authenticated (RFC 7672 §2.2)
 *   MTA-STS testing               → delivered as without a policy; failures are reported (TLS-RPT)
 *   nothing                       → opportunistic STARTTLS, the certificate not checked (as MTAs do)
 *
 * Usable DANE overrides MTA-STS (RFC 8461 §2). TLSA records none of which is usable authenticate nothing, so
 * they do not: an enforce policy's check still applies (the stricter plan, as Postfix's policy table gives it
 * precedence over DNS-derived `dane` → `encrypt`); without one, TLS is only required. REQUIRETLS (requiretls.ts) then refuses any plan that is not
 * validated. transport/ enforces the plan (`verifyPeer`, required STARTTLS); this module only decides.
 */
import type { SmtpError } from '../errors.js';
import type { DaneRequirement, TlsaRecord } from './dane.js';
import { mxMatches, type StsPolicy, stsRefused } from './mta-sts.js';
import type { PolicyType, RptResultType } from './tls-rpt.js';

export type TlsPlan =
  /** STARTTLS when offered, certificate unchecked; `report` also checks it for TLS-RPT (MTA-STS testing). */
  | { kind: 'opportunistic'; report: boolean; reportedFailure: RptResultType | null }
  /** TLS required, certificate chain and MX name checked (WebPKI or the caller's CA). */
  | { kind: 'pkix' }
  | { kind: 'dane'; records: TlsaRecord[] }
  /** TLS required, not authenticated. */
  | { kind: 'encrypt' }
  | { kind: 'refuse'; error: SmtpError; resultType: RptResultType };

export interface PlanInput {
  domain: string;
  mxHost: string;
  dane: DaneRequirement;
  sts: StsPolicy | null;
}

/** Pure: the plan for one MX host. */
export function decideTls(input: PlanInput): TlsPlan {
  const { dane, sts } = input;
  if (dane.kind === 'authenticate') return { kind: 'dane', records: dane.records };
  if (sts && sts.mode === 'enforce') {
    if (!mxMatches(sts.mx, input.mxHost))
      return {
        kind: 'refuse',
        error: stsRefused(input.domain, input.mxHost, `not listed in the policy (mx: ${sts.mx.join(', ')})`),
        resultType: 'validation-failure',
      };
    return { kind: 'pkix' };
  }
  if (dane.kind === 'encrypt') return { kind: 'encrypt' };
  if (sts && sts.mode === 'testing') {
    const matches = mxMatches(sts.mx, input.mxHost);
    return { kind: 'opportunistic', report: true, reportedFailure: matches ? null : 'validation-failure' };
  }
  return { kind: 'opportunistic', report: false, reportedFailure: null };
}

/** The policy behind a plan, for TLS-RPT. Pure. */
export function policyType(input: PlanInput): PolicyType {
  // The policy decideTls applies: usable DANE, then an enforce policy, then unusable TLSA, then testing.
  const { dane, sts } = input;
  if (dane.kind === 'authenticate') return 'tlsa';
  if (sts?.mode === 'enforce') return 'sts';
  if (dane.kind !== 'none') return 'tlsa';
  if (sts && sts.mode !== 'none') return 'sts';
  return 'no-policy-found';
}
