import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests open real sockets; two cores do not gain from many workers.
    maxWorkers: 2,
    benchmark: { include: ['bench/micro/**/*.bench.ts'] },
    // The bench's worker threads from the TypeScript source (see src/cli/bench/run.ts).
    env: { SMTPWIRE_BENCH_WORKER: fileURLToPath(new URL('./test/helpers/bench-worker.mjs', import.meta.url)) },
  },
});
