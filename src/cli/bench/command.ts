/**
 * `smtpwire bench`: a load generator bounded by a message count and a duration, with a live progress
 * line on a terminal and plain lines otherwise; `--sink` starts an embedded sink in a child process
 * (the scripted server of `smtpwire/testing`), so the client's CPU and memory figures stay its own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  type CliIo,
  CONNECTION_OPTIONS,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_WARNINGS,
  encryptionFlag,
  ms,
  parseSize,
  parseTarget,
  positiveInt,
  positiveNumber,
  readPassword,
  tlsFlags,
  UsageError,
} from '../common.js';
import type { LatencySummary } from './histogram.js';
import { renderHtmlReport } from './report-html.js';
import { type BenchProgress, type BenchReport, runBench } from './run.js';

/** `smtpwire bench --help`: every flag it takes, and nothing else. */
export const BENCH_USAGE = `usage: smtpwire bench [host[:port] | --sink] [--messages N | -m N] [--duration S] [--connections C | -s C]
                     [--workers W] [--rate R] [--warmup S | --warmup-messages N] [--size 1k|100k|BYTES | -l BYTES]
                     [--pipelining on|off] [--chunking] [--api message|raw] [--window W]
                     [--plain | --starttls | --tls | --ssl | --encryption none|tls|ssl] [--ca FILE] [--insecure]
                     [--user U --pass-env VAR] [--json] [--report FILE.html]
  Defaults: steady state: 20,000 measured messages after 3,000 of warm-up (--warmup-messages 0 for none);
  4 connections, closed loop in this thread, 1k, plaintext, port 25; --sink needs no server.
  --workers W: W worker threads share the connections, messages and rate. --rate R: open loop at R msg/s,
  latency measured from each send's intended start (a stalled server shows in the percentiles).
  As in Postfix's smtp-source: -s sessions (connections), -m messages, -l message length in bytes. Its other
  flags (-c, -d, -r, -w, -f, -t, …) are refused with the spelling to use here; sessions always stay open.`;

const DEFAULT_MESSAGES = 20_000;
const DEFAULT_WARMUP_MESSAGES = 3_000;
const DEFAULT_CONNECTIONS = 4;
/** Below these, a run is not steady state (JIT, connection set-up): the report says so. */
const STEADY_MESSAGES = 20_000;
const STEADY_WARMUP = 3_000;

/** smtp-source flags that mean the same here: rewritten to the long spelling. */
const SMTP_SOURCE_SAME: Record<string, string> = { s: '--connections', m: '--messages', l: '--size', n: '--messages' };
/** smtp-source flags that mean something else (or nothing) here: refused, with what to type instead. */
const SMTP_SOURCE_REFUSED: Record<string, string> = {
  c: '-c is a progress counter in smtp-source; connections are --connections C (or -s C)',
  d: '-d keeps sessions open in smtp-source, and bench always does; a duration is --duration S',
  r: '-r is recipients per message in smtp-source, which bench does not vary; a send rate is --rate R',
  w: '-w is a wait between messages in smtp-source; pace sends with --rate R; worker threads are --workers W',
  f: '-f sets the sender in smtp-source; bench sends from a fixed test address',
  t: '-t sets the recipient in smtp-source; bench sends to a fixed test address',
  S: '-S sets the subject in smtp-source; bench builds its own message (--size)',
  M: '-M sets the HELO name in smtp-source; bench has no such flag',
  N: '-N makes recipients unique in smtp-source; bench has no such flag',
};

/**
 * Rewrites smtp-source's short flags that mean the same here (`-s 8`, `-m20000`, `-l 1024`) and refuses
 * those that would mean something else. @throws UsageError.
 */
export function smtpSourceFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const m = /^-([A-Za-z])(.*)$/.exec(arg);
    if (m === null) {
      out.push(arg);
      continue;
    }
    const [, flag, rest] = m as unknown as [string, string, string];
    const refused = SMTP_SOURCE_REFUSED[flag];
    if (refused !== undefined) throw new UsageError(refused);
    const long = SMTP_SOURCE_SAME[flag];
    if (long === undefined) out.push(arg);
    else if (rest !== '') out.push(long, rest);
    else out.push(long);
  }
  return out;
}

