/**
 * `smtpwire bench`: a load generator bounded by a message count and a duration, with a live progress
 * line on a terminal and plain lines otherwise; `--sink` starts an embedded sink in a child process
 * (the scripted server of `smtpwire/testing`), so the client's CPU and memory figures stay its own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
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
  parseSize,
  parseTarget,
  positiveInt,
  positiveNumber,
  readPassword,
  tlsFlags,
  UsageError,
} from './common.js';
import { type LoadProgress, type LoadResult, runLoad } from './load.js';

/** `smtpwire bench --help`. */
export const BENCH_USAGE = `usage: smtpwire bench [host[:port] | --sink] [--messages N] [--connections C] [--size 1k|100k|BYTES]
                     [--duration S] [--pipelining on|off] [--chunking] [--api message|raw] [--window W]
                     [--tls|--starttls|--plain] [--ca FILE] [--insecure] [--user U --pass-env VAR] [--json]
  Defaults: 1000 messages, 4 connections, 1k, plaintext, port 25; --sink needs no server.`;

const DEFAULT_MESSAGES = 1000;
const DEFAULT_CONNECTIONS = 4;

/** Runs the bench command; resolves with 0 (all delivered), 1 (some failed) or 2 (none delivered). */
export async function benchCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...CONNECTION_OPTIONS,
      messages: { type: 'string', short: 'n' },
      connections: { type: 'string', short: 'c' },
      size: { type: 'string', default: '1k' },
      duration: { type: 'string', short: 'd' },
      pipelining: { type: 'string', default: 'on' },
      chunking: { type: 'boolean' },
      api: { type: 'string', default: 'message' },
      window: { type: 'string' },
      sink: { type: 'boolean' },
      json: { type: 'boolean' },
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
  if (!values.json) {
    const bound = [Number.isFinite(messages) ? `${messages} messages` : null, durationS ? `${durationS} s` : null]
      .filter(Boolean)
      .join(' or ');
    io.stdout.write(
      `smtpwire bench → ${where}: ${bound}, ${connections} connection(s), ${values.size}, pipelining ${values.pipelining}, api ${values.api}\n`,
    );
  }
  let result: LoadResult;
  try {
    const tls = tlsFlags(values);
    result = await runLoad({
      host,
      port,
      encryption,
      connections,
      messages,
      size,
      window,
      api: values.api,
      pipelining: values.pipelining === 'on',
      ...(values.chunking ? { chunking: true } : {}),
      ...(durationS === undefined ? {} : { durationMs: durationS * 1000 }),
      ...(tls === undefined ? {} : { tls }),
      ...(values.user === undefined ? {} : { username: values.user }),
      ...(password === undefined ? {} : { password }),
      ...(values.json ? {} : { onProgress: progressPrinter(io, live), progressMs: live ? 200 : 1000 }),
    });
  } finally {
    await sink?.stop();
  }
  if (live) io.stdout.write('\n');
  if (values.json) {
    io.stdout.write(
      `${JSON.stringify(
        {
          target: { host, port, embeddedSink: sink !== null },
          settings: {
            connections,
            messages: Number.isFinite(messages) ? messages : null,
            durationSeconds: durationS ?? null,
            size,
            pipelining: values.pipelining === 'on',
            chunking: values.chunking === true,
            api: values.api,
          },
          ...result,
          node: process.version,
          cpus: os.cpus().length,
        },
        null,
        2,
      )}\n`,
    );
  } else {
    io.stdout.write(formatLoadResult(result));
  }
  if (result.ok === 0) return EXIT_FAILURE;
  return result.failed > 0 ? EXIT_WARNINGS : EXIT_OK;
}

/** The report as text. */
export function formatLoadResult(r: LoadResult): string {
  const lines = [
    `  messages      ${r.messages} (${r.ok} delivered, ${r.failed} failed) in ${r.seconds.toFixed(2)} s, ${r.messageBytes} octets each`,
    `  throughput    ${r.messagesPerSecond.toFixed(0)} msg/s, ${r.megabytesPerSecond.toFixed(2)} MB/s`,
    `  latency       p50 ${r.latency.p50.toFixed(2)} ms, p95 ${r.latency.p95.toFixed(2)} ms, p99 ${r.latency.p99.toFixed(2)} ms, max ${r.latency.max.toFixed(2)} ms`,
    `  client CPU    ${r.cpuSecondsPer1000.toFixed(3)} s per 1,000 messages`,
    `  peak RSS      ${r.peakRssMiB.toFixed(1)} MiB`,
  ];
  const errors = Object.entries(r.errors);
  if (errors.length) lines.push(`  errors        ${errors.map(([code, n]) => `${code} × ${n}`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}

/** On a TTY: one line rewritten in place (CR + erase line). Otherwise: one plain line per tick. */
export function progressPrinter(io: CliIo, live: boolean): (p: LoadProgress) => void {
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
  const child = spawn(process.execPath, [...process.execArgv, script, 'sink', '--port', '0'], {
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
