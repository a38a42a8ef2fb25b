/**
 * nodemailer's `logger` / `debug` options: `logger: true` prints to the console, a bunyan-style
 * object (`info(data, message, ...args)` …) receives every entry; `debug: true` adds the protocol
 * log, one entry per line as the engine's transcript gives it (AUTH secrets already redacted there).
 */
import { format } from 'node:util';
import type { TranscriptEntry } from '../../transport/connection.js';
// The one escaper for server text shown to a person (control, C1 and bidi characters).
import { escapeTerminalText as printable } from '../../util/terminal-text.js';
import type { Logger } from './types.js';

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
const LEVELS: readonly Level[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

export interface CompatLogger {
  readonly enabled: boolean;
  readonly debug: boolean;
  log(level: Level, data: Record<string, unknown>, message: string, ...args: unknown[]): void;
  transcript(entry: TranscriptEntry, cid: string): void;
}

function consoleLogger(component: string): Pick<Logger, Level> {
  const write =
    (level: Level) =>
    (data: unknown, message?: unknown, ...args: unknown[]): void => {
      const text = printable(format(String(message ?? ''), ...args));
      const cid = (data as { cid?: string } | null)?.cid;
      // nodemailer's console format: [time] LEVEL [component] [cid] message
      console.error(
        `[${new Date().toISOString()}] ${level.toUpperCase()} [${component}]${cid ? ` [${cid}]` : ''} ${text}`,
      );
    };
  return Object.fromEntries(LEVELS.map((l) => [l, write(l)])) as Pick<Logger, Level>;
}

/** The logger of a transport's options (`logger`, `debug`, `component`). */
export function getLogger(options: { logger?: unknown; debug?: unknown; component?: unknown }): CompatLogger {
  const component = typeof options.component === 'string' ? options.component : 'smtp-transport';
  const given = options.logger;
  const target: Partial<Pick<Logger, Level>> | null =
    given === true ? consoleLogger(component) : given && typeof given === 'object' ? (given as Logger) : null;
  const debug = options.debug === true && target !== null;
  return {
    enabled: target !== null,
    debug,
    log(level, data, message, ...args) {
      if (target === null) return;
      const fn = target[level] ?? LEVELS.map((l) => target[l]).find((f) => typeof f === 'function');
      fn?.call(target, { component, ...data }, message, ...args);
    },
    transcript(entry, cid) {
      if (!debug) return;
      this.log(
        'debug',
        { tnx: entry.direction, cid },
        '%s',
        `${entry.direction === 'client' ? 'C:' : 'S:'} ${printable(entry.line)}`,
      );
    },
  };
}
