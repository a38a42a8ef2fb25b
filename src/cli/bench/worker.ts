/**
 * One `smtpwire bench --workers N` thread: builds its load (handler, connections, message) from
 * `workerData`, says `ready`, starts at the clock time the main thread gives, reports progress and
 * posts its {@link LoadPart}. Started by `run.ts`; never imported by the library.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type LoadOptions, prepareLoad } from './load.js';
import type { WorkerMessage } from './run.js';

const port = parentPort;
if (port === null) throw new Error('bench/worker.ts runs as a worker thread only');
const post = (m: WorkerMessage): void => port.postMessage(m);
try {
  const options = workerData as LoadOptions;
  const prepared = await prepareLoad({
    ...options,
    ...(options.progressMs === undefined ? {} : { onProgress: (c) => post({ type: 'progress', ...c }) }),
  });
  port.once('message', (m: { type: 'start'; startAt: number; origin: number }) => {
    prepared.run(m.startAt, m.origin).then(
      (part) => post({ type: 'done', part }),
      (err: unknown) => post({ type: 'error', message: (err as Error)?.message ?? String(err) }),
    );
  });
  post({ type: 'ready' });
} catch (err) {
  post({ type: 'error', message: (err as Error)?.message ?? String(err) });
}
