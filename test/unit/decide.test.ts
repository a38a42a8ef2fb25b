/**
 * send/decide.ts directly: the README's "Result rules" table, row by row, for SMTP and LMTP, first and later
 * attempts; then properties over random mixes of recipient fates (bounded, seeded).
 */
import { describe, expect, it } from 'vitest';
import { SmtpDeliveryStatus as S } from '../../src/enums.js';
import { AbortError, ConnectionError, InvalidArgumentError } from '../../src/errors.js';
import type { Reply } from '../../src/protocol/reply.js';
import {
  type AttemptOutcome,
  type DecideContext,
  decide,
  decideEach,
  initialState,
  type SendState,
} from '../../src/send/decide.js';
import { DEFAULT_RETRY_POLICY } from '../../src/send/retry.js';
import type { MailOutcome, RecipientRejection } from '../../src/transport/outcome.js';

const reply = (code: number, text = 'text'): Reply => ({ code, enhanced: null, lines: [text] });
const ctx = (over: Partial<DecideContext> = {}): DecideContext => ({
  policy: DEFAULT_RETRY_POLICY,
  maxAttempts: 4,
  retry: true,
  messageId: '<m@x>',
  asGiven: (w) => w,
  now: () => new Date(0),
  ...over,
});
const rej = (recipient: string, code: number): RecipientRejection => ({ recipient, reply: reply(code) });

function smtp(
  stage: MailOutcome['stage'],
  final: number,
  accepted: string[],
  rejected: RecipientRejection[] = [],
): AttemptOutcome {
  return {
    kind: 'replies',
    outcome: {
      delivered: stage === 'final' && final < 300,
      stage,
      reply: reply(final),
      accepted,
      rejected,
      via: stage === 'final' ? 'DATA' : null,
      bytesSent: 0,
      timings: { mail: 0, rcpt: 0, data: 0, body: 0, final: 0 },
    },
  };
}

/** LMTP after the data: `replies` are the per-recipient replies; `atRcpt` refused before the data. */
function lmtp(replies: [string, number][], atRcpt: RecipientRejection[] = []): AttemptOutcome {
  const per = replies.map(([r, c]) => rej(r, c));
  const ok = per.filter((r) => r.reply.code < 300);
  const bad = per.filter((r) => r.reply.code >= 300);
  return {
    kind: 'replies',
    outcome: {
      delivered: ok.length > 0,
      stage: 'final',
      reply: (ok.at(-1) ?? bad[0])!.reply,
      accepted: ok.map((r) => r.recipient),
      rejected: [...atRcpt, ...bad],
      via: 'DATA',
      bytesSent: 0,
      timings: { mail: 0, rcpt: 0, data: 0, body: 0, final: 0 },
      recipientReplies: per,
    },
  };
}

function error(
  err: Error,
  accepted: string[] | null,
  rejected: RecipientRejection[] = [],
  confirmed: RecipientRejection[] = [],
): AttemptOutcome {
  return {
    kind: 'error',
    error: err as never,
    accepted,
    rejected,
    confirmed,
    nothingSent: err instanceof InvalidArgumentError,
  };
}
const lostAfterDot = () => new ConnectionError('lost', { messageHandedOver: true });
const lostBeforeDot = () => new ConnectionError('lost', { messageHandedOver: false });

const AB = ['a@x', 'b@x'];

