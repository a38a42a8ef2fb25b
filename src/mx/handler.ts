/**
 * SmtpMxHandler: delivery to the recipients' domains, as an MTA does (`transport: 'mx'`), with the same
 * `sendMessage` / `sendRaw` and `DeliveryResult` as SmtpProtocolHandler. Per message: recipients are
 * grouped by domain, one transaction per domain (in parallel); per domain: MX hosts (resolve.ts), the
 * MTA-STS policy, per host the TLSA records and the TLS plan (policy.ts, requiretls.ts); attempts go
 * host by host, address by address, moving on after a connection failure, a 4xx or a TLS failure,
 * with the retry policy's backoff between rounds. Every session is recorded for TLS-RPT.
 */

import { DnsResolver, type DnsResolverOptions } from '../dns/client.js';
import { canonicalName } from '../dns/message.js';
import { SmtpDeliveryStatus } from '../enums.js';
import { ClosedError, DnsError, ErrorCodes, InvalidArgumentError, type SmtpError } from '../errors.js';
import { createDkimSigners, type DkimOptions } from '../message/dkim/sign.js';
import { type DkimSpoolOptions, resolveDkimSpool } from '../message/dkim/signed-body.js';
import { type PreparedMessage, prepareMessage, prepareRaw } from '../message/prepare.js';
import type { AddressInput } from '../message/types.js';
import { MESSAGE_INPUT_KEYS } from '../message/types.js';
import { resolveLimits, type ValidationLimits } from '../message/validator.js';
import {
  assertKnownKeys,
  checkBooleans,
  checkClientName,
  checkFunction,
  checkLocalAddress,
  checkPort,
  findUnknownKey,
  MX_HANDLER_OPTION_KEYS,
  MX_SEND_OPTION_KEYS,
  MX_STS_OPTION_KEYS,
  positiveInteger,
  SEND_MESSAGE_OPTION_KEYS,
  SEND_RAW_OPTION_KEYS,
} from '../options.js';
import { checkDsn, type DsnOptions } from '../protocol/dsn.js';
import { invalid as invalidResult } from '../send/decide.js';
import { DeliveryResult } from '../send/result.js';
import { backoffDelay, type RetryPolicy, resolveRetryPolicy, sleep } from '../send/retry.js';
import type { RawEnvelope, RawMessage, SendMessageOptions, SendRawOptions } from '../send/send-options.js';
import { RFC5321_TIMEOUTS, resolveTimeouts, type Timeouts, type TranscriptEntry } from '../transport/connection.js';
import { type DaneRequirement, lookupTlsa } from './dane.js';
import { Destination, type DestinationSettings, isTlsFailure, type UsablePlan } from './destination.js';
import { MtaSts, type StsCache, type StsLookup, type StsPolicy } from './mta-sts.js';
import { decideTls, policyType, type TlsPlan } from './policy.js';
import { requireTlsPlan } from './requiretls.js';
import { type MxHost, resolveMx } from './resolve.js';
import { combineResults, type DomainOutcome, type MxDeliveryResult, type TlsUsed } from './results.js';
import { type PolicyType, type RptResultType, TlsRptCollector } from './tls-rpt.js';

export interface SmtpMxHandlerOptions {
  /** `'mx'`: deliver to the recipients' MX hosts (the only value; it names the mode). */
  transport?: 'mx';
  /** A resolver, or its options (`servers`, `trusted` …). Default: the system's servers, untrusted (no DANE). */
  resolver?: DnsResolver | DnsResolverOptions;
  fromAddress?: AddressInput;
  /** EHLO name; default the local address literal. An MTA should give its host name. */
  clientName?: string;
  /** Source address of outgoing connections. */
  localAddress?: string;
  /** SMTP port of the MX hosts; default 25 (a test lab may use another). TLSA is looked up for this port. */
  port?: number;
  /** Connections per destination (MX address and TLS plan); default 2. */
  poolSize?: number;
  /** Default RFC 5321's (greeting 5 min …). */
  timeouts?: Partial<Timeouts>;
  /** Rounds over the MX hosts, with these delays between them. */
  retryPolicy?: Partial<RetryPolicy>;
  limits?: Partial<ValidationLimits>;
  dkim?: DkimOptions | DkimOptions[];
  dkimSpool?: DkimSpoolOptions;
  /** Look up AAAA too (tried first); default true. */
  ipv6?: boolean;
  /** MTA-STS (RFC 8461); default on. `false` turns it off. */
  mtaSts?: false | { cache?: StsCache; port?: number; ca?: string | Buffer | (string | Buffer)[]; timeout?: number };
  /** DANE (RFC 7672); default on, effective only with a `trusted` resolver. */
  dane?: boolean;
  /** Trust anchors for certificate checks that MTA-STS or REQUIRETLS require; default Node's CA store. */
  ca?: string | Buffer | (string | Buffer)[];
  onTranscript?: (entry: TranscriptEntry) => void;
  /** Where sessions are recorded for TLS-RPT; default a new collector (`handler.tlsRpt`). */
  tlsRpt?: TlsRptCollector;
}

