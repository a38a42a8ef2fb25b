/**
 * Every key list of option-keys.ts is tied to the interface it mirrors, in both directions, at compile
 * time (`npm test` runs tsc over test/): a key added to an interface and not to its list, or listed and
 * not in the interface, fails the build here. The runtime half checks each list refuses what is not in it.
 */
import { describe, expect, it } from 'vitest';
import type { ProbeChecks, ProbeOptions } from '../../src/conform/probe.js';
import type { ConformOptions } from '../../src/conform/types.js';
import {
  CONFORM_OPTION_KEYS,
  CONNECTION_OPTION_KEYS,
  HANDLER_OPTION_KEYS,
  POOL_OPTION_KEYS,
  POOL_PARAM_KEYS,
  PROBE_CHECKS_KEYS,
  PROBE_OPTION_KEYS,
} from '../../src/option-keys.js';
import type { PoolConnectionParams } from '../../src/pool/pool-key.js';
import type { SmtpConnectionPoolOptions } from '../../src/pool/pool-options.js';
import type { SmtpProtocolHandlerOptions } from '../../src/send/handler.js';
import type { SmtpConnectionOptions } from '../../src/transport/connection-types.js';

/** `true` only when the list and the interface's keys are the same set; otherwise the keys that differ. */
type Same<List extends readonly string[], T> = [Exclude<keyof T, List[number]>] extends [never]
  ? [Exclude<List[number], keyof T>] extends [never]
    ? true
    : { listedButNotInInterface: Exclude<List[number], keyof T> }
  : { inInterfaceButNotListed: Exclude<keyof T, List[number]> };

const tied: {
  connection: Same<typeof CONNECTION_OPTION_KEYS, SmtpConnectionOptions>;
  pool: Same<typeof POOL_OPTION_KEYS, SmtpConnectionPoolOptions>;
  poolParams: Same<typeof POOL_PARAM_KEYS, PoolConnectionParams>;
  handler: Same<typeof HANDLER_OPTION_KEYS, SmtpProtocolHandlerOptions>;
  probe: Same<typeof PROBE_OPTION_KEYS, ProbeOptions>;
  probeChecks: Same<typeof PROBE_CHECKS_KEYS, ProbeChecks>;
  conform: Same<typeof CONFORM_OPTION_KEYS, ConformOptions>;
} = { connection: true, pool: true, poolParams: true, handler: true, probe: true, probeChecks: true, conform: true };

describe('option key lists', () => {
  it('are tied to their interfaces (compile time) and hold no duplicates', () => {
    expect(Object.values(tied).every((v) => v === true)).toBe(true);
    for (const list of [
      CONNECTION_OPTION_KEYS,
      POOL_OPTION_KEYS,
      POOL_PARAM_KEYS,
      HANDLER_OPTION_KEYS,
      PROBE_OPTION_KEYS,
      PROBE_CHECKS_KEYS,
      CONFORM_OPTION_KEYS,
    ])
      expect(new Set(list).size).toBe(list.length);
  });
});
