/**
 * `npm run bench:dkim`: what DKIM signing costs (issue 14). Compiled (tsconfig.bench.json) and run as plain
 * JavaScript; prints figures, asserts nothing.
 *
 * 1. CPU per 1 KB message: build only (unsigned), + Ed25519, + RSA-2048, + both (dual), in this process.
 * 2. Throughput to a local sink through `sendMessage` (4 connections): unsigned vs Ed25519 vs RSA-2048.
 * 3. Memory: a 100 MiB file attachment signed (two passes) and a 100 MiB one-shot stream signed (spooled),
 *    each sent to the sink from its own child process, with its peak RSS.
 *
 * `--memory` runs part 3 alone (`npm run bench:memory` does).
 *
 * Environment: BENCH_DKIM_MESSAGES (default 3000 for CPU, a third of it for throughput),
 * BENCH_DKIM_MIB (default 100).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { type DkimOptions, SmtpProtocolHandler } from '../src/index.js';
import { DkimMessageHasher } from '../src/message/dkim/message.js';
import { createDkimSigners } from '../src/message/dkim/sign.js';
import { buildMessage } from '../src/message/mime/index.js';
import { startSink } from './sink.js';

const here = fileURLToPath(new URL('.', import.meta.url));
/** fixtures/ from the source tree, whether this runs from bench/ or from .tmp/bench-build/bench/. */
const FIXTURES = here.includes('.tmp') ? join(here, '../../../fixtures/dkim') : join(here, '../fixtures/dkim');
const MESSAGES = Number(process.env.BENCH_DKIM_MESSAGES ?? 3000);
const MIB = Number(process.env.BENCH_DKIM_MIB ?? 100);
const MiB = 1024 * 1024;

const ed: DkimOptions = {
  domainName: 'example.com',
  keySelector: 'ed',
  privateKey: readFileSync(join(FIXTURES, 'ed25519.pem'), 'utf8'),
};
const rsa: DkimOptions = {
  domainName: 'example.com',
  keySelector: 'rsa',
  privateKey: readFileSync(join(FIXTURES, 'rsa-2048.pem'), 'utf8'),
};
const VARIANTS: [string, DkimOptions[]][] = [
  ['unsigned', []],
  ['Ed25519', [ed]],
  ['RSA-2048', [rsa]],
  ['RSA-2048 + Ed25519', [rsa, ed]],
];

const message1k = {
  fromAddress: 'bench@example.com',
  toAddresses: ['sink@example.org'],
  subject: 'benchmark message',
  textBody: 'x'.repeat(70).concat('\n').repeat(10),
};

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** CPU µs per message: build (and sign) a 1 KB message, in memory. */
function cpuTable(): string {
  const rows = ['| signatures | CPU µs / message | messages/s (one core) |', '|---|---:|---:|'];
  for (const [name, options] of VARIANTS) {
    const signers = options.length ? createDkimSigners(options) : [];
    const once = (): void => {
      const bytes = buildMessage(message1k).toBufferSync();
      if (signers.length) {
        const h = new DkimMessageHasher(signers);
        h.update(bytes);
        h.finish();
      }
    };
    for (let i = 0; i < 200; i++) once();
    const start = cpuMicros();
    for (let i = 0; i < MESSAGES; i++) once();
    const perMessage = (cpuMicros() - start) / MESSAGES;
    rows.push(`| ${name} | ${perMessage.toFixed(1)} | ${(1e6 / perMessage).toFixed(0)} |`);
  }
  return rows.join('\n');
}

const REPS = Number(process.env.BENCH_DKIM_REPS ?? 3);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One sendMessage run to the sink: 4 connections, 64 sends in flight; msg/s and CPU s per 1,000. */
async function throughputRun(port: number, options: DkimOptions[], count: number): Promise<[number, number]> {
  const handler = new SmtpProtocolHandler({
    hostname: '127.0.0.1',
    port,
    encryption: 'none',
    poolSize: 4,
    ...(options.length ? { dkim: options } : {}),
  });
  const run = async (n: number): Promise<void> => {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next++ < n) {
        const r = await handler.sendMessage(message1k);
        if (r.status !== 'success') throw new Error(`${r.status} ${r.smtpError}`);
      }
    };
    await Promise.all(Array.from({ length: 64 }, lane));
  };
  await run(200);
  const cpu0 = cpuMicros();
  const t0 = performance.now();
  await run(count);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = (cpuMicros() - cpu0) / 1e6;
  await handler.close();
  return [count / seconds, (cpu / count) * 1000];
}

