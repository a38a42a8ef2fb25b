/**
 * Messages per second over ONE SmtpConnection, with and without PIPELINING, against a local sink.
 * `npx tsx bench/connection.ts [--messages N] [--size BYTES] [--sink postfix|node]`. Prints figures;
 * it is not a test and asserts nothing about speed.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { SmtpConnection } from '../src/index.js';
import { startSink } from './sink.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '5000' },
    size: { type: 'string', default: '1024' },
    window: { type: 'string', default: '64' },
    sink: { type: 'string', default: 'postfix' },
  },
});
const messages = Number(values.messages);
const size = Number(values.size);
const window = Number(values.window);

function message(i: number): Buffer {
  const head = `From: a@bench.example\r\nTo: b@bench.example\r\nSubject: bench ${i}\r\nMessage-ID: <${i}.${Date.now()}@bench.example>\r\n\r\n`;
  const line = 'abcdefghijklmnopqrstuvwxyz0123456789 the quick brown fox jumps over\r\n';
  let body = '';
  while (head.length + body.length < size) body += line;
  return Buffer.from(`${head + body.slice(0, Math.max(0, size - head.length - 2))}\r\n`);
}

async function run(port: number, pipelining: boolean): Promise<{ rate: number; cpuMsPer1000: number }> {
  const conn = new SmtpConnection({ host: '127.0.0.1', port, encryption: 'none', pipelining });
  await conn.connect();
  const bodies = Array.from({ length: 16 }, (_, i) => message(i));
  const envelope = { from: 'a@bench.example', to: ['b@bench.example'] };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  let failed = 0;
  // Keep `window` sends queued on the connection: with PIPELINING the next MAIL follows the last dot.
  const worker = async (): Promise<void> => {
    while (next < messages) {
      const i = next++;
      const outcome = await conn.sendMail(envelope, bodies[i % bodies.length]!);
      if (!outcome.delivered) failed++;
    }
  };
  await Promise.all(Array.from({ length: pipelining ? window : 1 }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await conn.close();
  if (failed) console.log(`  (${failed} not delivered)`);
  return { rate: messages / seconds, cpuMsPer1000: ((cpu.user + cpu.system) / 1000 / messages) * 1000 };
}

const sink = await startSink({ prefer: values.sink === 'node' ? 'node' : 'postfix' });
try {
  console.log(`smtpwire one-connection benchmark: ${messages} messages of ${size} B against ${sink.name}`);
  console.log(
    `node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${os.platform()} ${os.arch()}`,
  );
  await run(sink.port, true); // warm-up
  for (const pipelining of [false, true]) {
    const r = await run(sink.port, pipelining);
    console.log(
      `  pipelining ${pipelining ? 'on ' : 'off'}: ${r.rate.toFixed(0).padStart(7)} msg/s   client CPU ${(r.cpuMsPer1000 / 1000).toFixed(3)} s per 1,000 messages`,
    );
  }
} finally {
  await sink.stop();
}
