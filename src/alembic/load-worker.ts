/**
 * The load worker thread (see load-pool.ts): takes chunks of the history's files from the counter it
 * shares with the main thread, reads and parses each with the same code as the main thread and sends
 * back plain facts, never a tree. A file it does not finish (too large for a synchronous parse, or an
 * error) comes back empty: the main thread reads that one itself, so errors and large files keep the
 * exact behaviour of a one-thread load.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LOAD_CHUNK, type LoadWorkerData, type LoadWorkerMessage } from './load-pool.js';
import { initPythonParser } from './python.js';
import { readSource } from './read.js';
import { isSmallSource, parseFileText, type ParsedFile, type ScriptOptions } from './scripts.js';

const data = workerData as LoadWorkerData;
const counter = new Int32Array(data.counter);
const total = data.files.length;

async function scriptOptions(): Promise<ScriptOptions> {
  await initPythonParser();
  if (!data.body) return {};
  // The same extractors the main thread was given (the classifier's), imported here by name.
  const [{ extractBody, extractReplayBody }, { initSqlParser }] = await Promise.all([
    import('../classify/extract.js'),
    import('../classify/sql.js'),
  ]);
  await initSqlParser();
  return { body: data.body === 'full' ? extractBody : extractReplayBody, pack: data.pack };
}

async function main(): Promise<void> {
  const opts = await scriptOptions();
  for (;;) {
    const start = Atomics.add(counter, 0, LOAD_CHUNK);
    if (start >= total) break;
    const end = Math.min(start + LOAD_CHUNK, total);
    const results: Array<ParsedFile | null> = [];
    for (let i = start; i < end; i++) {
      const f = data.files[i]!;
      try {
        const src = await readSource(f.abs, f.rel, data.maxBytes);
        results.push(isSmallSource(src) ? parseFileText(src.text, f.abs, f.rel, opts) : null);
      } catch {
        // The main thread reads this file again and reports its error as a one-thread load would;
        // nothing after it is needed, so neither thread claims more.
        results.push(null);
        Atomics.store(counter, 0, total);
        break;
      }
    }
    parentPort!.postMessage({ start, results } satisfies LoadWorkerMessage);
  }
  parentPort!.postMessage({ done: true } satisfies LoadWorkerMessage);
}

void main().catch(() => {
  // Nothing to report: every file this thread did not send back is read by the main thread.
  parentPort!.postMessage({ done: true } satisfies LoadWorkerMessage);
});
