/**
 * The load generator of one thread behind `smtpwire bench`: messages through one `SmtpProtocolHandler`
 * with a pool of C connections, with up to C × window sends in flight so PIPELINING can carry the next
 * MAIL right behind the previous final dot.
 *
 * Closed loop (default): a send starts when a slot frees up; latency runs from the send call.
 * Open loop (`rate`): send k is due at t0 + k / rate whatever the replies; latency runs from that
 * intended start, so a stalled server shows in the percentiles instead of silently slowing the
 * offered load (coordinated omission, as wrk2 corrects it for HTTP). When every slot is taken the
 * overdue sends wait for one, still timed from their intended start.
 *
 * The result is a {@link LoadPart}: plain data (histogram snapshots) that crosses `worker_threads`
 * and merges exactly with the parts of other threads (`bench/run.ts`).
 */
import {
  buildMessage,
  type Credentials,
  type DeliveryResult,
  type Envelope,
  type MailOutcome,
  type MessageBody,
  type OperationOptions,
  type SendMailOptions,
  type ServerInfo,
  SmtpConnection,
  type SmtpEncryption,
  SmtpProtocolHandler,
  type TransactionTimings,
} from '../api.js';
import { type HistogramSnapshot, LatencyHistogram } from './histogram.js';
import { type SeriesPart, TimeSeries } from './series.js';

/** Sends queued per connection: deep enough to keep a pipelined connection busy. */
export const DEFAULT_WINDOW = 16;
/** Bodies up to this size are plain text; bigger ones get an attachment (the "100k" case). */
const TEXT_ONLY_LIMIT = 16 * 1024;
const FROM = 'bench@smtpwire.example';
const TO = 'sink@smtpwire.example';

/** Wall-clock ms with sub-ms resolution, comparable across worker threads (each has its own timeOrigin). */
export const clock = (): number => performance.timeOrigin + performance.now();

/** Options of {@link runLoad} (one thread's share of a run). */
export interface LoadOptions {
  host: string;
  port: number;
  encryption: SmtpEncryption;
  tls?: { ca?: string; rejectUnauthorized?: boolean };
  username?: string;
  password?: string;
  connections: number;
  /** Measured messages to send (Infinity: only the duration bounds the run). */
  messages: number;
  /** Stop starting measured messages this many ms after the measurement began. */
  durationMs?: number;
  /** Open loop: messages per second, sends scheduled independently of replies. Closed loop without it. */
  rate?: number;
  /** Sends in the first `warmupMs` ms are not measured. */
  warmupMs?: number;
  /** The first `warmupMessages` sends are not measured. */
  warmupMessages?: number;
  /** Approximate message size in octets, headers included. */
  size: number;
  pipelining?: boolean;
  chunking?: boolean;
  /** `message`: sendMessage, the MIME built per send; `raw`: sendRaw of one prebuilt message. */
  api: 'message' | 'raw';
  /** Sends in flight per connection. Default {@link DEFAULT_WINDOW}. */
  window?: number;
  /** Called about every `progressMs` ms with this thread's counts. */
  onProgress?: (p: LoadCounts) => void;
  progressMs?: number;
}

/** Live counts of one thread (measured sends only). */
export interface LoadCounts {
  sent: number;
  ok: number;
  failed: number;
}

