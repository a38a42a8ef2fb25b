/**
 * Turns smtpwire's diagnostics channels (src/util/channels.ts) into OpenTelemetry spans and metrics.
 *
 * Span tree, without ids: a send (and a connect, an AUTH) binds a frame for the duration of its call (in
 * the OpenTelemetry context when a context manager runs, else in an AsyncLocalStorage: see FrameStore);
 * the send's current attempt hangs on the send's frame and an attempt's acquire on the attempt's, so
 * whatever is published inside (a nested tracing call, a pool wait, a reply) finds its parent:
 *
 *   smtp.send ─┬─ smtp.dkim.sign
 *              └─ smtp.attempt ─┬─ smtp.pool.acquire ─┬─ smtp.connect ─ smtp.connect.{tcp,tls,greeting,ehlo,starttls}
 *                               │                     └─ smtp.auth
 *                               └─ events: smtp.reply (a refused MAIL, RCPT, DATA, BDAT or final), smtp.handover
 *
 * An attempt's span ends when the attempt's fate is known: at the retry decision (`smtp.retry.scheduled`)
 * or at the send's end, stamped with the time the attempt itself ended. A pool acquire gets a span only
 * when it did something (waited for a slot, or opened a connection): a parked connection handed out in
 * the same tick is not worth one. With `traces: false` no AsyncLocalStorage is bound (metrics need no parent).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type diagnostics from 'node:diagnostics_channel';
import type * as Api from '@opentelemetry/api';
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';
import { SmtpDeliveryStatus } from '../enums.js';
import type { DeliveryResult } from '../send/result.js';
import { channels } from '../util/channels.js';
import type { Instruments } from './metrics.js';
import { ATTR, replyClass, SPAN, tlsVersion } from './names.js';

type Kind = 'send' | 'attempt' | 'acquire' | 'connect' | 'auth' | 'dkim';

/** What one traced call holds while it runs (the AsyncLocalStorage value). */
interface Frame {
  kind: Kind;
  /** Null for an acquire until something inside it needs a parent (and with `traces: false`). */
  span: Span | null;
  /** The context this frame's span was started in. */
  parentCtx: Context;
  /** The context with this frame's span: made only when a child needs it (most attempts have none). */
  ctx: Context | null;
  started: number;
  /** The send this frame belongs to (itself for a send). */
  send: Frame | null;
  /** A send's finished attempt whose span waits for the retry decision. */
  pendingAttempt: { span: Span; endedAt: number } | null;
  /** An attempt's pool acquire in progress. */
  acquiring: Frame | null;
  /** A send's attempt in progress (a send's attempts run one after another). */
  attempt: Frame | null;
  /** The frame this one runs in. */
  parent: Frame | null;
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
export type OtelApi = Pick<
  typeof Api,
  'context' | 'trace' | 'SpanKind' | 'SpanStatusCode' | 'INVALID_SPAN_CONTEXT' | 'createContextKey'
>;

/**
 * Where a frame is kept for the calls inside it. With a context manager (NodeSDK's AsyncLocalStorage
 * one), in the OpenTelemetry context under a private key: the process then runs one AsyncLocalStorage,
 * not two (measured: a second store's propagation to every promise cost more than all the spans of a
 * message). The active context stays the caller's plus that key, so other code sees the same active
 * span as before. Without a context manager, in a store of this module's own.
 */
class FrameStore {
  readonly #api: OtelApi;
  readonly #key: symbol;
  readonly #own = new AsyncLocalStorage<Frame>();

  constructor(api: OtelApi) {
    this.#api = api;
    this.#key = api.createContextKey('smtpwire frame');
  }

