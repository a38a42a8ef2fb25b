/**
 * One destination of delivery to a domain: an MX address, port and TLS plan, with its own connection
 * pool (the pool key does not include TLS settings, so each plan gets its own pool and a connection
 * opened under one policy is never reused under another) and the engine's attempt code (`Delivery`:
 * DKIM, the transaction, the result rules). The plan becomes transport options here: required
 * STARTTLS and `verifyPeer` (DANE, and the MTA-STS testing report) — the transport enforces them.
 */
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { ErrorCodes, TlsError } from '../errors.js';
import type { DkimOptions, DkimSigner } from '../message/dkim/sign.js';
import type { DkimSpoolOptions } from '../message/dkim/signed-body.js';
import { SmtpConnectionPool } from '../pool/pool.js';
import { Delivery, type Job } from '../send/delivery.js';
import type { DeliveryResult } from '../send/result.js';
import type { SmtpConnection, Timeouts, TranscriptEntry } from '../transport/connection.js';
import { daneRefused, verifyDane } from './dane.js';
import type { TlsPlan } from './policy.js';
import type { TlsUsed } from './results.js';
import type { RptResultType } from './tls-rpt.js';

export interface DestinationSettings {
  port: number;
  poolSize: number;
  timeouts: Timeouts;
  clientName: string | undefined;
  localAddress: string | undefined;
  /** Trust anchors for PKIX checks (MTA-STS, REQUIRETLS); Node's by default. */
  ca: string | Buffer | (string | Buffer)[] | undefined;
  onTranscript: ((entry: TranscriptEntry) => void) | undefined;
  dkim: readonly DkimSigner[] | null;
  dkimSpool: DkimSpoolOptions;
  now: () => Date;
}

/** What the last TLS handshake of a destination showed. */
export interface HandshakeFacts {
  version: string | null;
  authenticated: boolean;
  /** For TLS-RPT: why the certificate would not pass a policy's check, or null. */
  failure: RptResultType | null;
  detail: string | null;
}

/** A plan that can be used (not `refuse`), or plaintext after an opportunistic handshake failed. */
export type UsablePlan = Exclude<TlsPlan, { kind: 'refuse' }> | { kind: 'plaintext' };

/** Node's verification error code → the TLS-RPT result type (RFC 8460 §4.3.2). */
function pkixFailure(code: string | undefined): RptResultType {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'certificate-host-mismatch';
  if (code === 'CERT_HAS_EXPIRED') return 'certificate-expired';
  return 'certificate-not-trusted';
}

/** The chain the server presented, leaf first, as DER. */
export function chainOf(socket: TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  let cert: PeerCertificate & { issuerCertificate?: PeerCertificate } = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (cert?.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    out.push(cert.raw);
    cert = cert.issuerCertificate as PeerCertificate & { issuerCertificate?: PeerCertificate };
  }
  return out;
}

/** One send at a destination: its result and what the handshake of the connection it used showed. */
export interface Delivered {
  result: DeliveryResult;
  /** null: no connection was had, or it did not use TLS. */
  facts: HandshakeFacts | null;
}

export class Destination {
  readonly pool: SmtpConnectionPool;
  readonly #delivery: Delivery;
  /** Per connection (its TLS socket): the facts of its own handshake, whatever sends ran beside it. */
  readonly #facts = new WeakMap<TLSSocket, HandshakeFacts>();
  #inUse = 0;