/** Median of REPS interleaved runs per variant (the machine is shared and noisy). */
async function throughputTable(port: number): Promise<string> {
  const rows = ['| signatures | msg/s (median) | CPU s / 1,000 msgs (median) |', '|---|---:|---:|'];
  const count = Math.max(300, Math.floor(MESSAGES / 3));
  const variants = VARIANTS.slice(0, 3);
  const results = variants.map(() => [] as [number, number][]);
  for (let rep = 0; rep < REPS; rep++) {
    for (const [i, [, options]] of variants.entries()) results[i]!.push(await throughputRun(port, options, count));
  }
  for (const [i, [name]] of variants.entries()) {
    const r = results[i]!;
    rows.push(`| ${name} | ${median(r.map((x) => x[0])).toFixed(0)} | ${median(r.map((x) => x[1])).toFixed(3)} |`);
  }
  return rows.join('\n');
}

async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path);
  const block = randomBytes(MiB);
  for (let written = 0; written < bytes; written += block.length) {
    if (!out.write(block)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

/** Child-process mode: one large signed send; prints `{ seconds, peakRssMiB, status }` as JSON. */
async function memoryWorker(kind: 'file' | 'stream', port: number, file: string): Promise<void> {
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  const handler = new SmtpProtocolHandler({
    hostname: '127.0.0.1',
    port,
    encryption: 'none',
    poolSize: 1,
    dkim: [rsa, ed],
    limits: { maxAttachmentSize: 2 * MIB * MiB, maxTotalAttachmentSize: 2 * MIB * MiB },
  });
  const t0 = performance.now();
  let status: string;
  if (kind === 'file') {
    const r = await handler.sendMessage({ ...message1k, attachments: [{ filename: 'big.bin', path: file }] });
    status = r.status === 'success' ? r.status : `${r.status}: ${r.smtpError}`;
  } else {
    // A one-shot stream: the message (headers + a base64 body) generated on the fly, never in memory.
    const block = randomBytes(57 * 1024)
      .toString('base64')
      .replace(/.{76}/g, '$&\r\n');
    const blocks = Math.ceil((MIB * MiB) / block.length);
    async function* generate(): AsyncGenerator<string> {
      yield 'From: bench@example.com\r\nTo: sink@example.org\r\nSubject: stream\r\n\r\n';
      for (let i = 0; i < blocks; i++) yield block;
    }
    const r = await handler.sendRaw({ from: 'bench@example.com', to: ['sink@example.org'] }, Readable.from(generate()));
    status = r.status === 'success' ? r.status : `${r.status}: ${r.smtpError}`;
  }
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  await handler.close();
  process.stdout.write(JSON.stringify({ seconds, peakRssMiB: peak / MiB, status }));
}

function runChild(args: string[]): Promise<{ seconds: number; peakRssMiB: number; status: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker exited ${code}`))));
  });
}

async function memoryTable(port: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'smtpwire-dkim-bench-'));
  const rows = ['| body (RSA-2048 + Ed25519) | status | wall s | peak RSS MiB |', '|---|---|---:|---:|'];
  try {
    const file = join(dir, 'big.bin');
    await writeRandomFile(file, MIB * MiB);
    for (const kind of ['file', 'stream'] as const) {
      const m = await runChild(['--memory-worker', kind, String(port), file]);
      const label =
        kind === 'file' ? `${MIB} MiB file attachment (hashed, then sent)` : `${MIB} MiB one-shot stream (spooled)`;
      rows.push(`| ${label} | ${m.status} | ${m.seconds.toFixed(2)} | ${m.peakRssMiB.toFixed(0)} |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows.join('\n');
}

const argv = process.argv.slice(2);
if (argv[0] === '--memory-worker') {
  await memoryWorker(argv[1] as 'file' | 'stream', Number(argv[2]), argv[3]!);
} else if (argv[0] === '--memory') {
  // `npm run bench:memory` runs only this part: the signed large message's peak RSS.
  const sink = await startSink();
  try {
    process.stdout.write(`### DKIM: one large signed message (${sink.name})\n\n${await memoryTable(sink.port)}\n`);
  } finally {
    await sink.stop();
  }
} else {
  const machine = `node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${os.platform()} ${os.arch()}`;
  process.stdout.write(`## DKIM (${new Date().toISOString().slice(0, 10)}, ${machine})\n\n`);
  process.stdout.write(`### CPU per 1 KB message (build + sign, ${MESSAGES} messages)\n\n${cpuTable()}\n\n`);
  const sink = await startSink();
  try {
    process.stdout.write(`### sendMessage to ${sink.name}, 4 connections\n\n${await throughputTable(sink.port)}\n\n`);
    process.stdout.write(`### Memory: one large signed message\n\n${await memoryTable(sink.port)}\n`);
  } finally {
    await sink.stop();
  }
}
