/**
 * The one runner of conform checks (`conform()` and its presets, `probe()` among them): each check in
 * its own context, bounded by its timeout and the run's budget, and one rule for a check that throws —
 * its verdict is `warn` with `inconclusive: …`, never `fail` (a fault of the run is not a finding about
 * the server).
 */

import { channels } from '../util/channels.js';
import { type Baseline, CheckContext, type CheckDef, type Resolved, type Verdict } from './context.js';
import type { ConformCheck, ConformSummary } from './types.js';

/** Limits of one run. */
export interface RunLimits {
  /** Absolute `performance.now()` after which no check starts. */
  budgetEnd: number;
  /** Longest run of one check, ms. */
  checkTimeout: number;
}

/**
 * Runs `defs` in order against a server already discovered (`baseline` null: discovery failed, and
 * every check is skipped with `noSession` as the reason).
 */
export async function runChecks(
  defs: readonly CheckDef[],
  options: Resolved,
  baseline: Baseline | null,
  limits: RunLimits,
  noSession: string,
): Promise<ConformCheck[]> {
  const checks: ConformCheck[] = [];
  const runLines: string[][] = [];
  for (const def of defs) {
    const t = performance.now();
    const progress = {
      host: options.host,
      port: options.port,
      id: def.id,
      group: def.group,
      index: checks.length,
      total: defs.length,
    };
    if (channels.conformCheck.hasSubscribers) channels.conformCheck.publish({ phase: 'start', ...progress });
    const base = { id: def.id, group: def.group, rfc: def.rfc, evidence: { sent: [], received: [] } };
    const skip = (reason: string): void => {
      checks.push({ ...base, status: 'skipped', reason, durationMs: 0 });
    };
    if (baseline === null) skip(`no session: ${noSession}`);
    else if (options.signal?.aborted) skip('aborted');
    else if (t >= limits.budgetEnd) skip('the run budget was used up before this check');
    else if (def.needs === 'rcpt' && options.rcpt === null) skip('sends mail: needs --rcpt (a mailbox you own)');
    else {
      const ctx = new CheckContext(options, baseline, Math.min(t + limits.checkTimeout, limits.budgetEnd), runLines);
      const verdict = await runBounded(def, ctx);
      ctx.close();
      // One line per reason: OpenSSL messages carry line breaks.
      const reason = verdict.reason.replace(/\s+/g, ' ').trim();
      checks.push({
        ...base,
        status: verdict.status,
        reason,
        evidence: ctx.evidence,
        durationMs: Math.round(performance.now() - t),
      });
    }
    if (channels.conformCheck.hasSubscribers) {
      const { status, durationMs } = checks[checks.length - 1]!;
      channels.conformCheck.publish({ phase: 'end', ...progress, status, durationMs });
    }
  }
  return checks;
}

/** Runs one check; a thrown error is an inconclusive warning, the deadline a hard stop. */
async function runBounded(def: CheckDef, ctx: CheckContext): Promise<Verdict> {
  let timer: NodeJS.Timeout | undefined;
  const hardStop = new Promise<never>((_, reject) => {
    // Reads already stop at the deadline; this catches anything else, a second later.
    timer = setTimeout(
      () => {
        ctx.close();
        reject(new Error('the check ran out of time'));
      },
      Math.max(0, ctx.deadline - performance.now()) + 1000,
    );
  });
  try {
    return await Promise.race([def.run(ctx), hardStop]);
  } catch (err) {
    return { status: 'warn', reason: `inconclusive: ${(err as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}

/** Counts per status and the overall verdict: `fail` if any check failed, else `warn` if any warned. */
export function summarize(checks: readonly Pick<ConformCheck, 'status'>[], durationMs: number): ConformSummary {
  const count = (s: ConformCheck['status']): number => checks.filter((c) => c.status === s).length;
  const fail = count('fail');
  const warn = count('warn');
  return {
    pass: count('pass'),
    warn,
    fail,
    skipped: count('skipped'),
    total: checks.length,
    status: fail > 0 ? 'fail' : warn > 0 ? 'warn' : 'pass',
    durationMs: Math.round(durationMs),
  };
}
