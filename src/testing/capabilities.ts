/**
 * The EHLO keywords the scripted server advertises: its default extensions, STARTTLS and AUTH as the
 * session's state allows, or the test's own `capabilities` list or function.
 */
import type { Settings } from './session-types.js';

/** The EHLO keywords for a session's current state: TLS active or not. */
export function capabilities(s: Settings, tlsActive: boolean): string[] {
  const extensions = [
    'PIPELINING',
    '8BITMIME',
    'SMTPUTF8',
    `SIZE ${s.maxMessageSize}`,
    'ENHANCEDSTATUSCODES',
    'CHUNKING',
  ];
  // STARTTLS and AUTH follow the session's state (tls configured and not active yet; users set).
  const stateful: string[] = [];
  if (s.secureContext !== null && !s.implicitTls && !tlsActive) stateful.push('STARTTLS');
  if (s.users !== null && (!s.authRequiresTls || tlsActive)) stateful.push(`AUTH ${s.authMechanisms.join(' ')}`);
  const given = s.capabilities;
  if (given === undefined) return [...extensions, ...stateful];
  if (typeof given === 'function') return given([...extensions, ...stateful]);
  // An array replaces the extensions; STARTTLS and AUTH still follow `tls` and `users` (a server
  // configured with TLS that silently stopped offering it was a trap), unless the array names them.
  const keyword = (k: string): string => k.split(' ')[0]!.toUpperCase();
  const named = new Set(given.map(keyword));
  return [...given, ...stateful.filter((k) => !named.has(keyword(k)))];
}
