/**
 * The parse-only limit, in a fresh process: read every migration file (the gate's own reader: one
 * file at a time, in order) and parse it with the same web-tree-sitter Python parser, nothing else
 * (no header, no graph, no classifier); each tree is freed. Prints one JSON line. Started by
 * bench.ts (the `parse` section):
 *   node dist-bench/bench/parse-only.js <versions dir>
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { initPythonParser, parsePython } from '../src/alembic/python.js';
import { readSource } from '../src/alembic/read.js';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node dist-bench/bench/parse-only.js <versions dir>');
  process.exit(3);
}
await initPythonParser();
const t0 = performance.now();
const names = (await readdir(dir)).filter((n) => n.endsWith('.py')).sort();
let nodes = 0;
for (const n of names) {
  const src = await readSource(path.join(dir, n), n);
  const tree = parsePython(src.text);
  nodes += tree.rootNode.childCount;
  tree.delete();
}
const ms = performance.now() - t0;
console.log(JSON.stringify({ files: names.length, ms, nodes, maxRssKb: process.resourceUsage().maxRSS }));