/** What one thread measured: plain data, merged exactly across threads by `mergeParts`. */
export interface LoadPart {
  /** Measured sends completed, delivered, failed. */
  sent: number;
  ok: number;
  failed: number;
  /** Sends excluded as warm-up. */
  warmup: number;
  /** Failures by reply (`451 4.3.0`) or error code (`ERR_SMTP_CONNECTION`). */
  errors: Record<string, number>;
  messageBytes: number;
  /** Clock ({@link clock}) at the first measured send's (intended) start, and at the last measured completion. */
  startedAt: number | null;
  endedAt: number | null;
  /**
   * Process CPU (user + system, µs, all threads) when measuring started and when the last measured send
   * ended: CPU per message is steady state's, without the warm-up's JIT and connection set-up.
   */
  cpuAtStart: number | null;
  cpuAtEnd: number | null;
  /** Clock at the zero of `series` (the run's start, shared by its threads). */
  origin: number;
  /** Per-message latency (open loop: from the intended start). */
  latency: HistogramSnapshot;
  /**
   * Per-phase latency: connection setup (`connect`, `tls`, `greeting`, `ehlo`, `starttls`, `auth`: every
   * connection opened, warm-up included) and per message (`mail`, `rcpt`, `data`, `body`, `final` from the
   * engine's `MailOutcome.timings`, when it has them).
   */
  phases: Record<string, HistogramSnapshot>;
  /** Measured completions and their latency over time, from `origin`. */
  series: SeriesPart;
}

/** Where per-phase timings go; swapped from warm-up (null) to measured at the boundary. */
type PhaseSink = Map<string, LatencyHistogram>;
interface PhaseState {
  connectSink: PhaseSink;
  messageSink: PhaseSink | null;
}

function recordPhases(sink: PhaseSink | null, timings: object | undefined, extra?: Record<string, number>): void {
  if (sink === null) return;
  const all = { ...timings, ...extra } as Record<string, unknown>;
  for (const [name, value] of Object.entries(all)) {
    if (typeof value !== 'number' || !Number.isFinite(value)) continue;
    let h = sink.get(name);
    if (h === undefined) {
      h = new LatencyHistogram();
      sink.set(name, h);
    }
    h.record(value);
  }
}

const MESSAGE_PHASES = ['mail', 'rcpt', 'data', 'body', 'final'] as const;

/** A transaction's five step times, straight into their histograms (no spread, no entries). */
function recordTimings(sink: PhaseSink, timings: TransactionTimings | undefined): void {
  if (timings === undefined) return;
  for (const name of MESSAGE_PHASES) {
    let h = sink.get(name);
    if (h === undefined) {
      h = new LatencyHistogram();
      sink.set(name, h);
    }
    h.record(timings[name]);
  }
}

/**
 * An `SmtpConnection` that reports its timings: connection setup (`timings`) after `connect()`, AUTH
 * around `login()`, and each transaction's `MailOutcome.timings` when the engine provides them (read
 * defensively: absent in engines that predate them).
 */
class TimedConnection extends SmtpConnection {
  readonly #state: PhaseState;

  constructor(options: ConstructorParameters<typeof SmtpConnection>[0], state: PhaseState) {
    super(options);
    this.#state = state;
  }

