/**
 * The CLI's one door into the library: the public API of `src/index.ts`, and nothing else.
 * `probe` is re-exported from its module until `src/index.ts` exports it too (an explicit
 * re-export of the same binding wins over `export *`, so this stays correct after that).
 */
export * from '../index.js';
export { probe, type ProbeReport, type ProbeOptions, type ProbeCheck, type ProbeCheckStatus } from '../probe.js';