/** Runs the bench command; resolves with 0 (all delivered), 1 (some failed) or 2 (none delivered). */
export async function benchCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: smtpSourceFlags(argv),
    allowPositionals: true,
    options: {
      ...CONNECTION_OPTIONS,
      messages: { type: 'string' },
      connections: { type: 'string' },
      workers: { type: 'string' },
      rate: { type: 'string' },
      warmup: { type: 'string' },
      'warmup-messages': { type: 'string' },
      size: { type: 'string', default: '1k' },
      duration: { type: 'string' },
      pipelining: { type: 'string', default: 'on' },
      chunking: { type: 'boolean' },
      api: { type: 'string', default: 'message' },
      window: { type: 'string' },
      sink: { type: 'boolean' },
      json: { type: 'boolean' },
      report: { type: 'string' },
    },
  });
  if (values.sink ? positionals.length !== 0 : positionals.length !== 1) {
    throw new UsageError('bench takes one server (host[:port]) or --sink');
  }
  if (values.pipelining !== 'on' && values.pipelining !== 'off') throw new UsageError('--pipelining must be on or off');
  if (values.api !== 'message' && values.api !== 'raw') throw new UsageError('--api must be message or raw');
  const durationS = positiveNumber('duration', values.duration);
  const messages =
    values.messages === undefined && durationS !== undefined
      ? Infinity
      : positiveInt('messages', values.messages, DEFAULT_MESSAGES);
  const connections = positiveInt('connections', values.connections, DEFAULT_CONNECTIONS);
  const workers = values.workers === undefined ? 0 : positiveInt('workers', values.workers, 1);
  if (workers > connections) throw new UsageError('--workers must not exceed --connections (each needs one)');
  const rate = positiveNumber('rate', values.rate);
  const warmupS = positiveNumber('warmup', values.warmup);
  if (warmupS !== undefined && values['warmup-messages'] !== undefined)
    throw new UsageError('choose one of --warmup and --warmup-messages');
  // Steady state by default: a warm-up is left out unless told otherwise (`--warmup-messages 0`).
  const warmupMessages =
    values['warmup-messages'] === '0'
      ? undefined
      : warmupS !== undefined
        ? undefined
        : positiveInt('warmup-messages', values['warmup-messages'], DEFAULT_WARMUP_MESSAGES);
  const window = positiveInt('window', values.window, 16);
  const size = parseSize(values.size);
  const encryption = encryptionFlag(values) ?? 'none';
  if (values.sink && encryption !== 'none') throw new UsageError('--sink is plaintext only');
  const password = await readPassword(io, values.user, values['pass-env']);

  let sink: EmbeddedSink | null = null;
  let host: string;
  let port: number;
  if (values.sink) {
    sink = await startEmbeddedSink();
    host = '127.0.0.1';
    port = sink.port;
  } else {
    const target = parseTarget(positionals[0]);
    host = target.host;
    port = target.port ?? (encryption === 'ssl' ? 465 : encryption === 'tls' ? 587 : 25);
  }
  const live = !values.json && io.stdout.isTTY === true;
  const where = `${host}:${port}${sink ? ' (embedded sink)' : ''}`;
  const settings = {
    connections,
    workers,
    messages: Number.isFinite(messages) ? messages : null,
    durationSeconds: durationS ?? null,
    rate: rate ?? null,
    warmupSeconds: warmupS ?? null,
    warmupMessages: warmupMessages ?? null,
    size,
    pipelining: values.pipelining === 'on',
    chunking: values.chunking === true,
    api: values.api,
  };
  const title = describeRun(where, settings, values.size);
  if (!values.json) io.stdout.write(`${title}\n`);
  let report: BenchReport;
  try {
    const tls = tlsFlags(values);
    report = await runBench({
      host,
      port,
      encryption,
      connections,
      workers,
      messages,
      size,
      window,
      api: values.api,
      pipelining: values.pipelining === 'on',
      ...(values.chunking ? { chunking: true } : {}),
      ...(durationS === undefined ? {} : { durationMs: durationS * 1000 }),
      ...(rate === undefined ? {} : { rate }),
      ...(warmupS === undefined ? {} : { warmupMs: warmupS * 1000 }),
      ...(warmupMessages === undefined ? {} : { warmupMessages }),
      ...(tls === undefined ? {} : { tls }),
      ...(values.user === undefined ? {} : { username: values.user }),
      ...(password === undefined ? {} : { password }),
      ...(values.json ? {} : { onProgress: progressPrinter(io, live), progressMs: live ? 200 : 1000 }),
    });
  } finally {
    await sink?.stop();
  }
  if (live) io.stdout.write('\n');
  const machine = { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? null };
  if (values.report !== undefined) {
    writeFileSync(
      values.report,
      renderHtmlReport(report, { title, date: new Date().toISOString(), ...machine }, orderedPhases(report.phases)),
    );
  }
  const note = steadyStateNote(report, warmupS !== undefined);
  if (values.json) {
    io.stdout.write(
      `${benchJson({ target: { host, port, embeddedSink: sink !== null }, settings, ...report, note, ...machine })}\n`,
    );
  } else {
    io.stdout.write(formatBenchReport(report));
    if (values.report !== undefined) io.stdout.write(`  report        ${values.report}\n`);
    if (note !== null) io.stdout.write(`  note          ${note}\n`);
  }
  if (report.ok === 0) return EXIT_FAILURE;
  return report.failed > 0 ? EXIT_WARNINGS : EXIT_OK;
}

