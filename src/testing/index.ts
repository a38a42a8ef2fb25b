/**
 * `smtpwire/testing`: a scriptable, recording SMTP server and the test certificates, for testing
 * smtpwire itself and any code that sends mail. Zero dependencies: `node:net`, `node:tls`,
 * `node:crypto` only.
 *
 * @example
 * ```ts
 * import { startScriptedServer } from 'smtpwire/testing';
 * const server = await startScriptedServer({ script: [{ on: 'DATA_END', action: 'drop' }] });
 * ```
 */

export type { TestCertificates } from './certs.js';
export { testCertificates } from './certs.js';
export { garbage, longLine } from './faults.js';
export type { BodyFacts } from './message-body.js';
export { bodyFacts, DataTerminatorScanner, unstuffDataBody } from './message-body.js';
export type { ServerQuirks } from './quirks.js';
export { EARLY_TALKER_REPLY, LenientTerminatorScanner } from './quirks.js';
export type { CommandRecord, MessageRecord, ReplyRecord, SessionRecord, SmtpParams } from './records.js';
export type { CommandHook, ScriptAction, ScriptActionKind, ScriptEvent, ScriptRule, SessionInfo } from './script.js';
export { DEFAULT_SPLIT_DELAY, RuleCounters } from './script.js';
export type { ScriptedServerOptions, ScriptedTlsOptions } from './scripted-server.js';
export {
  DEFAULT_AUTH_MECHANISMS,
  DEFAULT_MAX_LINE_LENGTH,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_MAX_RECIPIENTS,
  ScriptedSmtpServer,
  startScriptedServer,
} from './scripted-server.js';
export { formatTranscript } from './transcript.js';
export { waitFor } from './wait-for.js';
