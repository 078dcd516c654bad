#!/usr/bin/env node
// Writes a synthetic Alembic project: node scripts/gen-history.js <dir> [count=2000] [seed=1]
// Needs `npm run build:bench` first (imports the generator from dist-bench/).
import { generateHistory } from '../dist-bench/bench/synthetic.js';

const [dir, count = '2000', seed = '1'] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node scripts/gen-history.js <dir> [count=2000] [seed=1]');
  process.exitCode = 3;
} else {
  const h = await generateHistory(dir, { count: Number(count), seed: Number(seed) });
  console.log(`${h.revisions.length} revisions, head ${h.head}: ${h.iniPath}`);
}