/** A note when the run was too short to be steady state (null when it was long enough). */
export function steadyStateNote(r: Pick<BenchReport, 'messages' | 'warmup'>, timedWarmup: boolean): string | null {
  const short = r.messages < STEADY_MESSAGES;
  const cold = !timedWarmup && r.warmup < STEADY_WARMUP;
  if (!short && !cold) return null;
  const what = [
    short ? `${r.messages} measured (< ${STEADY_MESSAGES.toLocaleString('en')})` : null,
    cold ? `${r.warmup} warm-up (< ${STEADY_WARMUP.toLocaleString('en')})` : null,
  ]
    .filter(Boolean)
    .join(', ');
  return `too short for steady state: ${what}; msg/s and CPU include JIT and connection set-up`;
}

function describeRun(where: string, s: Record<string, unknown>, sizeText: string): string {
  const bound = [
    s.messages !== null ? `${s.messages} messages` : null,
    s.durationSeconds ? `${s.durationSeconds} s` : null,
  ]
    .filter(Boolean)
    .join(' or ');
  const threads = s.workers ? ` on ${s.workers} worker thread(s)` : '';
  const loop = s.rate ? `open loop at ${s.rate} msg/s` : 'closed loop';
  const warm = s.warmupSeconds
    ? `, ${s.warmupSeconds} s warm-up`
    : s.warmupMessages
      ? `, ${s.warmupMessages} warm-up messages`
      : '';
  return `smtpwire bench → ${where}: ${bound}, ${s.connections} connection(s)${threads}, ${sizeText}, pipelining ${s.pipelining ? 'on' : 'off'}, api ${s.api}, ${loop}${warm}`;
}

/**
 * The report as JSON: camelCase keys; durations in ms rounded to the µs (3 decimals), seconds to 6,
 * rates and sizes to 3. One place, so every figure is rounded the same way.
 */
export function benchJson(value: unknown): string {
  const text = JSON.stringify(
    value,
    (key, v: unknown) => {
      if (typeof v !== 'number' || Number.isInteger(v) || key === 'relativePrecision') return v;
      const digits = key === 'seconds' ? 6 : 3;
      return Number(v.toFixed(digits));
    },
    2,
  );
  // Arrays of plain numbers (histogram buckets) on one line each: a long run has hundreds of them.
  return text.replace(
    /\[\s+(-?[\d.e+-]+(?:,\s+-?[\d.e+-]+)*)\s+\]/g,
    (_, inner: string) => `[${inner.replace(/\s+/g, '')}]`,
  );
}

/** `p50 1.23 ms, p90 …, p99 …, p99.9 …, max …`. */
export function formatSummary(s: LatencySummary): string {
  return `p50 ${ms(s.p50)}, p90 ${ms(s.p90)}, p99 ${ms(s.p99)}, p99.9 ${ms(s.p999)}, max ${ms(s.max)}`;
}

/** The phases in the order a session goes through them; others (from a newer engine) follow. */
export const PHASE_ORDER = [
  'connect',
  'tls',
  'greeting',
  'ehlo',
  'starttls',
  'auth',
  'mail',
  'rcpt',
  'data',
  'body',
  'final',
];

