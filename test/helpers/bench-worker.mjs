// The bench's worker thread from the TypeScript source: registers tsx in this thread, then runs
// src/cli/bench/worker.ts (its workerData passes through). Named by SMTPWIRE_BENCH_WORKER (vitest.config.ts).
import { register } from 'tsx/esm/api';

register();
await import(new URL('../../src/cli/bench/worker.ts', import.meta.url).href);