export interface MxSendOptions {
  /** RFC 8689: send only over TLS a policy validated, with REQUIRETLS on MAIL. */
  requireTls?: boolean;
}

// `resume` names one server's progress: a delivery to several domains keeps its own per domain (retryRecipients).
const SEND_KEYS: readonly string[] = [
  ...MESSAGE_INPUT_KEYS,
  ...SEND_MESSAGE_OPTION_KEYS.filter((key) => key !== 'resume'),
  ...MX_SEND_OPTION_KEYS,
];
const RAW_KEYS: readonly string[] = [...SEND_RAW_OPTION_KEYS.filter((key) => key !== 'resume'), ...MX_SEND_OPTION_KEYS];
const DEFAULT_POOL_SIZE = 2;
/** Destinations (MX address × TLS plan) kept with their pools; the least recently used idle ones go first. */
const MAX_DESTINATIONS = 256;

/** What one send asked for, carried to each domain. */
interface SendSettings {
  signal: AbortSignal | undefined;
  requireTls: boolean;
  beforeHandOver: (() => void | Promise<void>) | undefined;
  /** Rounds over the MX hosts with backoff (false: one round). */
  retry: boolean;
  /** The message's own DKIM option, instead of the handler's. */
  dkim: DkimOptions | DkimOptions[] | undefined;
  /** RFC 3461 parameters, checked once by `protocol/dsn.ts`, for every domain's transaction. */
  dsn: DsnOptions | undefined;
}

interface Attempted {
  result: DeliveryResult;
  mxHost: string;
  address: string;
  tls: TlsUsed;
}

export class SmtpMxHandler {
  readonly transport = 'mx' as const;
  readonly resolver: DnsResolver;
  readonly tlsRpt: TlsRptCollector;
  readonly fromAddress: AddressInput | undefined;
  readonly #settings: DestinationSettings;
  readonly #retryPolicy: RetryPolicy;
  readonly #limits: Readonly<ValidationLimits>;
  readonly #mtaSts: MtaSts | null;
  readonly #dane: boolean;
  readonly #ipv6: boolean;
  readonly #destinations = new Map<string, Destination>();
  readonly #inflight = new Set<Promise<unknown>>();
  #closed = false;