  constructor(
    readonly address: string,
    readonly mxHost: string,
    readonly plan: UsablePlan,
    settings: DestinationSettings,
  ) {
    this.pool = new SmtpConnectionPool({ maxConnections: settings.poolSize });
    const required = plan.kind === 'pkix' || plan.kind === 'dane' || plan.kind === 'encrypt';
    const tlsOptions = {
      // SNI carries a name, never an address (RFC 6066 §3): a domain literal's host gets none.
      ...(/^[0-9.]+$/.test(mxHost) || mxHost.includes(':') ? {} : { servername: mxHost }),
      minVersion: required ? ('TLSv1.2' as const) : ('TLSv1' as const),
      rejectUnauthorized: plan.kind === 'pkix',
      ...(plan.kind === 'pkix' && settings.ca !== undefined ? { ca: settings.ca } : {}),
      // Opportunistic TLS accepts what the server has (as MTAs do); old servers may only offer weak ciphers.
      ...(required ? {} : { ciphers: 'DEFAULT:@SECLEVEL=0' }),
    };
    const verifyPeer = (socket: TLSSocket): void => {
      const facts: HandshakeFacts = {
        version: socket.getProtocol(),
        authenticated: false,
        failure: null,
        detail: null,
      };
      this.#facts.set(socket, facts);
      if (plan.kind === 'dane') {
        const why = verifyDane(chainOf(socket), plan.records, mxHost, settings.now());
        if (why) {
          facts.failure = 'validation-failure';
          facts.detail = why;
          throw daneRefused(mxHost, why);
        }
        facts.authenticated = true;
      } else if (plan.kind === 'pkix') {
        facts.authenticated = socket.authorized;
      } else if (plan.kind === 'opportunistic' && plan.report) {
        // MTA-STS testing: check as enforce would, report, deliver anyway.
        // (node:crypto, not node:tls: importing smtpwire must not load node:tls.)
        const raw = socket.getPeerCertificate()?.raw;
        const named = raw !== undefined && new X509Certificate(raw).checkHost(mxHost) !== undefined;
        if (!socket.authorized || !named) {
          facts.failure = socket.authorized
            ? 'certificate-host-mismatch'
            : pkixFailure(String(socket.authorizationError));
          facts.detail = socket.authorized
            ? `the certificate does not name ${mxHost}`
            : String(socket.authorizationError);
        } else facts.authenticated = true;
      }
    };
    this.#delivery = new Delivery({
      pool: this.pool,
      params: Object.freeze({
        host: address,
        port: settings.port,
        encryption: plan.kind === 'plaintext' ? 'none' : 'tls',
        connection: {
          timeouts: settings.timeouts,
          tls: tlsOptions,
          verifyPeer,
          opportunisticTls: plan.kind === 'opportunistic',
          ...(settings.clientName === undefined ? {} : { clientName: settings.clientName }),
          ...(settings.localAddress === undefined ? {} : { localAddress: settings.localAddress }),
          ...(settings.onTranscript === undefined ? {} : { onTranscript: settings.onTranscript }),
        },
      }),
      // One attempt per call: the MX loop decides where the next attempt goes.
      retryPolicy: { maxRetries: 0, delays: [0], retryableCodes: [421, 450, 451, 452], jitter: 0, refusedRetries: 0 },
      dkim: settings.dkim,
      dkimSpool: settings.dkimSpool,
    });
  }

  /** The TLS a send had, for the result. */
  tlsUsed(facts: HandshakeFacts | null): TlsUsed {
    const kind = this.plan.kind;
    if (kind === 'plaintext' || facts === null)
      return { plan: kind === 'plaintext' ? 'none' : kind, version: null, authenticated: false };
    return { plan: kind, version: facts.version, authenticated: facts.authenticated };
  }

  /**
   * The facts of a connection's handshake. A resumed session skipped `verifyPeer` (its first handshake
   * passed it, or the session would not have been kept): a required check held; a reporting one is not redone.
   */
  #factsOf(socket: TLSSocket | null): HandshakeFacts | null {
    if (socket === null) return null;
    const known = this.#facts.get(socket);
    if (known) return known;
    const kind = this.plan.kind;
    return {
      version: socket.getProtocol(),
      authenticated: kind === 'dane' || (kind === 'pkix' && socket.authorized),
      failure: null,
      detail: null,
    };
  }

  /** Sends in progress here: a destination in use is never closed to make room. */
  get inUse(): number {
    return this.#inUse;
  }

  async deliver(job: Job & { dkim?: DkimOptions | DkimOptions[] | undefined }): Promise<Delivered> {
    this.#inUse++;
    let socket: TLSSocket | null = null;
    try {
      const onConnection = (conn: SmtpConnection): void => {
        socket = conn.tlsSocket;
      };
      const result = await this.#delivery.deliver({ ...job, onConnection }, job.dkim);
      return { result, facts: this.#factsOf(socket) };
    } finally {
      this.#inUse--;
    }
  }

  close(): Promise<void> {
    return this.pool.closeAll();
  }
}

/** A TLS failure that a policy caused (DANE mismatch) or that made a required TLS impossible. */
export function isTlsFailure(err: unknown): boolean {
  return err instanceof TlsError || (err as { code?: string } | null)?.code === ErrorCodes.REQUIRETLS;
}