describe('decide: the README result rules, row by row', () => {
  it('SMTP 250 to the dot: SUCCESS, every RCPT-accepted recipient delivered; RCPT refusals named', () => {
    const { result, next } = decide(smtp('final', 250, ['a@x'], [rej('b@x', 550)]), initialState(AB), ctx());
    expect(next).toBeNull();
    expect(result).toMatchObject({ status: S.SUCCESS, deliveredRecipients: ['a@x'], isRetryable: false });
    expect(result.recipientFailures).toEqual({ 'b@x': '550 text' });
    expect(result.smtpError).toBeNull();
    expect(result.sentAt).toEqual(new Date(0));
  });

  for (const code of [451, 452, 421])
    it(`SMTP ${code} to the dot: nothing delivered; retried to all; out of attempts TEMP_FAILED, retryable`, () => {
      const first = decide(smtp('final', code, AB), initialState(AB), ctx());
      expect(first.next?.open).toEqual(AB);
      expect(first.result).toMatchObject({ status: S.TEMP_FAILED, deliveredRecipients: [], isRetryable: true });
      // No per-recipient refusal: recipientFailures stays empty, the reply is the result's.
      expect(first.result.recipientFailures).toEqual({});
      const lastOne = decide(smtp('final', code, AB), { ...first.next!, attempt: 3 }, ctx());
      expect(lastOne.next).toBeNull();
      expect(lastOne.result).toMatchObject({ status: S.TEMP_FAILED, isRetryable: true, retryCount: 3 });
      expect(
        decide(smtp('final', code, AB), initialState(AB), ctx({ maxAttempts: 1, retry: false })).result.status,
      ).toBe(S.RETRY);
    });

  it('SMTP 554 to the dot: FAILED; 550 to MAIL: REJECTED; every recipient refused at RCPT: REJECTED', () => {
    expect(decide(smtp('final', 554, AB), initialState(AB), ctx()).result.status).toBe(S.FAILED);
    expect(decide(smtp('mail', 550, []), initialState(AB), ctx()).result.status).toBe(S.REJECTED);
    const rcpt = decide(smtp('rcpt', 550, [], [rej('a@x', 550), rej('b@x', 551)]), initialState(AB), ctx());
    expect(rcpt.result.status).toBe(S.REJECTED);
    expect(rcpt.next).toBeNull();
  });

  it('451 to MAIL or DATA: retried to every open recipient', () => {
    expect(decide(smtp('mail', 451, []), initialState(AB), ctx()).next?.open).toEqual(AB);
    expect(decide(smtp('data', 451, AB), initialState(AB), ctx()).next?.open).toEqual(AB);
  });

  it('4xx at RCPT for one, 250 to the dot: SUCCESS now, a follow-up to that one alone', () => {
    const first = decide(smtp('final', 250, ['a@x'], [rej('b@x', 450)]), initialState(AB), ctx());
    expect(first.next).toMatchObject({ attempt: 1, open: ['b@x'], delivered: ['a@x'] });
    expect(first.result).toMatchObject({ status: S.SUCCESS, pendingRecipients: ['b@x'], isRetryable: false });
    // The follow-up delivers: both delivered, nothing failed.
    const second = decide(smtp('final', 250, ['b@x']), first.next!, ctx());
    expect(second.next).toBeNull();
    expect(second.result).toMatchObject({ status: S.SUCCESS, deliveredRecipients: ['a@x', 'b@x'], retryCount: 1 });
    expect(second.result.recipientFailures).toEqual({});
  });

  it('a later attempt that fails for good after an earlier delivery: still SUCCESS (never FAILED), both named', () => {
    const first = decide(smtp('final', 250, ['a@x'], [rej('b@x', 450)]), initialState(AB), ctx());
    for (const later of [smtp('mail', 550, []), smtp('final', 554, ['b@x']), error(new AbortError('aborted'), null)]) {
      const { result, next } = decide(later, first.next!, ctx());
      expect(next).toBeNull();
      expect(result).toMatchObject({ status: S.SUCCESS, deliveredRecipients: ['a@x'], isRetryable: false });
      expect(Object.keys(result.recipientFailures)).toEqual(['b@x']);
      expect(result.smtpError).not.toBeNull();
    }
  });

  it('a mix of 550 and 450 at RCPT, nothing delivered: the 450 one retried alone; out of attempts TEMP_FAILED', () => {
    const first = decide(smtp('rcpt', 450, [], [rej('a@x', 550), rej('b@x', 450)]), initialState(AB), ctx());
    expect(first.next?.open).toEqual(['b@x']);
    const out = decide(smtp('rcpt', 450, [], [rej('b@x', 450)]), { ...first.next!, attempt: 3 }, ctx());
    expect(out.result).toMatchObject({ status: S.TEMP_FAILED, isRetryable: true, pendingRecipients: ['b@x'] });
    expect(out.result.recipientFailures).toEqual({ 'a@x': '550 text', 'b@x': '450 text' });
  });

  it('connection lost before the dot: retried; after the dot: UNKNOWN, never retried, every certain fact kept', () => {
    expect(decide(error(lostBeforeDot(), ['a@x']), initialState(AB), ctx()).next?.open).toEqual(AB);
    const { result, next } = decide(error(lostAfterDot(), ['a@x'], [rej('b@x', 550)]), initialState(AB), ctx());
    expect(next).toBeNull();
    expect(result).toMatchObject({ status: S.UNKNOWN, isRetryable: false, acceptedRecipients: ['a@x'] });
    // The 550 known before the dot is kept.
    expect(result.recipientFailures).toEqual({ 'b@x': '550 text' });
    expect(result.deliveredRecipients).toEqual([]);
  });

  it('LMTP: one delivered, one 452 after the data: SUCCESS with a follow-up to the 452 one alone', () => {
    const first = decide(
      lmtp([
        ['a@x', 250],
        ['b@x', 452],
      ]),
      initialState(AB),
      ctx(),
    );
    expect(first.next?.open).toEqual(['b@x']);
    expect(first.result).toMatchObject({ status: S.SUCCESS, deliveredRecipients: ['a@x'], isRetryable: false });
    // Retries exhausted: still SUCCESS for a@, b@ named pending; nothing invites a resend of the whole.
    const out = decide(lmtp([['b@x', 452]]), { ...first.next!, attempt: 3 }, ctx());
    expect(out.result).toMatchObject({
      status: S.SUCCESS,
      isRetryable: false,
      deliveredRecipients: ['a@x'],
      pendingRecipients: ['b@x'],
    });
    expect(out.result.recipientFailures).toEqual({ 'b@x': '452 text' });
  });

  it('LMTP: every recipient failed after the data: FAILED (permanent) or TEMP_FAILED (all transient)', () => {
    expect(
      decide(
        lmtp([
          ['a@x', 550],
          ['b@x', 552],
        ]),
        initialState(AB),
        ctx(),
      ).result.status,
    ).toBe(S.FAILED);
    const t = decide(
      lmtp([
        ['a@x', 451],
        ['b@x', 452],
      ]),
      initialState(AB),
      ctx({ maxAttempts: 1 }),
    );
    expect(t.result).toMatchObject({ status: S.TEMP_FAILED, isRetryable: true });
  });

  it('LMTP: the connection lost after one confirmation: UNKNOWN keeps the confirmed delivery', () => {
    const { result } = decide(error(lostAfterDot(), AB, [], [rej('a@x', 250)]), initialState(AB), ctx());
    expect(result).toMatchObject({ status: S.UNKNOWN, deliveredRecipients: ['a@x'], acceptedRecipients: AB });
  });

  it('a refused connection stops after refusedRetries; INVALID when the engine refused a value before writing', () => {
    const refused = new ConnectionError('refused', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) });
    const s1: SendState = { ...initialState(AB), attempt: 1 };
    expect(decide(error(refused, null), initialState(AB), ctx()).next).not.toBeNull();
    expect(decide(error(refused, null), s1, ctx()).next).toBeNull();
    const bad = decide(error(new InvalidArgumentError('bad'), null), initialState(AB), ctx());
    expect(bad.result.status).toBe(S.INVALID);
    expect(bad.next).toBeNull();
  });

  it('keys are the caller’s address forms; the state is never mutated', () => {
    const state = initialState(AB);
    const frozen = JSON.stringify(state);
    const { result } = decide(
      smtp('final', 250, ['a@x'], [rej('b@x', 550)]),
      state,
      ctx({ asGiven: (w) => w.toUpperCase() }),
    );
    expect(result.deliveredRecipients).toEqual(['A@X']);
    expect(Object.keys(result.recipientFailures)).toEqual(['B@X']);
    expect(JSON.stringify(state)).toBe(frozen);
  });
});