  /** As AsyncLocalStorage's run (a tracing channel's bindStore calls it with a frame from #begin). */
  run<T>(frame: Frame, next: () => T): T {
    const { context } = this.#api;
    const ctx = context.active().setValue(this.#key, frame);
    return context.with(ctx, () => (context.active() === ctx ? next() : this.#own.run(frame, next)));
  }

  getStore(): Frame | undefined {
    return (this.#api.context.active().getValue(this.#key) as Frame | undefined) ?? this.#own.getStore();
  }
}

export class Observer {
  readonly #api: OtelApi;
  readonly #tracer: Tracer | null;
  readonly #m: Instruments | null;
  readonly #options: ObserverOptions;
  readonly #store: FrameStore;
  /**
   * Where a traced call's frame is kept on its channel context (one per call, made by the engine): a
   * property under this observer's own symbol, invisible to keys and JSON; a WeakMap cost a visible
   * share of the module's time per message.
   */
  readonly #slot = Symbol('smtpwire otel frame');
  /** Pool state per connection, for the connection.count gauge. */
  readonly #state = new WeakMap<object, 'idle' | 'used'>();
  readonly #hosts = new Map<string, Attributes>();
  readonly #undo: (() => void)[] = [];

  constructor(api: OtelApi, tracer: Tracer | null, instruments: Instruments | null, options: ObserverOptions) {
    this.#api = api;
    this.#tracer = tracer;
    this.#m = instruments;
    this.#options = options;
    this.#store = new FrameStore(api);
    this.#trace(channels.send, 'send', SPAN.send, (c) => this.#endSend(c));
    this.#trace(channels.attempt, 'attempt', SPAN.attempt, (c) => this.#endAttempt(c));
    this.#trace(channels.poolAcquire, 'acquire', SPAN.acquire, (c) => this.#endAcquire(c));
    this.#trace(channels.connect, 'connect', SPAN.connect, (c) => this.#endConnect(c));
    this.#trace(channels.auth, 'auth', SPAN.auth, (c) => this.#endAuth(c));
    this.#trace(channels.dkimSign, 'dkim', SPAN.dkim, (c) => this.#endDkim(c));
    this.#on(channels.sendPrepared, (m) => this.#prepared(m as Prepared));
    this.#on(channels.attemptRetry, (m) => this.#retry(m as { host: string; delayMs: number }));
    this.#on(channels.poolWait, (m) => this.#poolWait(m as { host: string; waiting: number }));
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
    // A channel's bindStore calls only the store's run(value, fn) (Node 20 and later): a FrameStore will do.
    const store = this.#store as unknown as AsyncLocalStorage<unknown>;
    const begin = (context: object): Frame => this.#begin(kind, name, context as Record<string, unknown>);
    // Only a send (and the rare connect and AUTH) binds a store: an attempt is found through its send,
    // an acquire through its attempt, one AsyncLocalStorage frame per message instead of three.
    const bind = this.#tracer !== null && (kind === 'send' || kind === 'connect' || kind === 'auth');
    if (bind) channel.start.bindStore(store, begin);
    // Every traced call is an async function: it settles with asyncEnd (after `error` on a rejection).
    const handlers = {
      asyncEnd: (context: object) => end(context as Record<string, unknown>),
      ...(bind ? {} : { start: begin }),
    } as unknown as TracingHandlers;
    channel.subscribe(handlers);
    this.#undo.push(() => {
      channel.unsubscribe(handlers);
      if (bind) channel.start.unbindStore(store);
    });
  }

  #begin(kind: Kind, name: string, context: Record<string, unknown>): Frame {
    const store = this.#innermost();
    // Inside an attempt's acquire (a connect, an AUTH), the acquire is the parent: its span starts now.
    const parent = store?.acquiring ? this.#ensureSpan(store.acquiring) : store;
    const parentCtx = parent ? this.#ctxOf(parent) : this.#api.context.active();
    const host = typeof context.host === 'string' ? context.host : (parent?.host ?? '');
    let span: Span | null = null;
    if (this.#tracer && kind !== 'acquire') {
      const attributes: Attributes = {};
      if (kind === 'send' || kind === 'connect') {
        attributes[ATTR.serverAddress] = host;
        if (typeof context.port === 'number') attributes[ATTR.serverPort] = context.port;
        attributes[ATTR.protocolName] = 'smtp';
      }
      if (kind === 'send') attributes[ATTR.sendKind] = String(context.kind);
      if (kind === 'attempt') attributes[ATTR.attemptNumber] = (context.attempt as number) + 1;
      if (kind === 'dkim') attributes[ATTR.dkimSignatures] = context.signatures as number;
      const spanKind = kind === 'send' ? this.#api.SpanKind.CLIENT : this.#api.SpanKind.INTERNAL;
      span = this.#tracer.startSpan(name, { kind: spanKind, attributes }, parentCtx);
    }
    const frame: Frame = {
      kind,
      span,
      parentCtx,
      ctx: null,
      started: performance.now(),
      send: null,
      pendingAttempt: null,
      acquiring: null,
      attempt: null,
      parent,
      host,
    };
    frame.send = kind === 'send' ? frame : (parent?.send ?? null);
    if (kind === 'attempt') {
      this.#m?.attempt(host);
      // A previous attempt not yet closed by a retry decision (none is expected): close it now.
      if (frame.send) this.#closeAttempt(frame.send, false);
      if (parent?.kind === 'send') parent.attempt = frame;
    }
    if (kind === 'acquire') {
      this.#m?.pending(host, 1);
      if (parent?.kind === 'attempt') parent.acquiring = frame;
    }
    (context as Record<symbol, Frame | undefined>)[this.#slot] = frame;
    return frame;
  }

  #ctxOf(frame: Frame): Context {
    frame.ctx ??= frame.span ? this.#api.trace.setSpan(frame.parentCtx, frame.span) : frame.parentCtx;
    return frame.ctx;
  }

  /** The frame of the work running now: the bound one, or the attempt of the send bound. */
  #innermost(): Frame | null {
    const frame = this.#store.getStore() ?? null;
    return frame?.kind === 'send' && frame.attempt ? frame.attempt : frame;
  }

