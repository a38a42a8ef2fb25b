/**
 * Turns smtpwire's diagnostics channels (src/util/channels.ts) into OpenTelemetry spans and metrics.
 *
 * Span tree: the tracing channels (send, attempt, pool acquire, connect, AUTH) each bind an
 * AsyncLocalStorage frame for the duration of their call, so whatever is published inside (a nested
 * tracing call, a pool wait, a reply) finds its parent without ids:
 *
 *   smtp.send ─ smtp.attempt ─┬─ smtp.pool.acquire ─┬─ smtp.connect ─ smtp.connect.{tcp,tls,greeting,ehlo,starttls}
 *                             │                     └─ smtp.auth
 *                             └─ events: smtp.reply (MAIL, RCPT, DATA, FINAL), smtp.handover
 *
 * An attempt's span ends when the attempt's fate is known: at the retry decision (`smtp.retry.scheduled`)
 * or at the send's end, stamped with the time the attempt itself ended.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type diagnostics from 'node:diagnostics_channel';
import type * as Api from '@opentelemetry/api';
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';
import { SmtpDeliveryStatus } from '../enums.js';
import type { DeliveryResult } from '../result.js';
import { channels } from '../util/channels.js';
import type { Instruments } from './metrics.js';
import { ATTR, replyClass, SPAN, tlsVersion } from './names.js';

type Kind = 'send' | 'attempt' | 'acquire' | 'connect' | 'auth';

/** What one traced call holds while it runs (the AsyncLocalStorage value). */
interface Frame {
  kind: Kind;
  span: Span;
  ctx: Context;
  started: number;
  /** The send this frame belongs to (itself for a send). */
  send: Frame | null;
  /** A send's finished attempt whose span waits for the retry decision. */
  pendingAttempt: { span: Span; endedAt: number } | null;
  host: string;
}

/** The connection object as this module reads it (its public getters; see SmtpConnection). */
interface ObservedConnection {
  readonly timings?: Readonly<Record<string, number | undefined>>;
  readonly tlsSocket?: { getProtocol(): string | null; isSessionReused(): boolean } | null;
  readonly authMechanism?: string | null;
}

export interface ObserverOptions {
  recordMessageId: boolean;
}

const PHASES = ['connect', 'tls', 'greeting', 'ehlo', 'starttls'] as const;
const PHASE_NAMES: Record<(typeof PHASES)[number], string> = {
  connect: 'tcp',
  tls: 'tls',
  greeting: 'greeting',
  ehlo: 'ehlo',
  starttls: 'starttls',
};

/** performance.now() → the epoch milliseconds OpenTelemetry takes as a time. */
const wallTime = (perfNow: number): number => performance.timeOrigin + perfNow;

type TracingHandlers = diagnostics.TracingChannelSubscribers<object>;

/** What this module uses of `@opentelemetry/api` (loaded by `instrument()`). */
export type OtelApi = Pick<typeof Api, 'context' | 'trace' | 'SpanKind' | 'SpanStatusCode' | 'INVALID_SPAN_CONTEXT'>;

export class Observer {
  readonly #api: OtelApi;
  readonly #tracer: Tracer | null;
  readonly #m: Instruments | null;
  readonly #options: ObserverOptions;
  readonly #store = new AsyncLocalStorage<Frame>();
  readonly #frames = new WeakMap<object, Frame>();
  /** Pool state per connection, for the connection.count gauge: 'idle' | 'used'. */
  readonly #state = new WeakMap<object, 'idle' | 'used'>();
  readonly #undo: (() => void)[] = [];

  constructor(api: OtelApi, tracer: Tracer | null, instruments: Instruments | null, options: ObserverOptions) {
    this.#api = api;
    this.#tracer = tracer;
    this.#m = instruments;
    this.#options = options;
    this.#trace(channels.send, 'send', SPAN.send, (c) => this.#endSend(c));
    this.#trace(channels.attempt, 'attempt', SPAN.attempt, (c) => this.#endAttempt(c));
    this.#trace(channels.poolAcquire, 'acquire', SPAN.acquire, (c) => this.#endAcquire(c));
    this.#trace(channels.connect, 'connect', SPAN.connect, (c) => this.#endConnect(c));
    this.#trace(channels.auth, 'auth', SPAN.auth, (c) => this.#endAuth(c));
    this.#on(channels.sendPrepared, (m) => this.#prepared(m as Prepared));
    this.#on(channels.attemptRetry, (m) => this.#retry(m as { delayMs: number }));
    this.#on(channels.poolWait, (m) => this.#poolWait(m as { waiting: number }));
    this.#on(channels.poolRelease, (m) => this.#poolRelease(m as { connection: object; parked: boolean }));
    this.#on(channels.connected, (m) => this.#connected(m as { connection: ObservedConnection; secure: boolean }));
    this.#on(channels.closed, (m) => this.#closed(m as { connection?: object }));
    this.#on(channels.reply, (m) => this.#reply(m as ReplyMessage));
    this.#on(channels.transactionEnd, (m) => this.#transactionEnd(m as TransactionEnd));
    this.#on(channels.outboxJob, (m) => this.#outboxJob(m as OutboxJob));
  }

