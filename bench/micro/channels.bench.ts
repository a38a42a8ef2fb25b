/**
 * Micro-benchmark of what the diagnostics channels cost a message when nobody subscribes
 * (`npx vitest bench bench/micro/channels.bench.ts`): the `hasSubscribers` guards a 1-recipient
 * `sendRaw` passes (3 tracing channels, 8 plain ones), against the same loop without them. A guard
 * that is false builds no payload, so this is all the idle channels cost; compare it with the tens
 * of µs a message costs (bench/channels.ts).
 */
import { bench, describe } from 'vitest';
import { channels } from '../../src/util/channels.js';

/** Results kept somewhere, so the loops are not optimised away. */
const out = { n: 0 };
const MESSAGES = 1000;

describe('per message, no subscriber', () => {
  bench(`the guards of ${MESSAGES} sendRaw calls (11 checks each)`, () => {
    let n = 0;
    for (let i = 0; i < MESSAGES; i++) {
      if (channels.send.hasSubscribers) n++;
      if (channels.sendPrepared.hasSubscribers) n++;
      if (channels.attempt.hasSubscribers) n++;
      if (channels.poolAcquire.hasSubscribers) n++;
      if (channels.reply.hasSubscribers) n++;
      if (channels.reply.hasSubscribers) n++;
      if (channels.reply.hasSubscribers) n++;
      if (channels.reply.hasSubscribers) n++;
      if (channels.transactionEnd.hasSubscribers) n++;
      if (channels.poolRelease.hasSubscribers) n++;
      if (channels.transcript.hasSubscribers) n++;
      n += i & 1;
    }
    out.n += n;
  });

  bench(`the same loop without them`, () => {
    let n = 0;
    for (let i = 0; i < MESSAGES; i++) n += i & 1;
    out.n += n;
  });
});
