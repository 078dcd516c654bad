/**
 * A long history read in two threads (src/alembic/load-pool.ts) gives exactly what one thread gives:
 * the same facts in the same order, the same report, the first broken file in file order named
 * with the same message, large files read with the one-thread code. Run against the built code: the
 * worker exists only compiled.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { generateHistory, type GeneratedHistory } from '../../bench/synthetic.js';
import { repoRoot } from '../helpers/project.js';

const cli = path.join(repoRoot, 'dist/cli.js');
// Above LOAD_THREADS_MIN_FILES (4,000), so `auto` reads in two threads.
const COUNT = 4_500;
let dir: string;
let h: GeneratedHistory;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mg-threads-'));
  h = await generateHistory(path.join(dir, 'app'), { count: COUNT, seed: 11 });
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function check(args: string[], threads: 'auto' | 'off') {
  return execa('node', [cli, 'check', ...args], {
    cwd: path.dirname(h.iniPath),
    reject: false,
    env: { MIGRATION_GATE_LOAD_THREADS: threads, MIGRATION_GATE_ALLOW: '', MIGRATION_GATE_ALLOW_REASON: '' },
  });
}

/** Loads the project in a fresh process of the built code and says how it was read, and what it holds. */
async function load(threads: boolean, bodies: 'all' | 'replay' | 'pending') {
  const script = `
    import { loadProject } from ${JSON.stringify(path.join(repoRoot, 'dist/gate/project.js'))};
    import { bodyOf } from ${JSON.stringify(path.join(repoRoot, 'dist/alembic/packed.js'))};
    let read;
    const loaded = await loadProject(${JSON.stringify(h.iniPath)}, {
      bodies: ${JSON.stringify(bodies)}, threads: ${threads}, onRead: (info) => (read = info),
    });
    const scripts = loaded.graph.scripts.map((s) => [s.revision, s.downRevisions, s.file, bodyOf(s)]);
    console.log(JSON.stringify({ read, scripts }));
  `;
  const r = await execa('node', ['--input-type=module', '-e', script], { all: true, reject: false });
  if (r.exitCode !== 0) throw new Error(`loading failed: ${r.all}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    read: { files: number; threads: number; workerFiles: number };
    scripts: unknown[];
  };
}

/** The file at this position of Alembic's load order (sorted names). */
function fileAt(index: number): string {
  return [...h.revisions.map((r) => r.file)].sort()[index]!;
}

test('two threads read the same facts, in the same order, as one', async () => {
  // Full facts (check), upgrade()'s operations (check --from), headers only (run).
  for (const bodies of ['all', 'replay', 'pending'] as const) {
    const two = await load(true, bodies);
    const one = await load(false, bodies);
    expect(two.read.threads).toBe(2);
    // The worker read some (each thread claims chunks of 64 files as it goes; how many depends on
    // how soon the worker is up, so only that it took part is certain).
    expect(two.read.workerFiles).toBeGreaterThan(0);
    expect(one.read).toEqual({ files: COUNT, threads: 1, workerFiles: 0 });
    expect(two.scripts).toHaveLength(COUNT);
    expect(two.scripts).toEqual(one.scripts);
  }
}, 300_000);

test('check prints the same report either way (whole history, and --from)', async () => {
  const from = h.revisions[h.revisions.length - 20]!.revision;
  for (const args of [['--json'], ['--from', from]]) {
    const two = await check(args, 'auto');
    const one = await check(args, 'off');
    expect([0, 2]).toContain(two.exitCode);
    expect(two.exitCode).toBe(one.exitCode);
    expect(two.stdout).toBe(one.stdout);
  }
}, 300_000);

describe('with files edited', () => {
  const edited = new Map<string, string>();
  const edit = (file: string, change: (text: string) => string) => {
    const p = path.join(h.versionsDir, file);
    if (!edited.has(p)) edited.set(p, readFileSync(p, 'utf8'));
    writeFileSync(p, change(readFileSync(p, 'utf8')));
  };
  afterEach(() => {
    for (const [p, text] of edited) writeFileSync(p, text);
    edited.clear();
  });

  test('the first broken file in load order is the one named, whichever thread read it', async () => {
    // Two broken files late in the order (the worker, up by then, reads some of those chunks), then
    // one early that the main thread reads first.
    for (const i of [3_000, 4_200]) edit(fileAt(i), (t) => `${t}\ndef broken(:\n`);
    const late = await check([], 'auto');
    expect(late.exitCode).toBe(3);
    expect(late.stderr).toContain(`${path.basename(fileAt(3_000))}:`);
    expect(late.stderr).toContain('Python syntax error');
    expect(late.stderr).toBe((await check([], 'off')).stderr);

    edit(fileAt(10), (t) => `${t}\nx = (\n`);
    const early = await check([], 'auto');
    expect(early.exitCode).toBe(3);
    expect(early.stderr).toContain(`${path.basename(fileAt(10))}:`);
    expect(early.stderr).toBe((await check([], 'off')).stderr);
  }, 300_000);

  test('a file above the one-call parse size is read by the one-thread code, and judged', async () => {
    const big = fileAt(2_500);
    const revision = h.revisions.find((r) => r.file === big)!.revision;
    // Over 16 KB of comments, then a drop: only a full read of the file finds the drop.
    edit(big, (t) =>
      t.replace(
        /^def upgrade\(\)(.*):\n/m,
        (line) =>
          `${line}${'    # a long comment line that makes the file large\n'.repeat(400)}    op.drop_column("t_big", "c_big")\n`,
      ),
    );
    const two = await check(['--json'], 'auto');
    expect(two.stdout).toBe((await check(['--json'], 'off')).stdout);
    const report = JSON.parse(two.stdout) as {
      pending: Array<{ revision: string; findings: Array<{ rule: string }> }>;
    };
    const judged = report.pending.find((m) => m.revision === revision)!;
    expect(judged.findings.map((f) => f.rule)).toContain('drop-column');
  }, 300_000);

  test('a file nested too deep for the worker is left to the main thread, which says what one thread says', async () => {
    // 6,000 nested brackets in a file under 16 KB: the main thread's walkers overflow (and report
    // Python's nesting limit); a worker with a larger stack would read the file and let it through.
    const deep = fileAt(4_300);
    const nested = `${'('.repeat(6_000)}'SELECT 1'${')'.repeat(6_000)}`;
    edit(deep, (t) => t.replace(/^def upgrade\(\)(.*):\n/m, (line) => `${line}    op.execute(${nested})\n`));
    const script = `
      import { startSharedLoad } from ${JSON.stringify(path.join(repoRoot, 'dist/alembic/load-pool.js'))};
      const files = [{ abs: ${JSON.stringify(path.join(h.versionsDir, deep))}, rel: 'deep.py' }];
      const got = [];
      const load = startSharedLoad({ files, body: 'full', pack: true, maxBytes: 1 << 20 }, (i) => got.push(i));
      await load.finished;
      await load.terminate();
      console.log(JSON.stringify({ got }));
    `;
    const r = await execa('node', ['--input-type=module', '-e', script], { all: true, reject: false });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ got: [] });

    const two = await check([], 'auto');
    expect(two.exitCode).toBe(3);
    expect(two.stderr).toContain(`${deep}:`);
    expect(two.stderr).toContain('too many nested parentheses');
    expect(two.stderr).toBe((await check([], 'off')).stderr);
  }, 300_000);
});
