import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests open real sockets; two cores do not gain from many workers.
    maxWorkers: 2,
    benchmark: { include: ['bench/micro/**/*.bench.ts'] },
  },
});
