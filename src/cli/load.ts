/**
 * The load generator behind `smtpwire bench` (and `bench/run-all.ts`): N messages (or S seconds)
 * through one `SmtpProtocolHandler` with a pool of C connections, with enough sends in flight that
 * PIPELINING can carry the next MAIL right behind the previous final dot.
 */
import { buildMessage, type SmtpEncryption, SmtpProtocolHandler } from './api.js';

/** Sends queued per connection: deep enough to keep a pipelined connection busy. */
export const DEFAULT_WINDOW = 16;
/** Bodies up to this size are plain text; bigger ones get an attachment (the "100k" case). */
const TEXT_ONLY_LIMIT = 16 * 1024;
const FROM = 'bench@smtpwire.example';
const TO = 'sink@smtpwire.example';

/** Options of {@link runLoad}. */
export interface LoadOptions {
  host: string;
  port: number;
  encryption: SmtpEncryption;
  tls?: { ca?: string; rejectUnauthorized?: boolean };
  username?: string;
  password?: string;
  connections: number;
  /** Stop after this many messages (Infinity: only the duration bounds the run). */
  messages: number;
  /** Stop starting new messages after this many ms. */
  durationMs?: number;
  /** Approximate message size in octets, headers included. */
  size: number;
  pipelining?: boolean;
  chunking?: boolean;
  /** `message`: sendMessage, the MIME built per send; `raw`: sendRaw of one prebuilt message. */
  api: 'message' | 'raw';
  /** Sends in flight per connection. Default {@link DEFAULT_WINDOW}. */
  window?: number;
  /** Called about every `progressMs` ms and once at the end. */
  onProgress?: (p: LoadProgress) => void;
  progressMs?: number;
}

/** A progress snapshot for the live line. */
export interface LoadProgress {
  sent: number;
  ok: number;
  failed: number;
  elapsedMs: number;
  /** Target count, or null when only the duration bounds the run. */
  total: number | null;
  durationMs: number | null;
}

/** The figures of one load run. */
export interface LoadResult {
  messages: number;
  ok: number;
  failed: number;
  seconds: number;
  messagesPerSecond: number;
  /** Message octets (as built) accepted per second, in MB (10^6). */
  megabytesPerSecond: number;
  messageBytes: number;
  /** Per-message latency, ms: from the send call to its DeliveryResult (pool wait included). */
  latency: { p50: number; p95: number; p99: number; max: number };
  /** Failures by reply code (`550`) or error code (`ERR_SMTP_CONNECTION`). */
  errors: Record<string, number>;
  /** Client CPU (user + system) per 1,000 messages, seconds. */
  cpuSecondsPer1000: number;
  peakRssMiB: number;
}

/** Runs the load and resolves with the figures. Delivery failures are counted, never thrown. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const window = options.window ?? DEFAULT_WINDOW;
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
  });
  const content = messageContent(options.size);
  const raw =
    options.api === 'raw' ? await buildMessage({ fromAddress: FROM, toAddresses: [TO], ...content }).toBuffer() : null;
  const messageBytes =
    raw?.length ?? (await buildMessage({ fromAddress: FROM, toAddresses: [TO], ...content }).toBuffer()).length;

  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let started = 0;
  let ok = 0;
  let failed = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = options.durationMs === undefined ? Infinity : t0 + options.durationMs;
  const progress = (): LoadProgress => ({
    sent: ok + failed,
    ok,
    failed,
    elapsedMs: performance.now() - t0,
    total: Number.isFinite(options.messages) ? options.messages : null,
    durationMs: options.durationMs ?? null,
  });
  const timer = options.onProgress
    ? setInterval(() => options.onProgress!(progress()), options.progressMs ?? 250)
    : null;
  const worker = async (): Promise<void> => {
    while (started < options.messages && performance.now() < deadline) {
      started++;
      const t = performance.now();
      const result = raw
        ? await handler.sendRaw({ from: FROM, to: [TO] }, raw, { retry: false })
        : await handler.sendMessage({ toAddresses: [TO], ...content, retry: false });
      latencies.push(performance.now() - t);
      if (result.status === 'success') ok++;
      else {
        failed++;
        const key = result.smtpCode !== null ? String(result.smtpCode) : (result.error?.code ?? result.status);
        errors[key] = (errors[key] ?? 0) + 1;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.connections * window }, worker));
  } finally {
    if (timer) clearInterval(timer);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  options.onProgress?.(progress());
  await handler.close();
  const sent = ok + failed;
  latencies.sort((a, b) => a - b);
  return {
    messages: sent,
    ok,
    failed,
    seconds,
    messagesPerSecond: sent / seconds,
    megabytesPerSecond: (ok * messageBytes) / 1e6 / seconds,
    messageBytes,
    latency: {
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] ?? 0,
    },
    errors,
    cpuSecondsPer1000: sent === 0 ? 0 : ((cpu.user + cpu.system) / 1e6 / sent) * 1000,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
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