  /** @throws InvalidArgumentError naming the option at fault. */
  constructor(options: SmtpMxHandlerOptions = {}) {
    if (options === null || typeof options !== 'object')
      throw new InvalidArgumentError('options must be an object', { field: 'options' });
    assertKnownKeys(options, MX_HANDLER_OPTION_KEYS, 'SmtpMxHandler');
    if (options.mtaSts !== undefined && options.mtaSts !== false)
      assertKnownKeys(options.mtaSts, MX_STS_OPTION_KEYS, 'SmtpMxHandler.mtaSts');
    checkClientName(options.clientName);
    checkBooleans(options, ['ipv6', 'dane']);
    checkFunction(options.onTranscript, 'onTranscript');
    checkLocalAddress(options.localAddress);
    if (options.transport !== undefined && options.transport !== 'mx')
      throw new InvalidArgumentError("transport must be 'mx'", { field: 'transport' });
    // options.ts's rules: the same value gets the same error as from SmtpProtocolHandler.
    const port = checkPort(options.port ?? 25, 'tls');
    const poolSize = positiveInteger(options.poolSize, DEFAULT_POOL_SIZE, 'poolSize');
    this.resolver = options.resolver instanceof DnsResolver ? options.resolver : new DnsResolver(options.resolver);
    this.#retryPolicy = resolveRetryPolicy(options.retryPolicy);
    this.#limits = resolveLimits(options.limits);
    this.tlsRpt = options.tlsRpt ?? new TlsRptCollector();
    this.fromAddress = options.fromAddress;
    this.#dane = options.dane !== false;
    this.#ipv6 = options.ipv6 !== false;
    const sts = options.mtaSts;
    this.#mtaSts =
      sts === false
        ? null
        : new MtaSts({
            resolver: this.resolver,
            ...(sts?.cache ? { cache: sts.cache } : {}),
            fetch: {
              ...(sts?.port === undefined ? {} : { port: sts.port }),
              ...(sts?.ca === undefined ? {} : { ca: sts.ca }),
              ...(sts?.timeout === undefined ? {} : { timeout: sts.timeout }),
            },
          });
    this.#settings = {
      port,
      poolSize,
      timeouts: resolveTimeouts({ ...RFC5321_TIMEOUTS, ...options.timeouts }),
      clientName: options.clientName,
      localAddress: options.localAddress,
      ca: options.ca,
      onTranscript: options.onTranscript,
      dkim: options.dkim === undefined ? null : createDkimSigners(options.dkim),
      dkimSpool: resolveDkimSpool(options.dkimSpool, this.#limits),
      now: () => new Date(),
    };
  }

