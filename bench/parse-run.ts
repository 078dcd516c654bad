/**
 * One parse+classify measurement in a fresh process, so its peak RSS is its own:
 *   node dist-bench/bench/parse-run.js <alembic.ini>
 * Loads every migration (tree-sitter-python), builds the graph, classifies every revision in
 * application order; prints one JSON line. Started by bench.ts (the `parse` section).
 */
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { classifyMigrations, initClassifier } from '../src/classify/index.js';
import { loadProject } from '../src/gate/project.js';

const ini = process.argv[2];
if (!ini) {
  console.error('usage: node dist-bench/bench/parse-run.js <alembic.ini>');
  process.exit(3);
}
const t0 = performance.now();
// The two WASM parsers load once per process: timed apart from the per-migration work.
await initClassifier();
const t1 = performance.now();
const loaded = await loadProject(ini, { bodies: 'all' });
const t2 = performance.now();
const classified = classifyMigrations(loaded.graph.pending([], loaded.graph.resolve('heads')));
const t3 = performance.now();
const heap = v8.getHeapStatistics();
console.log(
  JSON.stringify({
    migrations: classified.length,
    graphSize: loaded.graph.size,
    initMs: t1 - t0,
    loadMs: t2 - t1,
    classifyMs: t3 - t2,
    maxRssKb: process.resourceUsage().maxRSS,
    heapUsedBytes: heap.used_heap_size,
    heapCommittedBytes: heap.total_heap_size,
  }),
);
