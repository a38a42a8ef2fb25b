/**
 * The outbox's optional peers (ioredis, redis, pg), each loaded with `import()` on first use, so `import
 * 'smtpwire'` never reaches them. One load per package; a failed one is tried again on the next call.
 */
import { InvalidArgumentError } from '../errors.js';

/**
 * A loader for `specifier`. Missing, it fails with InvalidArgumentError (field `connection`) saying `why`
 * the package is needed and `npm install <specifier>`. `pick` takes the module's part the caller uses
 * (default: its default export, else the namespace).
 */
export function optionalPeer<T>(
  specifier: string,
  why: string,
  pick: (mod: Record<string, unknown>) => unknown = (mod) => mod.default ?? mod,
): () => Promise<T> {
  let loading: Promise<T> | null = null;
  return () => {
    loading ??= import(specifier).then(
      (mod) => pick(mod as Record<string, unknown>) as T,
      (err: unknown) => {
        loading = null;
        throw new InvalidArgumentError(`connection: ${why} (npm install ${specifier}): ${(err as Error).message}`, {
          field: 'connection',
          cause: err,
        });
      },
    );
    return loading;
  };
}
