/**
 * The parse worker, main-thread side: large migration files are parsed in a worker thread so that
 * SIGTERM and the parse budget stop the work at once (terminate), whatever tree-sitter is doing:
 * its Python scanner re-reads a run of comment lines inside a block for every line, so a file made
 * of such runs costs time quadratic in the run's length, in one synchronous call the event loop
 * cannot interrupt. One worker, started on the first large file, reused, never keeping the process
 * alive on its own.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ConfigError } from '../errors.js';
import type { ParsedFile } from './scripts.js';

export interface ParseRequest {
  text: string;
  abs: string;
  rel: string;
  /** Extract the classifier's facts too. */
  body: boolean;
  /** The text is a prefix: use what parsed. */
  partial?: boolean;
}

export type ParseReply =
  { ok: true; parsed: ParsedFile } | { ok: false; kind: 'config' | 'internal'; message: string };

interface ParseLimits {
  signal?: AbortSignal;
  budgetMs: number;
  onAbort: () => Error;
}

const WORKER_FILE = new URL('./parse-worker.js', import.meta.url);

class ParseWorker {
  private worker: Worker | undefined;

  /** Resolves the parsed facts, 'over-budget' when the budget ran out; rejects on a file error or abort. */
  parse(req: ParseRequest, limits: ParseLimits): Promise<ParsedFile | 'over-budget'> {
    const w = (this.worker ??= this.spawn());
    return new Promise((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        limits.signal?.removeEventListener('abort', abort);
        w.off('message', onMessage);
        w.off('error', onError);
        w.off('exit', onExit);
      };
      const kill = () => {
        if (this.worker === w) this.worker = undefined;
        void w.terminate();
      };
      const abort = () => {
        settle();
        kill();
        reject(limits.onAbort());
      };
      const onMessage = (m: ParseReply) => {
        settle();
        if (m.ok) resolve(m.parsed);
        else reject(m.kind === 'config' ? new ConfigError(m.message) : new Error(m.message));
      };
      const onError = (err: Error) => {
        settle();
        kill();
        reject(err);
      };
      const onExit = (code: number) => {
        settle();
        if (this.worker === w) this.worker = undefined;
        reject(new Error(`the parse worker exited with code ${code}`));
      };
      const timer = setTimeout(() => {
        settle();
        kill();
        resolve('over-budget');
      }, limits.budgetMs);
      if (limits.signal?.aborted) return abort();
      limits.signal?.addEventListener('abort', abort, { once: true });
      w.on('message', onMessage);
      w.once('error', onError);
      w.once('exit', onExit);
      w.postMessage(req);
    });
  }

  private spawn(): Worker {
    const w = new Worker(WORKER_FILE);
    w.unref(); // an idle worker must not keep `check` or `run` from exiting
    return w;
  }
}

let shared: ParseWorker | undefined;

/** The shared worker, or undefined when running from the TypeScript sources (no compiled worker file). */
export function parseWorker(): ParseWorker | undefined {
  if (shared) return shared;
  if (!existsSync(fileURLToPath(WORKER_FILE))) return undefined;
  shared = new ParseWorker();
  return shared;
}
