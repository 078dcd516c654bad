/**
 * Issue 14 §1 as tests (not timings): a 30,000-file history loads with bounded reading (no EMFILE),
 * and memory holds facts, not trees. Measured in spawned processes of the built code, after a full
 * GC, as the two parts of RSS: the JS heap in use (the facts) and what lies outside V8's heap (WASM
 * linear memory, where a kept tree-sitter tree lives: tens of KB per file, so 20,000 kept trees
 * would add hundreds of MB there). Peak RSS is the benchmark's figure (`npm run bench`, goal <= 250
 * MB at 30,000): it depends on when V8 collects (the same load peaked at 171-213 MB on one machine
 * and at 266 MB on a busy CI run), so it is no test threshold.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { generateHistory } from '../../bench/synthetic.js';
import { repoRoot } from '../helpers/project.js';

const cli = path.join(repoRoot, 'dist/cli.js');
let dir: string;
const histories = new Map<number, Awaited<ReturnType<typeof generateHistory>>>();

/** Loads a project in a fresh process (headers, as `run` does first) and reports what it holds. */
async function loadIn(
  ini: string,
): Promise<{ scripts: number; heads: number; heapUsedKb: number; outsideHeapKb: number }> {
  const script = `
    import { loadProject } from ${JSON.stringify(path.join(repoRoot, 'dist/gate/project.js'))};
    const loaded = await loadProject(${JSON.stringify(ini)});
    globalThis.gc();
    const mem = process.memoryUsage();
    console.log(JSON.stringify({ scripts: loaded.graph.size, heads: loaded.graph.heads.length,
      heapUsedKb: mem.heapUsed / 1024, outsideHeapKb: (mem.rss - mem.heapTotal) / 1024 }));
  `;
  const r = await execa('node', ['--expose-gc', '--input-type=module', '-e', script], {
    all: true,
    reject: false,
  });
  if (r.exitCode !== 0) throw new Error(`loading ${ini} failed: ${r.all}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mg-large-'));
  for (const count of [10_000, 30_000]) {
    histories.set(count, await generateHistory(path.join(dir, String(count)), { count, seed: 7 }));
  }
}, 600_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('30,000 migration files load (bounded reading), and what they hold grows with facts, not trees', async () => {
  const small = await loadIn(histories.get(10_000)!.iniPath);
  const large = await loadIn(histories.get(30_000)!.iniPath);
  expect(small.scripts).toBe(10_000);
  expect(large.scripts).toBe(30_000);
  expect(large.heads).toBe(1);
  // Measured: the facts of 20,000 more headers are 17 MB of heap (15 -> 32 MB); outside the heap
  // 73-84 MB at both sizes. Keeping 10,000 of these trees cost about 176 MB of RSS, so 20,000 kept
  // trees would add some 350 MB outside the heap.
  expect(large.heapUsedKb - small.heapUsedKb).toBeLessThan(40 * 1024);
  expect(large.outsideHeapKb - small.outsideHeapKb).toBeLessThan(40 * 1024);
  // A bound that kept trees alone break (84 + 376 MB), with room for a machine whose baseline sits
  // higher: the run that failed on CI peaked 75 MB above this machine's at 30,000 files.
  expect(large.outsideHeapKb).toBeLessThan(250 * 1024);
}, 600_000);

test('check on the 30,000-file history with a few pending completes (no "cannot read migration file")', async () => {
  const h = histories.get(30_000)!;
  const byId = new Map(h.revisions.map((r) => [r.revision, r]));
  const from = byId.get(byId.get(h.head)!.downRevisions[0]!)!.downRevisions[0]!;
  const r = await execa('node', [cli, 'check', '--from', from], {
    cwd: path.dirname(h.iniPath),
    reject: false,
    all: true,
    env: { MIGRATION_GATE_ALLOW: '', MIGRATION_GATE_ALLOW_REASON: '' },
  });
  expect(r.all).not.toMatch(/cannot read migration file|EMFILE|internal error/);
  expect([0, 2]).toContain(r.exitCode);
  expect(r.stdout).toMatch(new RegExp(`^Pending migrations from ${from} to ${h.head}: \\d+`, 'm'));
}, 600_000);