describe('decide: properties over random recipient fates (seeded)', () => {
  // A small LCG: the same 500 cases on every run.
  let seed = 23;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const CODES = [250, 450, 451, 452, 550, 552, 554];

  it('a resend is invited only when no one has the message; follow-ups go to pending recipients only', () => {
    for (let i = 0; i < 500; i++) {
      const n = 1 + rand(4);
      const rcpts = Array.from({ length: n }, (_, k) => `r${k}@x`);
      const lmtpMode = rand(2) === 0;
      const atRcpt = rcpts.filter(() => rand(3) === 0).map((r) => rej(r, CODES[1 + rand(6)]!));
      const past = rcpts.filter((r) => !atRcpt.some((x) => x.recipient === r));
      let attempt: AttemptOutcome;
      if (past.length === 0) attempt = smtp('rcpt', atRcpt[0]!.reply.code, [], atRcpt);
      else if (lmtpMode)
        attempt = lmtp(
          past.map((r) => [r, CODES[rand(CODES.length)]!] as [string, number]),
          atRcpt,
        );
      else {
        const kind = rand(4);
        attempt =
          kind === 0
            ? error(lostAfterDot(), past, atRcpt)
            : kind === 1
              ? error(lostBeforeDot(), past, atRcpt)
              : smtp('final', CODES[rand(CODES.length)]!, past, atRcpt);
      }
      const { result, next } = decide(attempt, initialState(rcpts), ctx());
      const hasIt = result.deliveredRecipients.length > 0 || result.status === S.UNKNOWN;
      if (hasIt) expect(result.isRetryable).toBe(false);
      if (result.isRetryable) expect([S.TEMP_FAILED, S.RETRY]).toContain(result.status);
      if (result.deliveredRecipients.length > 0 && result.status !== S.UNKNOWN) expect(result.status).toBe(S.SUCCESS);
      if (result.status === S.UNKNOWN) expect(next).toBeNull();
      for (const r of next?.open ?? []) expect(result.deliveredRecipients).not.toContain(r);
      for (const r of result.pendingRecipients) expect(result.deliveredRecipients).not.toContain(r);
      // Every recipient is accounted for once the message reached anyone.
      if (result.status === S.SUCCESS)
        for (const r of rcpts)
          expect(result.deliveredRecipients.includes(r) || r in result.recipientFailures).toBe(true);
    }
  });

  it('the fast path (every recipient delivered on the first attempt) says exactly what the general rule says', () => {
    for (let n = 1; n <= 5; n++) {
      const rcpts = Array.from({ length: n }, (_, k) => `R${k}@X.example`);
      const outcome = smtp('final', 250, rcpts);
      const c = ctx({ asGiven: (w) => w.toLowerCase() });
      const fast = decide(outcome, initialState(rcpts), c);
      const general = decideEach(outcome, initialState(rcpts), c);
      expect(fast.next).toBeNull();
      expect(general.next).toBeNull();
      expect(fast.result.toJSON()).toEqual(general.result.toJSON());
      expect(fast.result).toEqual(general.result);
    }
  });
});