  override async connect(options?: OperationOptions): Promise<ServerInfo> {
    const info = await super.connect(options);
    recordPhases(this.#state.connectSink, this.timings);
    return info;
  }

  override async login(credentials: Credentials, options?: Parameters<SmtpConnection['login']>[1]): Promise<void> {
    const t = performance.now();
    await super.login(credentials, options);
    recordPhases(this.#state.connectSink, undefined, { auth: performance.now() - t });
  }

  override sendMail(envelope: Envelope, body: MessageBody, options?: SendMailOptions): Promise<MailOutcome> {
    // The phase is the one current when the send reaches its connection (≈ when it started). Timings
    // are asked for only in the measured window, and recorded without an extra async frame.
    const sink = this.#state.messageSink;
    if (sink === null) return super.sendMail(envelope, body, options);
    return super.sendMail(envelope, body, { ...options, timings: true }).then((outcome) => {
      recordTimings(sink, outcome.timings);
      return outcome;
    });
  }
}

/** The failure key of a result: reply code and enhanced code, else the error code, else the status. */
export function failureKey(result: DeliveryResult): string {
  if (result.smtpCode !== null)
    return result.enhancedCode ? `${result.smtpCode} ${result.enhancedCode}` : String(result.smtpCode);
  return result.error?.code ?? result.status;
}

/** Runs one thread's load and resolves with its part. Delivery failures are counted, never thrown. */
export async function runLoad(options: LoadOptions, startAt?: number): Promise<LoadPart> {
  const prepared = await prepareLoad(options);
  return prepared.run(startAt);
}

/** A load with its handler and message built, ready to start at a given clock time. */
export interface PreparedLoad {
  /**
   * Starts at clock time `startAt` (default now). `origin`, the zero of the time series, is shared by
   * the threads of one run so their intervals line up exactly (default: the start).
   */
  run(startAt?: number, origin?: number): Promise<LoadPart>;
}

/** Builds the handler and the message(s); nothing is sent until `run()`. */
export async function prepareLoad(options: LoadOptions): Promise<PreparedLoad> {
  const window = options.window ?? DEFAULT_WINDOW;
  const phaseState: PhaseState = { connectSink: new Map(), messageSink: null };
  const measuredPhases: PhaseSink = new Map();
  const handler = new SmtpProtocolHandler({
    hostname: options.host,
    port: options.port,
    encryption: options.encryption,
    poolSize: options.connections,
    fromAddress: FROM,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: options.password }),
    ...(options.pipelining === undefined ? {} : { pipelining: options.pipelining }),
    ...(options.chunking === undefined ? {} : { chunking: options.chunking }),
    retryPolicy: { maxRetries: 0 },
    limits: { maxAttachmentSize: Number.MAX_SAFE_INTEGER, maxTotalAttachmentSize: Number.MAX_SAFE_INTEGER },
    pool: {
      // As the pool's default factory, plus timings. Never recycled by count: a load run keeps its sessions.
      connectionFactory: (params) =>
        new TimedConnection(
          { ...params.connection, host: params.host, port: params.port!, encryption: params.encryption ?? 'tls' },
          phaseState,
        ),
      maxMessagesPerConnection: Number.MAX_SAFE_INTEGER,
    },
  });
  const content = messageContent(options.size);
  const built = await buildMessage({ fromAddress: FROM, toAddresses: [TO], ...content }).toBuffer();
  const raw = options.api === 'raw' ? built : null;
  const envelope = { from: FROM, to: [TO] };
  const send = (): Promise<DeliveryResult> =>
    raw
      ? handler.sendRaw(envelope, raw, { retry: false })
      : handler.sendMessage({ toAddresses: [TO], ...content, retry: false });

