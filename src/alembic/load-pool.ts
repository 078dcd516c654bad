/**
 * A second thread for reading a long history: the main thread and one worker take chunks of files
 * in order from a shared counter, so they end together whatever each file costs. Measured on 2 CPUs
 * (`check`, Node 26, alternated with one thread): 10,000 files 1.94-1.97 -> 1.53-1.57 s with every
 * migration judged (memory unchanged, 167-193 MB) and 1.62 -> 1.33-1.36 s with --from (143-156 ->
 * 165-172 MB: the worker's heap and WASM instances); 30,000 files with every migration judged
 * 5.5-6.5 -> 3.8 s. At 2,000 files starting the worker (its modules, its parsers) costs what it saves
 * and 20 MB more, so short histories are read in one thread.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ParsedFile } from './scripts.js';

/** Histories shorter than this are read in one thread. */
export const LOAD_THREADS_MIN_FILES = 4000;
/** Files per claim: small enough to balance the two threads at the end, large enough to keep messages few. */
export const LOAD_CHUNK = 64;

const WORKER_FILE = new URL('./load-worker.js', import.meta.url);

export interface LoadWorkerData {
  files: Array<{ abs: string; rel: string }>;
  /** Int32Array(1) over it: the index of the next file nobody has claimed. */
  counter: SharedArrayBuffer;
  /** Which of the classifier's extractors to run (none: headers only). */
  body?: 'full' | 'replay';
  pack: boolean;
  maxBytes: number;
}

/**
 * A chunk's results from `start` on, in order; `null` for a file the worker left to the main thread.
 * Fewer results than the chunk's size: the rest is left to the main thread too.
 */
export type LoadWorkerMessage = { start: number; results: Array<ParsedFile | null> } | { done: true };

/** Whether to read `fileCount` files in two threads. */
export function useLoadThreads(fileCount: number, cpus = availableParallelism()): boolean {
  // Running from the TypeScript sources (tests), there is no compiled worker: one thread.
  return fileCount >= LOAD_THREADS_MIN_FILES && cpus >= 2 && existsSync(fileURLToPath(WORKER_FILE));
}

export interface SharedLoad {
  /** The next chunk's first index for the main thread, or undefined when every file is claimed. */
  claim(): number | undefined;
  /** No one claims more (an error: nothing after it is needed). */
  stop(): void;
  /** Resolves when the worker has sent everything it will send (also when it failed or was stopped). */
  finished: Promise<void>;
  /** Files the worker has sent back. */
  workerFiles(): number;
  terminate(): Promise<void>;
}

/** Starts the worker; `onResult` receives each file it read, by index. */
export function startSharedLoad(
  data: Omit<LoadWorkerData, 'counter'>,
  onResult: (index: number, parsed: ParsedFile) => void,
): SharedLoad {
  const counter = new Int32Array(new SharedArrayBuffer(4));
  const total = data.files.length;
  let received = 0;
  let settle!: () => void;
  const finished = new Promise<void>((resolve) => (settle = resolve));
  const worker = new Worker(WORKER_FILE, {
    // Not the process's own flags (`--input-type`, `--cpu-prof`...): the worker needs none.
    execArgv: [],
    // A smaller stack than the main thread's (a worker's default is 4 MB): a file nested so deep that
    // the recursive walkers overflow here goes back to the main thread, which then says what a
    // one-thread load says (nesting accepted up to ~3,500 brackets here, ~5,000 on the main thread).
    resourceLimits: { stackSizeMb: 1 },
    workerData: { ...data, counter: counter.buffer as SharedArrayBuffer } satisfies LoadWorkerData,
  });
  worker.on('message', (m: LoadWorkerMessage) => {
    if ('done' in m) return settle();
    m.results.forEach((parsed, k) => {
      if (parsed) {
        received++;
        onResult(m.start + k, parsed);
      }
    });
  });
  // A worker that cannot start or dies leaves its files to the main thread (they stay unread).
  worker.once('error', () => settle());
  worker.once('exit', () => settle());
  return {
    claim() {
      const start = Atomics.add(counter, 0, LOAD_CHUNK);
      return start < total ? start : undefined;
    },
    stop() {
      Atomics.store(counter, 0, total);
    },
    finished,
    workerFiles: () => received,
    async terminate() {
      await worker.terminate();
    },
  };
}
