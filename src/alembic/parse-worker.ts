/**
 * The parse worker thread (see parse-pool.ts): parses one large migration file per message with
 * the same code as the main thread and answers with plain facts, never a tree.
 */
import { parentPort } from 'node:worker_threads';
import { extractBody } from '../classify/extract.js';
import { initSqlParser } from '../classify/sql.js';
import { GateError } from '../errors.js';
import type { ParseReply, ParseRequest } from './parse-pool.js';
import { initPythonParser } from './python.js';
import { parseFileText } from './scripts.js';

const python = initPythonParser();

async function handle(req: ParseRequest): Promise<ParseReply> {
  await python;
  // Body extraction parses SQL strings with libpg-query: load it only when a body is asked for.
  if (req.body) await initSqlParser();
  try {
    const parsed = parseFileText(req.text, req.abs, req.rel, {
      ...(req.body && { body: extractBody }),
      partial: req.partial === true,
    });
    return { ok: true, parsed };
  } catch (err) {
    if (err instanceof GateError && err.kind === 'config')
      return { ok: false, kind: 'config', message: err.message };
    return { ok: false, kind: 'internal', message: err instanceof Error ? err.message : String(err) };
  }
}

parentPort?.on('message', (req: ParseRequest) => {
  void handle(req).then((reply) => parentPort!.postMessage(reply));
});
