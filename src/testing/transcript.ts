/** Human-readable dialogue of a recorded session, for failure messages and debugging. */
import { escapeTerminalText } from '../util/terminal-text.js';
import type { SessionRecord } from './records.js';

/**
 * Interleave a session's received lines (`C: `) and sent replies (`S: `) in time order, one
 * protocol line per output line. Message bodies are not included (see `session.messages`). Control
 * characters in a line (a client under test may send any) are escaped: the transcript is printed to a terminal.
 *
 * @example
 * ```ts
 * expect(server.messages, formatTranscript(server.sessions[0]!)).toHaveLength(1);
 * ```
 */
export function formatTranscript(session: SessionRecord): string {
  const entries: { at: number; order: number; lines: string[] }[] = [];
  let order = 0;
  for (const c of session.commands)
    entries.push({ at: c.at, order: order++, lines: [`C: ${escapeTerminalText(c.line)}`] });
  for (const r of session.replies) {
    const lines = r.text
      .replace(/\r?\n$/, '')
      .split(/\r?\n/)
      .map((l) => `S: ${escapeTerminalText(l)}`);
    entries.push({ at: r.at, order: order++, lines });
  }
  entries.sort((a, b) => a.at - b.at || a.order - b.order);
  return entries.flatMap((e) => e.lines).join('\n');
}