/** Phase names of a report in session order. */
export function orderedPhases(phases: Record<string, unknown>): string[] {
  const rank = (name: string): number => {
    const i = PHASE_ORDER.indexOf(name);
    return i < 0 ? PHASE_ORDER.length : i;
  };
  return Object.keys(phases).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** The report as text. Failures apart from deliveries; no rate when nothing was delivered. */
export function formatBenchReport(r: BenchReport): string {
  const warm = r.warmup ? ` (+${r.warmup} warm-up, not counted)` : '';
  const lines = [
    `  messages      ${r.messages} (${r.ok} delivered, ${r.failed} failed) in ${r.seconds.toFixed(2)} s, ${r.messageBytes} octets each${warm}`,
    r.messagesPerSecond === null
      ? '  throughput    none: nothing was delivered'
      : `  throughput    ${r.messagesPerSecond.toFixed(0)} msg/s delivered, ${r.megabytesPerSecond!.toFixed(2)} MB/s`,
  ];
  if (r.rate.requested !== null) {
    lines.push(
      `  rate          requested ${r.rate.requested} msg/s, achieved ${r.rate.achieved === null ? '-' : r.rate.achieved.toFixed(0)} msg/s (open loop)`,
    );
  }
  const from = r.mode === 'open-loop' ? 'from the intended start' : 'from the send call';
  lines.push(`  latency       ${formatSummary(r.latency)} (${from})`);
  const phases = orderedPhases(r.phases);
  if (phases.length) {
    lines.push('  phases        (connection set-up: every connection; per message: measured sends)');
    for (const name of phases) {
      const s = r.phases[name]!;
      lines.push(`    ${name.padEnd(11)} ${formatSummary(s)} (${s.count}×)`);
    }
  }
  if (r.errors.length) lines.push(`  errors        ${r.errors.map((e) => `${e.key} × ${e.count}`).join(', ')}`);
  if (r.cpuSecondsPer1000 !== null)
    lines.push(`  client CPU    ${r.cpuSecondsPer1000.toFixed(3)} s per 1,000 messages (all threads)`);
  lines.push(`  peak RSS      ${r.peakRssMiB.toFixed(1)} MiB`);
  return `${lines.join('\n')}\n`;
}

/** On a TTY: one line rewritten in place (CR + erase line). Otherwise: one plain line per tick. */
export function progressPrinter(io: CliIo, live: boolean): (p: BenchProgress) => void {
  let last = -1;
  return (p) => {
    const seconds = p.elapsedMs / 1000;
    const rate = seconds > 0 ? p.sent / seconds : 0;
    let eta = '';
    if (p.total !== null && rate > 0) eta = `, ETA ${Math.max(0, (p.total - p.sent) / rate).toFixed(1)} s`;
    if (p.durationMs !== null) {
      const left = Math.max(0, (p.durationMs - p.elapsedMs) / 1000);
      if (p.total === null || left < (p.total - p.sent) / Math.max(rate, 1e-9)) eta = `, ETA ${left.toFixed(1)} s`;
    }
    const text = `sent ${p.sent}${p.total !== null ? `/${p.total}` : ''}, ${rate.toFixed(0)} msg/s, ${p.failed} errors${eta}`;
    if (live) io.stdout.write(`\r\x1b[2K${text}`);
    else if (p.sent !== last) io.stdout.write(`${text}\n`);
    last = p.sent;
  };
}

// ── the embedded sink ─────────────────────────────────────────────────────────────────────────

/** A sink child process started by {@link startEmbeddedSink}. */
export interface EmbeddedSink {
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts `smtpwire sink` (this same program) in a child process and reads its port from the first
 * line it prints. A child, not an in-process server: the client's CPU and RSS figures stay its own.
 */
export async function startEmbeddedSink(): Promise<EmbeddedSink> {
  const script = process.argv[1];
  if (script === undefined) throw new Error('cannot locate the smtpwire script to start the sink');
  const child = spawn(process.execPath, [...process.execArgv, script, 'sink', '--port', '0', '--quiet'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const kill = (): void => void child.kill('SIGKILL');
  process.once('exit', kill);
  const port = await new Promise<number>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (line) => {
      const m = /port (\d+)/.exec(line);
      if (m) resolve(Number(m[1]));
      else reject(new Error(`unexpected sink output: ${line}`));
    });
    child.once('exit', (code) => reject(new Error(`the embedded sink exited with code ${code}`)));
    child.once('error', reject);
  });
  return { port, stop: () => stopChild(child, kill) };
}

function stopChild(child: ChildProcess, kill: () => void): Promise<void> {
  process.off('exit', kill);
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
