/**
 * Memory benchmark of the MIME builder (not a test): streams a message with a 100 MiB file
 * attachment through a byte-counting sink and prints MB/s and peak RSS. Peak RSS should stay
 * flat (tens of MB above the baseline), whatever the attachment size.
 *
 *   npx tsx bench/mime-memory.ts [--size-mib 100]
 */

import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { buildMessage } from '../src/message/mime/index.js';

const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '100' } } });
const sizeMiB = Number(values['size-mib']);
const MiB = 1024 * 1024;

async function writeFile(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path);
  const block = randomBytes(MiB);
  for (let written = 0; written < bytes; written += block.length) {
    if (!out.write(block.subarray(0, Math.min(block.length, bytes - written)))) {
      await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

const dir = mkdtempSync(join(tmpdir(), 'smtpwire-bench-'));
try {
  const file = join(dir, 'big.bin');
  await writeFile(file, sizeMiB * MiB);
  global.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);

  const message = buildMessage({
    fromAddress: 'bench@example.com',
    toAddresses: ['sink@example.org'],
    subject: 'memory benchmark',
    textBody: 'A large attachment follows.',
    attachments: [{ filename: 'big.bin', path: file }],
  });
  let total = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      total += chunk.length;
      peak = Math.max(peak, process.memoryUsage().rss);
      done();
    },
  });
  const start = process.hrtime.bigint();
  await pipeline(message.stream(), sink);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  clearInterval(sampler);

  if (total !== message.size) throw new Error(`streamed ${total} bytes, size said ${message.size}`);
  const mb = (n: number): string => (n / MiB).toFixed(1);
  console.log(`node ${process.version}, ${process.platform}/${process.arch}`);
  console.log(`attachment      ${sizeMiB} MiB, message ${mb(total)} MiB (size exact: ${message.size})`);
  console.log(`throughput      ${(sizeMiB / seconds).toFixed(1)} MB/s of attachment (${seconds.toFixed(2)} s)`);
  console.log(`RSS baseline    ${mb(baseline)} MiB`);
  console.log(`RSS peak        ${mb(peak)} MiB (+${mb(peak - baseline)} MiB)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
