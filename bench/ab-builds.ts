/**
 * The builds an A/B bench compares: `name=dir,name=dir` (compiled src/ directories) from its argument, or this
 * checkout compiled once; and the order of its rounds, alternating so a drift in the machine's load falls on both.
 */
import { resolve } from 'node:path';
import { buildForWorkers } from '../test/helpers/outbox-workers.js';

export interface Builds {
  list: [name: string, dir: string][];
  /** Removes the build this made (none when the argument named them). */
  remove: () => Promise<void>;
}

export async function buildsFrom(arg: string | undefined): Promise<Builds> {
  if (arg)
    return {
      list: arg.split(',').map((part) => {
        const [name, dir] = part.split('=', 2) as [string, string];
        return [name, resolve(dir)];
      }),
      remove: async () => {},
    };
  const own = await buildForWorkers();
  return { list: [['src', own.dir]], remove: own.remove };
}

/** Round `i`'s order: as given on even rounds, reversed on odd ones. */
export function roundOrder<T>(list: readonly T[], i: number): readonly T[] {
  return i % 2 === 0 ? list : [...list].reverse();
}
