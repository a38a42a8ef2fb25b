/** The CLI's one door into the library: the public API of `src/index.ts`, and nothing else. */
export * from '../index.js';