  return {
    async run(startAt?: number, origin?: number): Promise<LoadPart> {
      if (startAt !== undefined && startAt > clock()) await new Promise((r) => setTimeout(r, startAt - clock()));
      const cap = options.connections * window;
      const period = options.rate ? 1000 / options.rate : 0;
      // The schedule starts at the agreed time, not whenever the timer fired.
      const t0 = startAt ?? clock();
      const zero = origin ?? t0;
      const warmupEnd = t0 + (options.warmupMs ?? 0);
      const warmupMessages = options.warmupMessages ?? 0;
      const latency = new LatencyHistogram();
      const errors: Record<string, number> = {};
      const series = new TimeSeries();
      let failure: unknown = null;
      let launched = 0; // sends started, warm-up included (open loop: the schedule index)
      let measuredLaunched = 0;
      let warmup = 0;
      let inflight = 0;
      let ok = 0;
      let failed = 0;
      let startedAt: number | null = null;
      let endedAt: number | null = null;
      let cpuAtStart: number | null = null;
      let deadline = Infinity;
      let stopped = false;
      let timer: NodeJS.Timeout | null = null;
      let finish!: () => void;
      const finished = new Promise<void>((resolve) => (finish = resolve));

      const complete = (result: DeliveryResult, intended: number, measured: boolean): void => {
        inflight--;
        if (measured) {
          const now = clock();
          const ms = now - intended;
          latency.record(ms);
          const delivered = result.status === 'success';
          series.record(now - zero, ms, delivered);
          endedAt = now;
          if (delivered) ok++;
          else {
            failed++;
            const key = failureKey(result);
            errors[key] = (errors[key] ?? 0) + 1;
          }
        } else warmup++;
        launch();
      };
      const launch = (): void => {
        while (!stopped && inflight < cap) {
          const now = clock();
          const intended = period ? t0 + launched * period : now;
          if (intended > now) {
            // Open loop: wake at the next intended start (timers are ms-grained; late sends go in a batch).
            if (timer === null)
              timer = setTimeout(
                () => {
                  timer = null;
                  launch();
                },
                Math.max(1, Math.floor(intended - now)),
              );
            return;
          }
          const isWarmup = launched < warmupMessages || intended < warmupEnd;
          if (!isWarmup) {
            if (startedAt === null) {
              startedAt = intended;
              cpuAtStart = cpuMicros();
              deadline = options.durationMs === undefined ? Infinity : startedAt + options.durationMs;
              phaseState.messageSink = measuredPhases;
            }
            if (measuredLaunched >= options.messages || intended >= deadline) {
              stopped = true;
              break;
            }
            measuredLaunched++;
          } else phaseState.messageSink = null;
          launched++;
          inflight++;
          const measured = !isWarmup;
          send().then(
            (r) => complete(r, intended, measured),
            // sendRaw/sendMessage resolve for delivery outcomes; a throw is a bug or a bad option.
            (err: unknown) => {
              stopped = true;
              inflight--;
              failure = err;
              if (inflight === 0) finish();
            },
          );
        }
        if (stopped && inflight === 0) finish();
      };
      const progress = options.onProgress
        ? setInterval(() => options.onProgress!({ sent: ok + failed, ok, failed }), options.progressMs ?? 250)
        : null;
      let cpuAtEnd: number | null = null;
      try {
        launch();
        await finished;
        if (cpuAtStart !== null) cpuAtEnd = cpuMicros();
      } finally {
        if (progress) clearInterval(progress);
        if (timer) clearTimeout(timer);
      }
      options.onProgress?.({ sent: ok + failed, ok, failed });
      await handler.close();
      if (failure !== null) throw failure;
      const phases: Record<string, HistogramSnapshot> = {};
      for (const sink of [phaseState.connectSink, measuredPhases])
        for (const [name, h] of sink) phases[name] = h.snapshot();
      return {
        sent: ok + failed,
        ok,
        failed,
        warmup,
        errors,
        messageBytes: built.length,
        startedAt,
        endedAt,
        cpuAtStart,
        cpuAtEnd,
        origin: zero,
        latency: latency.snapshot(),
        phases,
        series: series.part(),
      };
    },
  };
}

function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/**
 * Subject, text and (above {@link TEXT_ONLY_LIMIT}) an attachment so the built message is about
 * `size` octets. Deterministic, ASCII text; the attachment is binary and goes out as base64.
 */
export function messageContent(size: number): {
  subject: string;
  textBody: string;
  attachments?: { filename: string; content: Buffer; contentType: string }[];
} {
  const line = 'The quick brown fox jumps over the lazy dog, 0123456789 times a day.\n';
  // The headers of a built text message take about 300 octets (a multipart adds ~100 more below).
  const overhead = 300;
  if (size <= TEXT_ONLY_LIMIT) {
    const want = Math.max(16, size - overhead);
    return { subject: 'smtpwire bench', textBody: line.repeat(Math.ceil(want / line.length)).slice(0, want) };
  }
  const textBody = line.repeat(8);
  // base64 turns 3 octets into 4 (plus CRLF every 76 characters).
  const attachmentBytes = Math.max(1, Math.floor(((size - overhead - textBody.length - 300) * 3 * 76) / (4 * 78)));
  const content = Buffer.alloc(attachmentBytes);
  for (let i = 0; i < content.length; i++) content[i] = (i * 131 + 17) & 0xff;
  return {
    subject: 'smtpwire bench',
    textBody,
    attachments: [{ filename: 'data.bin', content, contentType: 'application/octet-stream' }],
  };
}