  /** An acquire's span, started (at the acquire's start) the first time something inside it needs a parent. */
  #ensureSpan(frame: Frame): Frame {
    if (frame.span || !this.#tracer) return frame;
    const attributes = { [ATTR.serverAddress]: frame.host };
    frame.span = this.#tracer.startSpan(
      SPAN.acquire,
      { attributes, startTime: wallTime(frame.started) },
      frame.parentCtx,
    );
    frame.ctx = null;
    return frame;
  }

  #frameOf(context: object): Frame | undefined {
    const slots = context as Record<symbol, Frame | undefined>;
    const frame = slots[this.#slot];
    slots[this.#slot] = undefined;
    return frame;
  }

  // ── the traced calls' ends ────────────────────────────────────────────────────────────

  #endSend(context: Record<string, unknown>): void {
    const frame = this.#frameOf(context);
    if (!frame) return;
    this.#closeAttempt(frame, false);
    const { span } = frame;
    const result = context.result as DeliveryResult | undefined;
    if (result && !('error' in context)) {
      if (span) {
        this.#resultAttributes(span, result);
        span.setAttribute(ATTR.retryCount, result.retryCount);
      }
      if (this.#m) {
        this.#m.sent(frame.host, result.status, replyClass(result.smtpCode));
        const seconds = (performance.now() - frame.started) / 1000;
        this.#m.sendDuration.record(seconds, this.#statusAttributes(frame.host, result.status));
      }
    } else if (span) this.#failed(span, context.error);
    span?.end();
  }

  #endAttempt(context: Record<string, unknown>): void {
    const frame = this.#frameOf(context);
    if (frame?.send && frame.send.attempt === frame) frame.send.attempt = null;
    if (!frame?.span) return;
    const { span, send } = frame;
    const result = context.result as DeliveryResult | null | undefined;
    if (result) this.#resultAttributes(span, result);
    else if ('error' in context) this.#failed(span, context.error);
    if (send && result) send.pendingAttempt = { span, endedAt: performance.now() };
    else span.end();
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
    const { host } = frame;
    if (frame.parent?.acquiring === frame) frame.parent.acquiring = null;
    const conn = context.result as object | undefined;
    const ok = conn !== undefined && !('error' in context);
    if (this.#m) {
      this.#m.pending(host, -1);
      this.#m.waitTime.record((performance.now() - frame.started) / 1000, this.#hostAttributes(host));
      if (ok) {
        if (this.#state.get(conn) === 'idle') this.#m.connection(host, 'idle', -1);
        this.#m.connection(host, 'used', 1);
      }
    }
    if (ok) this.#state.set(conn, 'used');
    else if (this.#tracer) this.#failed(this.#ensureSpan(frame).span!, context.error);
    frame.span?.end();
  }

  #endConnect(context: Record<string, unknown>): void {
    const frame = this.#frameOf(context);
    if (!frame) return;
    this.#m?.connectDuration.record((performance.now() - frame.started) / 1000, this.#hostAttributes(frame.host));
    if (!frame.span) return;
    if ('error' in context) this.#failed(frame.span, context.error);
    frame.span.end();
  }