  /** Unsubscribes everything; spans of calls still running are never ended (so never exported). */
  dispose(): void {
    for (const undo of this.#undo.splice(0)) undo();
  }

  // ── subscriptions ─────────────────────────────────────────────────────────────────────

  #on(channel: diagnostics.Channel, fn: (message: unknown) => void): void {
    channel.subscribe(fn);
    this.#undo.push(() => channel.unsubscribe(fn));
  }

  #trace(
    channel: diagnostics.TracingChannel<unknown, object>,
    kind: Kind,
    name: string,
    end: (context: Record<string, unknown>) => void,
  ): void {
    const store = this.#store as AsyncLocalStorage<unknown>;
    channel.start.bindStore(store, (context) => this.#begin(kind, name, context as Record<string, unknown>));
    // Every traced call is an async function: it settles with asyncEnd (after `error` on a rejection).
    const handlers = { asyncEnd: (context: object) => end(context as Record<string, unknown>) } as TracingHandlers;
    channel.subscribe(handlers);
    this.#undo.push(() => {
      channel.unsubscribe(handlers);
      channel.start.unbindStore(store);
    });
  }

  #begin(kind: Kind, name: string, context: Record<string, unknown>): Frame {
    const parent = this.#store.getStore();
    const parentCtx = parent?.ctx ?? this.#api.context.active();
    const host = typeof context.host === 'string' ? context.host : (parent?.host ?? '');
    const attributes: Attributes = {};
    if (kind === 'send' || kind === 'connect') {
      attributes[ATTR.serverAddress] = host;
      if (typeof context.port === 'number') attributes[ATTR.serverPort] = context.port;
      attributes[ATTR.protocolName] = 'smtp';
    }
    if (kind === 'send') attributes[ATTR.sendKind] = String(context.kind);
    if (kind === 'attempt') attributes[ATTR.attemptNumber] = (context.attempt as number) + 1;
    const span = this.#tracer
      ? this.#tracer.startSpan(
          name,
          { kind: kind === 'send' ? this.#api.SpanKind.CLIENT : this.#api.SpanKind.INTERNAL, attributes },
          parentCtx,
        )
      : this.#api.trace.wrapSpanContext(this.#api.INVALID_SPAN_CONTEXT);
    const frame: Frame = {
      kind,
      span,
      ctx: this.#api.trace.setSpan(parentCtx, span),
      started: performance.now(),
      send: null,
      pendingAttempt: null,
      host,
    };
    frame.send = kind === 'send' ? frame : (parent?.send ?? null);
    if (kind === 'attempt') {
      this.#m?.attempts.add(1, { [ATTR.serverAddress]: host });
      // A previous attempt not yet closed by a retry decision (none is expected): close it now.
      if (frame.send) this.#closeAttempt(frame.send, false);
    }
    if (kind === 'acquire') this.#m?.pending.add(1, { [ATTR.serverAddress]: host });
    this.#frames.set(context, frame);
    return frame;
  }

  #frameOf(context: object): Frame | undefined {
    const frame = this.#frames.get(context);
    this.#frames.delete(context);
    return frame;
  }

  // ── the traced calls' ends ────────────────────────────────────────────────────────────

  #endSend(context: Record<string, unknown>): void {
    const frame = this.#frameOf(context);
    if (!frame) return;
    this.#closeAttempt(frame, false);
    const { span } = frame;
    const result = context.result as DeliveryResult | undefined;
    const seconds = (performance.now() - frame.started) / 1000;
    if (result && !('error' in context)) {
      this.#resultAttributes(span, result);
      span.setAttribute(ATTR.retryCount, result.retryCount);
      const attributes = {
        [ATTR.serverAddress]: frame.host,
        [ATTR.status]: result.status,
        [ATTR.replyClass]: replyClass(result.smtpCode),
      };
      this.#m?.sends.add(1, attributes);
      this.#m?.sendDuration.record(seconds, { [ATTR.serverAddress]: frame.host, [ATTR.status]: result.status });
    } else {
      this.#failed(span, context.error);
    }
    span.end();
  }

  #endAttempt(context: Record<string, unknown>): void {
    const frame = this.#frameOf(context);
    if (!frame) return;
    const result = context.result as DeliveryResult | null | undefined;
    if (result) this.#resultAttributes(frame.span, result);
    else if ('error' in context) this.#failed(frame.span, context.error);
    const send = frame.send;
    if (send && result) send.pendingAttempt = { span: frame.span, endedAt: performance.now() };
    else frame.span.end();
  }

  /** Ends a send's finished attempt once its fate is known (retry scheduled, or not). */
  #closeAttempt(send: Frame, retry: boolean, delayMs?: number): void {
    const pending = send.pendingAttempt;
    if (!pending) return;
    send.pendingAttempt = null;
    pending.span.setAttribute(ATTR.retryScheduled, retry);
    if (delayMs !== undefined) pending.span.setAttribute(ATTR.retryDelay, delayMs);
    pending.span.end(wallTime(pending.endedAt));
  }

  #endAcquire(context: Record<string, unknown>): void {
    const frame = this.#frameOf(context);
    if (!frame) return;
    const attributes = { [ATTR.serverAddress]: frame.host };
    this.#m?.pending.add(-1, attributes);
    this.#m?.waitTime.record((performance.now() - frame.started) / 1000, attributes);
    const conn = context.result as object | undefined;
    if (conn && !('error' in context)) {
      if (this.#state.get(conn) === 'idle')
        this.#m?.connections.add(-1, { ...attributes, [ATTR.connectionState]: 'idle' });
      this.#state.set(conn, 'used');
      this.#m?.connections.add(1, { ...attributes, [ATTR.connectionState]: 'used' });
    } else this.#failed(frame.span, context.error);
    frame.span.end();
  }

  #endConnect(context: Record<string, unknown>): void {
    const frame = this.#frameOf(context);
    if (!frame) return;
    this.#m?.connectDuration.record((performance.now() - frame.started) / 1000, { [ATTR.serverAddress]: frame.host });
    if ('error' in context) this.#failed(frame.span, context.error);
    frame.span.end();
  }

  #endAuth(context: Record<string, unknown>): void {
    const frame = this.#frameOf(context);
    if (!frame) return;
    const mechanism = (context.connection as ObservedConnection | undefined)?.authMechanism ?? context.method;
    if (typeof mechanism === 'string') frame.span.setAttribute(ATTR.authMechanism, mechanism);
    if ('error' in context) this.#failed(frame.span, context.error);
    frame.span.end();
  }

  // ── plain channels ────────────────────────────────────────────────────────────────────

  #prepared(m: Prepared): void {
    const frame = this.#store.getStore();
    if (frame?.kind !== 'send') return;
    frame.span.setAttribute(ATTR.recipients, m.recipients);
    if (m.size !== null) frame.span.setAttribute(ATTR.messageSize, m.size);
    if (this.#options.recordMessageId && m.messageId) frame.span.setAttribute(ATTR.messageId, m.messageId);
  }

  #retry(m: { delayMs: number }): void {
    const send = this.#store.getStore()?.send;
    this.#m?.retries.add(1, { [ATTR.serverAddress]: send?.host ?? '' });
    if (send) this.#closeAttempt(send, true, m.delayMs);
  }

  #poolWait(m: { waiting: number }): void {
    const frame = this.#store.getStore();
    this.#m?.waits.add(1, { [ATTR.serverAddress]: frame?.host ?? '' });
    if (frame?.kind === 'acquire') frame.span.addEvent('smtp.pool.wait', { [ATTR.poolWaiting]: m.waiting });
  }

  #poolRelease(m: { connection: object; parked: boolean }): void {
    if (this.#state.get(m.connection) !== 'used') return;
    const host = (m.connection as { host?: string }).host ?? '';
    this.#m?.connections.add(-1, { [ATTR.serverAddress]: host, [ATTR.connectionState]: 'used' });
    if (m.parked) {
      this.#state.set(m.connection, 'idle');
      this.#m?.connections.add(1, { [ATTR.serverAddress]: host, [ATTR.connectionState]: 'idle' });
    } else this.#state.delete(m.connection);
  }

  #closed(m: { connection?: object }): void {
    if (!m.connection || this.#state.get(m.connection) !== 'idle') return;
    this.#state.delete(m.connection);
    const host = (m.connection as { host?: string }).host ?? '';
    this.#m?.connections.add(-1, { [ATTR.serverAddress]: host, [ATTR.connectionState]: 'idle' });
  }

  /** Inside `connect()`: the handshake's steps become child spans, from the connection's own timings. */
  #connected(m: { connection: ObservedConnection; secure: boolean }): void {
    const frame = this.#store.getStore();
    const tls = m.connection.tlsSocket ?? null;
    const resumed = tls ? tls.isSessionReused() : false;
    if (tls) this.#m?.handshake(resumed);
    if (frame?.kind !== 'connect' || !this.#tracer) return;
    const version = tlsVersion(tls?.getProtocol());
    if (version) frame.span.setAttribute(ATTR.tlsVersion, version);
    if (tls) frame.span.setAttribute(ATTR.tlsResumed, resumed);
    const timings = m.connection.timings ?? {};
    // The steps ran back to back and ended now: lay them out backwards from here.
    let total = 0;
    for (const p of PHASES) total += timings[p] ?? 0;
    let at = performance.now() - total;
    for (const p of PHASES) {
      const ms = timings[p];
      if (ms === undefined) continue;
      const span = this.#tracer.startSpan(SPAN.phasePrefix + PHASE_NAMES[p], { startTime: wallTime(at) }, frame.ctx);
      at += ms;
      span.end(wallTime(at));
    }
  }

  #reply(m: ReplyMessage): void {
    const frame = this.#store.getStore();
    if (frame?.kind !== 'attempt') return;
    const attributes: Attributes = { [ATTR.command]: m.command, [ATTR.replyCode]: m.reply.code };
    if (m.reply.enhanced) attributes[ATTR.enhancedCode] = m.reply.enhanced;
    frame.span.addEvent('smtp.reply', attributes);
  }

  #transactionEnd(m: TransactionEnd): void {
    const frame = this.#store.getStore();
    const host = frame?.host ?? m.host;
    if (m.outcome) this.#m?.bytesSent.add(m.outcome.bytesSent, { [ATTR.serverAddress]: host });
    if (frame?.kind !== 'attempt') return;
    if (m.handedOverAt > 0) frame.span.addEvent('smtp.handover', undefined, wallTime(m.handedOverAt));
    if (m.outcome) {
      frame.span.setAttribute(ATTR.bytesSent, m.outcome.bytesSent);
      frame.span.setAttribute(ATTR.stage, m.outcome.stage);
      if (m.outcome.via) frame.span.setAttribute(ATTR.via, m.outcome.via);
    }
  }

  #outboxJob(m: OutboxJob): void {
    const attributes: Attributes = { [ATTR.outboxQueue]: m.queue, [ATTR.outboxOutcome]: m.outcome };
    if (m.status) attributes[ATTR.status] = m.status;
    this.#m?.outboxJobs.add(1, attributes);
    if (Number.isFinite(m.durationMs))
      this.#m?.outboxJobDuration.record(m.durationMs / 1000, {
        [ATTR.outboxQueue]: m.queue,
        [ATTR.outboxOutcome]: m.outcome,
      });
  }

  // ── attributes ────────────────────────────────────────────────────────────────────────

  #resultAttributes(span: Span, result: DeliveryResult): void {
    span.setAttribute(ATTR.status, result.status);
    if (result.smtpCode !== null) span.setAttribute(ATTR.replyCode, result.smtpCode);
    if (result.enhancedCode) span.setAttribute(ATTR.enhancedCode, result.enhancedCode);
    if (result.status !== SmtpDeliveryStatus.SUCCESS) {
      span.setAttribute(ATTR.errorType, result.error?.code ?? result.status);
      span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message: result.status });
    }
  }

  #failed(span: Span, error: unknown): void {
    if (!(error instanceof Error)) return;
    span.recordException(error);
    span.setAttribute(ATTR.errorType, (error as { code?: string }).code ?? error.name);
    span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message: error.message });
  }
}

interface Prepared {
  messageId: string | null;
  recipients: number;
  size: number | null;
}

interface ReplyMessage {
  command: string;
  reply: { code: number; enhanced?: string | null };
}

interface TransactionEnd {
  host: string;
  outcome: { bytesSent: number; stage: string; via: string | null } | null;
  handedOverAt: number;
}

interface OutboxJob {
  queue: string;
  jobId: string;
  outcome: string;
  status: string | null;
  durationMs: number;
}