  /** Validates, builds and delivers one message to every recipient's domain. Never throws for a delivery outcome. */
  sendMessage(options: SendMessageOptions & MxSendOptions): Promise<MxDeliveryResult | DeliveryResult> {
    return this.#track(async () => {
      if (typeof options !== 'object' || options === null)
        return invalidResult(new InvalidArgumentError('sendMessage needs an options object', { field: 'options' }));
      const unknown = findUnknownKey(options, SEND_KEYS, 'sendMessage');
      if (unknown) return invalidResult(new InvalidArgumentError(unknown.message, { field: unknown.key }));
      const { requireTls, retry, dkim, ...rest } = options;
      let prepared: PreparedMessage;
      let dsn: DsnOptions | undefined;
      try {
        dsn = checkDsn(rest.dsn);
        prepared = prepareMessage(rest, {
          limits: this.#limits,
          defaultFrom: this.fromAddress,
          messageId: rest.messageId,
          envelope: rest.envelope,
        });
      } catch (err) {
        return invalidResult(err);
      }
      return this.#deliver(prepared, {
        signal: rest.signal,
        requireTls: requireTls === true,
        beforeHandOver: rest.onBeforeHandOver,
        retry: retry !== false,
        dkim,
        dsn,
      });
    });
  }

  /** Delivers a prepared RFC 5322 message to every envelope recipient's domain. */
  sendRaw(
    envelope: RawEnvelope,
    message: RawMessage,
    options: SendRawOptions & MxSendOptions = {},
  ): Promise<MxDeliveryResult | DeliveryResult> {
    return this.#track(async () => {
      const unknown = findUnknownKey(options, RAW_KEYS, 'sendRaw');
      if (unknown) return invalidResult(new InvalidArgumentError(unknown.message, { field: unknown.key }));
      let prepared: PreparedMessage;
      let dsn: DsnOptions | undefined;
      try {
        dsn = checkDsn(envelope.dsn, 'envelope.dsn');
        prepared = prepareRaw(envelope, message, { messageId: options.messageId, limits: this.#limits });
      } catch (err) {
        return invalidResult(err);
      }
      return this.#deliver(prepared, {
        signal: options.signal,
        requireTls: options.requireTls === true,
        beforeHandOver: options.onBeforeHandOver,
        retry: options.retry !== false,
        dkim: options.dkim,
        dsn,
      });
    });
  }

  /** Waits for deliveries in flight, then closes every destination's connections. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    await Promise.all([...this.#destinations.values()].map((d) => d.close()));
    this.#destinations.clear();
  }

  #track<T>(run: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new ClosedError('handler is closed'));
    const p = run();
    this.#inflight.add(p);
    const done = (): void => void this.#inflight.delete(p);
    p.then(done, done);
    return p;
  }

  async #deliver(prepared: PreparedMessage, send: SendSettings): Promise<MxDeliveryResult | DeliveryResult> {
    const byDomain = new Map<string, string[]>();
    for (const rcpt of prepared.envelope.to) {
      const at = rcpt.lastIndexOf('@');
      const domain = canonicalName(rcpt.slice(at + 1));
      byDomain.set(domain, [...(byDomain.get(domain) ?? []), rcpt]);
    }
    if (byDomain.size > 1 && !prepared.replayable)
      return invalidResult(
        new InvalidArgumentError('a one-shot stream body can go to one domain only: give bytes or a stream factory', {
          field: 'message',
        }),
      );
    const outcomes = await Promise.all(
      [...byDomain].map(([domain, to]) => this.#deliverDomain(domain, to, prepared, send)),
    );
    return combineResults(prepared.messageId, outcomes);
  }

  /** One domain: resolution, policies, then attempts over its MX hosts in rounds. */
  async #deliverDomain(
    domain: string,
    to: string[],
    prepared: PreparedMessage,
    send: SendSettings,
  ): Promise<DomainOutcome> {
    const { signal, requireTls, beforeHandOver } = send;
    const given = to.map((r) => prepared.asGiven(r));
    const narrowed: PreparedMessage = {
      envelope: { ...prepared.envelope, to, ...(requireTls ? { requireTls: true } : {}) },
      messageId: prepared.messageId,
      replayable: prepared.replayable,
      body: () => prepared.body(),
      asGiven: (wire) => prepared.asGiven(wire),
    };
    const job = {
      prepared: narrowed,
      retry: false,
      signal,
      beforeHandOver,
      dkim: send.dkim,
      start: null,
      dsn: send.dsn,
    };
    const failed = (err: SmtpError, status: SmtpDeliveryStatus, retryCount = 0): DomainOutcome => ({
      domain,
      recipients: given,
      result: new DeliveryResult({
        status,
        messageId: prepared.messageId,
        smtpError: err.message,
        isRetryable: status === SmtpDeliveryStatus.TEMP_FAILED,
        retryCount,
        error: err,
      }),
      mxHost: null,
      address: null,
      tls: null,
    });
    const rounds = send.retry ? this.#retryPolicy.maxRetries + 1 : 1;
    let last: Attempted | null = null;
    let lastError: SmtpError | null = null;
    let permanent = false;
    for (let round = 0; round < rounds; round++) {
      if (round > 0) {
        try {
          await sleep(backoffDelay(round - 1, this.#retryPolicy), signal);
        } catch (err) {
          return failed(err as SmtpError, SmtpDeliveryStatus.FAILED, round - 1);
        }
      }
      // A domain literal (user@[192.0.2.1]) names its host: no MX, no policy.
      let hosts: MxHost[];
      let mxSecure = false;
      let sts: StsLookup = { policy: null, id: null, source: 'none', fetchError: null, txtError: null };
      if (domain.startsWith('[')) {
        const address = domain.slice(1, -1).replace(/^ipv6:/i, '');
        hosts = [{ host: address, preference: 0, implicit: true, addresses: [address], secure: false, error: null }];
      } else {
        try {
          const resolution = await resolveMx(this.resolver, domain, { ipv6: this.#ipv6, signal });
          hosts = resolution.hosts;
          mxSecure = resolution.secure;
        } catch (err) {
          if (err instanceof DnsError && !err.temporary) return failed(err, SmtpDeliveryStatus.FAILED, round);
          if (err instanceof DnsError) {
            lastError = err;
            continue;
          }
          return failed(err as SmtpError, SmtpDeliveryStatus.FAILED, round);
        }
        // Before failing a message for its policy, look for a newer one (RFC 8461 §5.1): each later round refreshes.
        if (this.#mtaSts) sts = await this.#mtaSts.policyFor(domain, { refresh: round > 0, signal });
        if (sts.fetchError)
          this.#report(
            domain,
            'sts',
            sts.policy,
            null,
            hosts[0]?.host ?? domain,
            null,
            'sts-policy-fetch-error',
            sts.fetchError,
          );
      }
      const implicitOnly = hosts.length === 1 && hosts[0]!.implicit;
      if (implicitOnly && hosts[0]!.addresses.length === 0 && hosts[0]!.error === null && !domain.startsWith('['))
        return failed(
          new DnsError(`${domain} has no MX and no address records: it accepts no mail`, {
            temporary: false,
            code: ErrorCodes.NO_MAIL_DOMAIN,
          }),
          SmtpDeliveryStatus.FAILED,
          round,
        );
      permanent = false;
      for (const host of hosts) {
        if (host.error || host.addresses.length === 0) {
          lastError = host.error ?? lastError;
          continue;
        }
        let dane: DaneRequirement = { kind: 'none', reason: 'DANE off' };
        if (this.#dane && !domain.startsWith('[')) {
          try {
            dane = await lookupTlsa(this.resolver, host.host, {
              port: this.#settings.port,
              addressesSecure: host.secure,
              signal,
            });
          } catch (err) {
            if (!(err instanceof DnsError)) throw err;
            // A bogus or failing TLSA lookup: this host is not used (never a downgrade).
            lastError = err;
            this.#report(domain, 'tlsa', sts.policy, null, host.host, null, 'dnssec-invalid', err.message);
            continue;
          }
        }
        const input = { domain, mxHost: host.host, dane, sts: sts.policy };
        let plan: TlsPlan = decideTls(input);
        if (requireTls) plan = requireTlsPlan(plan, { domain, mxHost: host.host, mxSecure, sts: sts.policy });
        const ptype = policyType(input);
        if (plan.kind === 'refuse') {
          lastError = plan.error;
          if (plan.error.code === ErrorCodes.REQUIRETLS) permanent = true;
          this.#report(domain, ptype, sts.policy, dane, host.host, null, plan.resultType, plan.error.message);
          continue;
        }
        for (const address of host.addresses) {
          const attempted = await this.#attempt(job, domain, host.host, address, plan, ptype, sts.policy, dane);
          last = attempted;
          const r = attempted.result;
          if (r.status === SmtpDeliveryStatus.SUCCESS || r.status === SmtpDeliveryStatus.UNKNOWN)
            return this.#outcome(domain, given, attempted);
          // A server that does not offer REQUIRETLS: another MX may; none left is a permanent failure.
          if (r.error?.code === ErrorCodes.REQUIRETLS) {
            permanent = true;
            lastError = r.error;
            continue;
          }
          if (r.isRetryable || isTlsFailure(r.error)) {
            lastError = r.error;
            continue;
          }
          // A permanent answer (5xx, every recipient refused, an invalid message): final for the domain.
          return this.#outcome(domain, given, attempted);
        }
      }
      if (permanent) break;
    }
    if (permanent && lastError) return failed(lastError, SmtpDeliveryStatus.FAILED, rounds - 1);
    if (last && lastError === last.result.error) {
      const o = this.#outcome(domain, given, last);
      return { ...o, result: retagTemporary(o.result) };
    }
    return failed(
      lastError ?? new DnsError(`no usable MX host for ${domain}`, { temporary: true }),
      SmtpDeliveryStatus.TEMP_FAILED,
      rounds - 1,
    );
  }

  async #attempt(
    job: Parameters<Destination['deliver']>[0],
    domain: string,
    mxHost: string,
    address: string,
    plan: Exclude<TlsPlan, { kind: 'refuse' }>,
    ptype: PolicyType,
    sts: StsPolicy | null,
    dane: DaneRequirement,
  ): Promise<Attempted> {
    const dest = this.#destination(address, mxHost, plan);
    let { result, facts } = await dest.deliver(job);
    let used = dest;
    // Opportunistic TLS that fails its handshake is retried in plaintext, as MTAs do: without a
    // policy, plaintext is what the sender accepted.
    if (plan.kind === 'opportunistic' && result.error?.code === ErrorCodes.TLS && !result.error.messageHandedOver) {
      this.#report(domain, ptype, sts, dane, mxHost, address, 'validation-failure', result.error.message);
      used = this.#destination(address, mxHost, { kind: 'plaintext' });
      ({ result, facts } = await used.deliver(job));
    }
    let failure: RptResultType | null = facts?.failure ?? null;
    if (failure === null && plan.kind === 'opportunistic') failure = plan.reportedFailure;
    if (failure === null && result.error && isTlsFailure(result.error)) failure = tlsFailureType(result.error);
    if (used === dest)
      this.#report(domain, ptype, sts, dane, mxHost, address, failure, facts?.detail ?? result.error?.message ?? null);
    return { result, mxHost, address, tls: used.tlsUsed(facts) };
  }

  #destination(address: string, mxHost: string, plan: UsablePlan): Destination {
    const key = JSON.stringify([
      address,
      mxHost,
      plan.kind,
      plan.kind === 'dane' ? plan.records.map((r) => r.data.toString('hex')) : null,
      plan.kind === 'opportunistic' ? plan.report : null,
    ]);
    let dest = this.#destinations.get(key);
    if (dest) {
      // Most recently used last: the eviction below takes the least recently used first.
      this.#destinations.delete(key);
      this.#destinations.set(key, dest);
      return dest;
    }
    dest = new Destination(address, mxHost, plan, this.#settings);
    this.#destinations.set(key, dest);
    // Bounded: idle destinations beyond the limit are closed (their parked connections QUIT).
    for (const [k, d] of this.#destinations) {
      if (this.#destinations.size <= MAX_DESTINATIONS) break;
      if (d === dest || d.inUse > 0) continue;
      this.#destinations.delete(k);
      void d.close().catch(() => {});
    }
    return dest;
  }

  #outcome(domain: string, recipients: string[], a: Attempted): DomainOutcome {
    return {
      domain,
      recipients,
      result: a.result,
      mxHost: a.mxHost,
      address: a.address,
      tls: a.tls,
    };
  }

  #report(
    domain: string,
    type: PolicyType,
    sts: StsPolicy | null,
    dane: DaneRequirement | null,
    mxHost: string,
    address: string | null,
    failure: RptResultType | null,
    detail: string | null,
  ): void {
    const policyStrings =
      type === 'sts' && sts
        ? sts.text.split(/\r?\n/).filter((l) => l.trim() !== '')
        : type === 'tlsa' && dane && dane.kind !== 'none'
          ? dane.records.map((r) => `${r.usage} ${r.selector} ${r.matchingType} ${r.data.toString('hex')}`)
          : [];
    this.tlsRpt.record({
      domain,
      policyType: type,
      policyStrings,
      mxHost,
      receivingIp: address,
      sendingIp: this.#settings.localAddress ?? null,
      failure,
      ...(failure && detail ? { detail } : {}),
    });
  }
}

function tlsFailureType(err: SmtpError): RptResultType {
  if (err.code === ErrorCodes.STARTTLS_UNAVAILABLE) return 'starttls-not-supported';
  const cause = (err.cause as { code?: string } | undefined)?.code;
  if (cause === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'certificate-host-mismatch';
  if (cause === 'CERT_HAS_EXPIRED') return 'certificate-expired';
  if (err.code === ErrorCodes.TLS_POLICY) return 'validation-failure';
  return 'certificate-not-trusted';
}

/** After every host failed temporarily or for TLS, the domain's result is a temporary failure (deferred, never downgraded). */
function retagTemporary(r: DeliveryResult): DeliveryResult {
  if (r.status === SmtpDeliveryStatus.TEMP_FAILED) return r;
  return new DeliveryResult({
    status: SmtpDeliveryStatus.TEMP_FAILED,
    messageId: r.messageId,
    smtpCode: r.smtpCode,
    smtpError: r.smtpError,
    enhancedCode: r.enhancedCode,
    response: r.response,
    recipientFailures: r.recipientFailures,
    acceptedRecipients: r.acceptedRecipients,
    retryCount: r.retryCount,
    isRetryable: true,
    error: r.error,
  });
}