  #endAuth(context: Record<string, unknown>): void {
    const frame = this.#frameOf(context);
    if (!frame?.span) return;
    const mechanism = (context.connection as ObservedConnection | undefined)?.authMechanism ?? context.method;
    if (typeof mechanism === 'string') frame.span.setAttribute(ATTR.authMechanism, mechanism);
    if ('error' in context) this.#failed(frame.span, context.error);
    frame.span.end();
  }

  #endDkim(context: Record<string, unknown>): void {
    const frame = this.#frameOf(context);
    if (!frame) return;
    this.#m?.dkimDuration.record((performance.now() - frame.started) / 1000, this.#hostAttributes(frame.host));
    if (!frame.span) return;
    if ('error' in context) this.#failed(frame.span, context.error);
    frame.span.end();
  }

  // ── plain channels ────────────────────────────────────────────────────────────────────

  #prepared(m: Prepared): void {
    const frame = this.#store.getStore();
    if (frame?.kind !== 'send' || !frame.span) return;
    frame.span.setAttribute(ATTR.recipients, m.recipients);
    if (m.size !== null) frame.span.setAttribute(ATTR.messageSize, m.size);
    if (this.#options.recordMessageId && m.messageId) frame.span.setAttribute(ATTR.messageId, m.messageId);
  }

  #retry(m: { host: string; delayMs: number }): void {
    this.#m?.retry(m.host);
    const send = this.#store.getStore()?.send;
    if (send) this.#closeAttempt(send, true, m.delayMs);
  }

  #poolWait(m: { host: string; waiting: number }): void {
    this.#m?.waited(m.host);
    const acquiring = this.#innermost()?.acquiring;
    if (acquiring && this.#tracer)
      this.#ensureSpan(acquiring).span!.addEvent('smtp.pool.wait', { [ATTR.poolWaiting]: m.waiting });
  }

  #poolRelease(m: { connection: object; parked: boolean }): void {
    if (this.#state.get(m.connection) !== 'used') return;
    const host = (m.connection as { host?: string }).host ?? '';
    this.#m?.connection(host, 'used', -1);
    if (m.parked) {
      this.#state.set(m.connection, 'idle');
      this.#m?.connection(host, 'idle', 1);
    } else this.#state.delete(m.connection);
  }

  #closed(m: { connection?: object }): void {
    if (!m.connection || this.#state.get(m.connection) !== 'idle') return;
    this.#state.delete(m.connection);
    this.#m?.connection((m.connection as { host?: string }).host ?? '', 'idle', -1);
  }

  /** Inside `connect()`: the handshake's steps become child spans, from the connection's own timings. */
  #connected(m: { connection: ObservedConnection; secure: boolean }): void {
    const tls = m.connection.tlsSocket ?? null;
    const resumed = tls ? tls.isSessionReused() : false;
    if (tls) this.#m?.handshake(resumed);
    const frame = this.#store.getStore();
    if (frame?.kind !== 'connect' || !frame.span || !this.#tracer) return;
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
      const span = this.#tracer.startSpan(
        SPAN.phasePrefix + PHASE_NAMES[p],
        { startTime: wallTime(at) },
        this.#ctxOf(frame),
      );
      at += ms;
      span.end(wallTime(at));
    }
  }

  /**
   * A refused command (4xx or 5xx) becomes an event on its attempt; the replies of a transaction that
   * went through are on its span already (the deciding code, the hand-over): an event each for them cost
   * more than the span itself.
   */
  #reply(m: ReplyMessage): void {
    if (m.reply.code < 400) return;
    const frame = this.#innermost();
    if (frame?.kind !== 'attempt' || !frame.span) return;
    const attributes: Attributes = { [ATTR.command]: m.command, [ATTR.replyCode]: m.reply.code };
    if (m.reply.enhanced) attributes[ATTR.enhancedCode] = m.reply.enhanced;
    frame.span.addEvent('smtp.reply', attributes);
  }

  #transactionEnd(m: TransactionEnd): void {
    if (m.outcome) this.#m?.bytesSent(m.host, m.outcome.bytesSent);
    const frame = this.#innermost();
    if (frame?.kind !== 'attempt' || !frame.span) return;
    if (m.handedOverAt > 0) frame.span.addEvent('smtp.handover', undefined, wallTime(m.handedOverAt));
    if (m.outcome) {
      frame.span.setAttribute(ATTR.bytesSent, m.outcome.bytesSent);
      frame.span.setAttribute(ATTR.stage, m.outcome.stage);
      if (m.outcome.via) frame.span.setAttribute(ATTR.via, m.outcome.via);
    }
  }

  #outboxJob(m: OutboxJob): void {
    if (!this.#m) return;
    this.#m.outboxJob(m.queue, m.outcome, m.status);
    if (Number.isFinite(m.durationMs))
      this.#m.outboxJobDuration.record(m.durationMs / 1000, {
        [ATTR.outboxQueue]: m.queue,
        [ATTR.outboxOutcome]: m.outcome,
      });
  }

  // ── attributes ────────────────────────────────────────────────────────────────────────

  /** One attribute object per host for the histograms (the SDK reads it, never keeps it). */
  #hostAttributes(given: string): Attributes {
    const host = this.#m!.metricHost(given);
    let attributes = this.#hosts.get(host);
    if (!attributes) {
      attributes = { [ATTR.serverAddress]: host };
      this.#hosts.set(host, attributes);
    }
    return attributes;
  }

  #statusAttributes(given: string, status: string): Attributes {
    const host = this.#m!.metricHost(given);
    const key = `${host}\0${status}`;
    let attributes = this.#hosts.get(key);
    if (!attributes) {
      attributes = { [ATTR.serverAddress]: host, [ATTR.status]: status };
      this.#hosts.set(key, attributes);
    }
    return attributes;
  }

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
