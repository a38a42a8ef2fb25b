/**
 * `smtpwire conform` on a terminal: one status line, rewritten as each check starts and ends, from the
 * `smtpwire:conform:check` diagnostics channel; cleared before the report is printed. Only our own
 * check ids and counts are shown (no server text), so nothing needs escaping.
 */
import diagnostics from 'node:diagnostics_channel';
import { CHANNEL_NAMES } from './api.js';
import type { CliIo } from './common.js';

interface CheckEvent {
  phase: 'start' | 'end';
  id: string;
  group: string;
  index: number;
  total: number;
  status?: string;
}

/** Shows progress on `io.stdout` until the returned function is called (which clears the line). */
export function showConformProgress(io: CliIo): () => void {
  const channel = diagnostics.channel(CHANNEL_NAMES.conformCheck);
  const counts: Record<string, number> = { pass: 0, warn: 0, fail: 0, skipped: 0 };
  // A pty without a size reports 0 columns.
  const width = Math.max(20, (io.stdout.columns || 80) - 1);
  const show = (text: string): void => void io.stdout.write(`\r\x1b[2K${text.slice(0, width)}`);
  const onMessage = (message: unknown): void => {
    const e = message as CheckEvent;
    if (e.phase === 'end' && e.status !== undefined) counts[e.status] = (counts[e.status] ?? 0) + 1;
    const done = e.phase === 'end' ? e.index + 1 : e.index;
    const tally = `pass ${counts.pass} · warn ${counts.warn} · fail ${counts.fail} · skipped ${counts.skipped}`;
    // The check first: on a narrow terminal the tally is what gets cut.
    show(`[${done}/${e.total}] ${e.phase === 'start' ? `running ${e.group}/${e.id}  ` : ''}${tally}`);
  };
  channel.subscribe(onMessage);
  return () => {
    channel.unsubscribe(onMessage);
    io.stdout.write('\r\x1b[2K');
  };
}
