/**
 * The types a scripted-server session shares with the modules it delegates to (capabilities.ts,
 * transaction.ts) and with the server that creates it: kept here so none of them imports session.ts.
 */
import type * as tls from 'node:tls';
import type { ServerQuirks } from './quirks.js';
import type { MessageRecord } from './records.js';
import type { CommandHook, RuleCounters, ScriptRule } from './script.js';

/** Resolved options, defaults applied. */
export interface Settings {
  host: string;
  port: number;
  hostname: string;
  greeting: readonly string[];
  capabilities: readonly string[] | ((defaults: string[]) => string[]) | undefined;
  secureContext: tls.SecureContext | null;
  requestCert: boolean;
  implicitTls: boolean;
  users: Readonly<Record<string, string>> | null;
  authMechanisms: readonly string[];
  requireAuth: boolean;
  requireTls: boolean;
  authRequiresTls: boolean;
  /** PBKDF2 iterations the SCRAM server asks for. */
  scramIterations: number;
  /** Speak LMTP (RFC 2033): LHLO, and one reply per accepted recipient after the data. */
  lmtp: boolean;
  maxMessageSize: number;
  maxLineLength: number;
  maxRecipients: number;
  onCommand: CommandHook | undefined;
  /** Keep commands, replies and message bodies in the records (false for a long-running sink). */
  record: boolean;
  /** Deliberate non-conformances (quirks.ts); empty by default. */
  quirks: ServerQuirks;
}

/** What a session needs from its server. */
export interface SessionHost {
  script(): readonly ScriptRule[];
  counters: RuleCounters;
  nextQueueId(): string;
  message(m: MessageRecord): void;
  closed(): void;
}

/** The outcome of {@link Session.respond}. */
export interface Answer {
  /** The reply written, or null when none was (silent, drop, closed). */
  sent: string | null;
  /** Its code (first three bytes), 0 when none or not numeric. */
  code: number;
}
