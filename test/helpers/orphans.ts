import type { ChildProcess } from 'node:child_process';

/** Children to signal if the test process exits first: one process 'exit' listener for all of them. */
const live = new Map<ChildProcess, NodeJS.Signals>();
let listening = false;

/** `child` gets `signal` should the test process exit before it (an aborted run); forgotten once it exits. */
export function killOnExit(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!listening) {
    listening = true;
    process.once('exit', () => {
      for (const [c, s] of live) c.kill(s);
    });
  }
  live.set(child, signal);
  child.once('exit', () => live.delete(child));
}
