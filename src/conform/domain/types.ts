/**
 * Types of `conform({ domain })`: the domain scan's options, findings and report. Pure declarations.
 */
import type { DnsResolver, DnsResolverOptions } from '../../dns/client.js';
import type { ConformReport, ConformStatus, ConformSummary } from '../types.js';

/** The finding groups of a domain scan, in report order. */
export type DomainGroup = 'mx' | 'mta-sts' | 'tls-rpt' | 'tls' | 'dane';

export const DOMAIN_GROUPS: readonly DomainGroup[] = Object.freeze(['mx', 'mta-sts', 'tls-rpt', 'tls', 'dane']);

/** One finding. `host` names the MX host (and address) it is about, null for the domain's own records. */
export interface DomainFinding {
  id: string;
  group: DomainGroup;
  status: ConformStatus;
  rfc: string;
  reason: string;
  host: string | null;
  durationMs: number;
}

export interface ConformDomainOptions {
  domain: string;
  /** A resolver or its options; mark it `trusted` (a validating resolver on loopback) to judge DNSSEC and DANE. */
  resolver?: DnsResolver | DnsResolverOptions;
  /** SMTP port of the MX hosts; default 25. */
  port?: number;
  /** Trust anchors for the certificate checks; default Node's CA store. */
  ca?: string | Buffer | (string | Buffer)[];
  /** Where the MTA-STS policy is fetched (a lab's port and CA); default 443 and `ca`. */
  mtaSts?: { port?: number; ca?: string | Buffer | (string | Buffer)[] };
  /** EHLO name; default `smtpwire.conform`. */
  clientName?: string;
  /** Longest wait for one reply or handshake, ms; default 10000. */
  timeout?: number;
  /** Also run these groups or ids of the server checks (`conform({ host })`) on each MX host; default none. */
  hostChecks?: readonly string[];
  /** Addresses scanned per MX host; default 2. */
  addressesPerHost?: number;
  signal?: AbortSignal;
}

export interface DomainMxHost {
  host: string;
  preference: number;
  addresses: string[];
  /** The server checks of `hostChecks`, per scanned address. */
  checks: ConformReport[];
}

/** The result of `conform({ domain })`. JSON-serialisable. */
export interface ConformDomainReport {
  domain: string;
  mx: DomainMxHost[];
  findings: DomainFinding[];
  summary: ConformSummary;
}
