/**
 * After an `onBeforeHandOver` hook (the outbox's claim) the final write leaves at once, not at the end of the
 * event-loop turn (issue 24: a crash in between leaves a claim whose dot never left, a false UNKNOWN). The hook
 * schedules a 300 ms block of this thread for the end of the turn; the sink runs in a worker thread and stamps
 * the dot's arrival, so a dot held to the end of the turn would arrive ≥ 300 ms after the hook.
 */
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpProtocolHandler } from '../../src/index.js';

const BLOCK_MS = 300;

/** A discard SMTP sink (CommonJS, for `eval`) posting the wall-clock time each final dot arrives. */
const SINK = `
const { parentPort } = require('node:worker_threads');
const net = require('node:net');
const server = net.createServer((s) => {
  let buf = '';
  let data = false;
  s.write('220 sink\\r\\n');
  s.on('error', () => {});
  s.on('data', (chunk) => {
    const at = performance.timeOrigin + performance.now();
    buf += chunk.toString('latin1');
    let out = '';
    for (;;) {
      if (data) {
        const end = buf.indexOf('\\r\\n.\\r\\n');
        if (end < 0) break;
        buf = buf.slice(end + 5);
        data = false;
        parentPort.postMessage({ dotAt: at });
        out += '250 ok\\r\\n';
        continue;
      }
      const eol = buf.indexOf('\\r\\n');
      if (eol < 0) break;
      const verb = buf.slice(0, 4).toUpperCase();
      buf = buf.slice(eol + 2);
      if (verb === 'EHLO') out += '250-sink\\r\\n250 PIPELINING\\r\\n';
      else if (verb === 'DATA') { data = true; out += '354 go\\r\\n'; }
      else if (verb === 'QUIT') { s.end('221 bye\\r\\n'); return; }
      else out += '250 ok\\r\\n';
    }
    if (out) s.write(out);
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
`;

describe('the final write after an onBeforeHandOver hook', () => {
  let sink: Worker;
  let port: number;
  const dots: number[] = [];
  beforeAll(async () => {
    sink = new Worker(SINK, { eval: true });
    port = await new Promise<number>((resolve) =>
      sink.on('message', (m: { port?: number; dotAt?: number }) => {
        if (m.port !== undefined) resolve(m.port);
        if (m.dotAt !== undefined) dots.push(m.dotAt);
      }),
    );
  });
  afterAll(async () => {
    await sink?.terminate();
  });

  it('leaves at once, not held to the end of the event-loop turn', async () => {
    const handler = new SmtpProtocolHandler({ hostname: '127.0.0.1', port, encryption: 'none', poolSize: 1 });
    let hookDone = 0;
    let blocked = 0;
    try {
      const result = await handler.sendMessage({
        fromAddress: 'a@example.com',
        toAddresses: ['b@example.com'],
        subject: 'flush',
        textBody: 'x',
        onBeforeHandOver: async () => {
          await new Promise((r) => setTimeout(r, 5));
          // Runs in this turn's check phase, before a cork released by setImmediate would be.
          setImmediate(() => {
            const until = performance.now() + BLOCK_MS;
            while (performance.now() < until);
            blocked = BLOCK_MS;
          });
          hookDone = performance.timeOrigin + performance.now();
        },
      });
      expect(result.status).toBe('success');
    } finally {
      await handler.close();
    }
    expect(blocked).toBe(BLOCK_MS);
    expect(dots).toHaveLength(1);
    expect(dots[0]! - hookDone).toBeLessThan(BLOCK_MS / 2);
  });
});
