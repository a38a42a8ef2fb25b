/**
 * `conform()`: one entry for both scans. With `domain` it runs the domain scan (domain/), otherwise
 * the one-server scan (server.ts). Kept apart from both so that the domain scan, which runs the
 * server scan per MX address, does not import its own caller.
 */
import { conformDomain } from './domain/domain.js';
import type { ConformDomainOptions, ConformDomainReport } from './domain/types.js';
import { conformServer } from './server.js';
import type { ConformOptions, ConformReport } from './types.js';

export { CONFORM_CHECK_LIST, CONFORM_CHECKS, type ConformCheckInfo } from './server.js';

/**
 * Runs the conformance checks against one server (or, with `domain`, scans a domain's MX hosts)
 * and reports each with its evidence. Never throws for what the server does: an unreachable
 * server is a report with `server.error` and every check skipped.
 * @throws InvalidArgumentError for an unknown option key or an unusable value.
 */
export async function conform(options: ConformDomainOptions): Promise<ConformDomainReport>;
export async function conform(options: ConformOptions): Promise<ConformReport>;
export async function conform(
  options: ConformOptions | ConformDomainOptions,
): Promise<ConformReport | ConformDomainReport> {
  if (options !== null && typeof options === 'object' && 'domain' in options) return conformDomain(options);
  return conformServer(options);
}
