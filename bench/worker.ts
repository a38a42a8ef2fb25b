/**
 * One measurement in its own process, so CPU time and peak RSS belong to one client only.
 * `node --import tsx bench/worker.ts '<json Job>'` prints one JSON line: a `Measurement`.
 *
 * Throughput jobs run a short warm-up first (JIT, pool connections), then the measured run.
 */
import { spawn } from 'node:child_process';
import { createTransport } from 'nodemailer';
import { messageContent, percentile } from '../src/cli/bench/load.js';
import { runBench } from '../src/cli/bench/run.js';
import { SmtpProtocolHandler } from '../src/index.js';

/** The clients compared in the throughput table. */
export type Client = 'smtpwire' | 'smtpwire-raw' | 'nodemailer' | 'smtp-source';

/** N messages of one size over C connections, after a warm-up. */
export interface ThroughputJob {
  kind: 'throughput';
  client: Client;
  port: number;
  connections: number;
  messages: number;
  size: number;
  warmup: number;
  /** smtpwire only: worker threads (0: the load runs in the main thread). */
  workers?: number;
}

/** One message with a big attachment read from `file`. */
export interface MemoryJob {
  kind: 'memory';
  client: 'smtpwire' | 'nodemailer';
  port: number;
  file: string;
}

/** What a worker prints (one JSON line). CPU and RSS are the worker process's own. */
export interface Measurement {
  messagesPerSecond: number;
  cpuSecondsPer1000: number | null;
  peakRssMiB: number | null;
  failed: number;
  seconds: number;
  p50?: number;
  p99?: number;
}

const FROM = 'bench@smtpwire.example';
const TO = 'sink@smtpwire.example';
/** Sends in flight per connection for every client, so the comparison is like for like. */
const WINDOW = 16;

async function nodemailerLoad(job: ThroughputJob, messages: number): Promise<Measurement> {
  const transport = createTransport({
    pool: true,
    host: '127.0.0.1',
    port: job.port,
    secure: false,
    ignoreTLS: true,
    maxConnections: job.connections,
    maxMessages: Infinity,
  });
  const content = messageContent(job.size);
  let started = 0;
  let failed = 0;
  const latencies: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (started < messages) {
      started++;
      const t = performance.now();
      try {
        // nodemailer builds the MIME per send too: the same work as smtpwire's sendMessage.
        await transport.sendMail({
          from: FROM,
          to: TO,
          subject: content.subject,
          text: content.textBody,
          ...(content.attachments ? { attachments: content.attachments } : {}),
        });
      } catch {
        failed++;
      }
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: job.connections * WINDOW }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  transport.close();
  latencies.sort((a, b) => a - b);
  return {
    messagesPerSecond: messages / seconds,
    cpuSecondsPer1000: ((cpu.user + cpu.system) / 1e6 / messages) * 1000,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    failed,
    seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

/** Postfix's smtp-source under /usr/bin/time: no pipelining, `-d` keeps each session for many messages. */
function smtpSource(job: ThroughputJob): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const args = [
      '-f',
      '%e %U %S %M',
      '/usr/sbin/smtp-source',
      '-d',
      '-s',
      String(job.connections),
      '-m',
      String(job.messages),
      '-l',
      String(job.size),
      '-f',
      FROM,
      '-t',
      TO,
      `127.0.0.1:${job.port}`,
    ];
    // Wall time from here (/usr/bin/time's %e has a 10 ms resolution); CPU and RSS from /usr/bin/time.
    const t0 = performance.now();
    const child = spawn('/usr/bin/time', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      const m = /([\d.]+) ([\d.]+) ([\d.]+) (\d+)\s*$/.exec(err.trim());
      if (code !== 0 || !m) return reject(new Error(`smtp-source failed (${code}): ${err}`));
      const wall = (performance.now() - t0) / 1000;
      const [user, sys, rssKb] = [Number(m[2]), Number(m[3]), Number(m[4])];
      resolve({
        messagesPerSecond: job.messages / wall,
        cpuSecondsPer1000: ((user + sys) / job.messages) * 1000,
        peakRssMiB: rssKb / 1024,
        failed: 0,
        seconds: wall,
      });
    });
  });
}

async function throughput(job: ThroughputJob): Promise<Measurement> {
  if (job.client === 'smtp-source') return smtpSource(job);
  if (job.client === 'nodemailer') {
    await nodemailerLoad(job, job.warmup);
    return nodemailerLoad(job, job.messages);
  }
  const r = await runBench({
    host: '127.0.0.1',
    port: job.port,
    encryption: 'none',
    connections: job.connections,
    workers: job.workers ?? 0,
    messages: job.messages,
    warmupMessages: job.warmup,
    size: job.size,
    window: WINDOW,
    api: job.client === 'smtpwire-raw' ? 'raw' : 'message',
  });
  return {
    messagesPerSecond: r.rate.achieved ?? 0,
    cpuSecondsPer1000: r.cpuSecondsPer1000,
    peakRssMiB: r.peakRssMiB,
    failed: r.failed,
    seconds: r.seconds,
    p50: r.latency.p50,
    p99: r.latency.p99,
  };
}

/** One message with one big attachment read from a file (streamed by both clients). */
async function memory(job: MemoryJob): Promise<Measurement> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let failed = 0;
  if (job.client === 'smtpwire') {
    const handler = new SmtpProtocolHandler({
      hostname: '127.0.0.1',
      port: job.port,
      encryption: 'none',
      poolSize: 1,
      fromAddress: FROM,
      retryPolicy: { maxRetries: 0 },
      limits: { maxAttachmentSize: Number.MAX_SAFE_INTEGER, maxTotalAttachmentSize: Number.MAX_SAFE_INTEGER },
    });
    const r = await handler.sendMessage({
      toAddresses: [TO],
      subject: 'big',
      textBody: 'see attachment',
      attachments: [{ filename: 'big.bin', path: job.file }],
    });
    if (r.status !== 'success') {
      failed = 1;
      process.stderr.write(`smtpwire: ${r.status} ${r.smtpError}\n`);
    }
    await handler.close();
  } else {
    const transport = createTransport({ host: '127.0.0.1', port: job.port, secure: false, ignoreTLS: true });
    try {
      await transport.sendMail({
        from: FROM,
        to: TO,
        subject: 'big',
        text: 'see attachment',
        attachments: [{ filename: 'big.bin', path: job.file }],
      });
    } catch (err) {
      failed = 1;
      process.stderr.write(`nodemailer: ${(err as Error).message}\n`);
    }
    transport.close();
  }
  const cpu = process.cpuUsage(cpu0);
  const seconds = (performance.now() - t0) / 1000;
  return {
    messagesPerSecond: 1 / seconds,
    cpuSecondsPer1000: ((cpu.user + cpu.system) / 1e6) * 1000,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    failed,
    seconds,
  };
}

const job = JSON.parse(process.argv[2] ?? '{}') as ThroughputJob | MemoryJob;
const result = job.kind === 'memory' ? await memory(job) : await throughput(job);
process.stdout.write(`${JSON.stringify(result)}\n`);
