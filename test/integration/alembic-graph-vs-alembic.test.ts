/**
 * Our revision graph against the real Alembic: heads, bases, full history order and the order
 * `alembic upgrade <from>:<to> --sql` applies migrations, on the fixture projects and on a
 * 2,000-revision synthetic history.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { loadAlembicConfig } from '../../src/alembic/config.js';
import { RevisionGraph } from '../../src/alembic/graph.js';
import { loadMigrations } from '../../src/alembic/scripts.js';
import { generateHistory } from '../../bench/synthetic.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = path.join(repo, 'test/fixtures/graphs');
const alembicBin =
  process.env.MIGRATION_GATE_TEST_ALEMBIC ??
  (existsSync(path.join(repo, '.venv/bin/alembic')) ? path.join(repo, '.venv/bin/alembic') : 'alembic');

async function alembic(ini: string, ...args: string[]): Promise<string[]> {
  const r = await execa(alembicBin, ['-c', ini, ...args], { env: { PYTHONWARNINGS: 'ignore' } });
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

/** `alembic heads` lines start with the revision id. */
const headIds = (lines: string[]): string[] => lines.map((l) => l.split(' ')[0]!);
/** `alembic history` lines: `<parents> -> <rev> (labels) (head), message`. */
const historyIds = (lines: string[]): string[] => lines.map((l) => /-> ([^\s,]+)/.exec(l)![1]!);
/** `alembic upgrade --sql` prints `-- Running upgrade <parents> -> <rev>` per migration, in order. */
const upgradeIds = (lines: string[]): string[] =>
  lines.filter((l) => l.startsWith('-- Running upgrade')).map((l) => l.split('-> ')[1]!.trim());

/** A few alembic processes at a time: each is a Python start-up. */
async function inBatches<T>(items: T[], fn: (item: T) => Promise<void>, size = 4): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

async function load(ini: string): Promise<RevisionGraph> {
  const project = await loadAlembicConfig(ini);
  return RevisionGraph.build(await loadMigrations(project));
}

// Each alembic call starts Python (~0.5 s); the per-revision loops make dozens of them.
const SLOW = 600_000;

const names = ['linear', 'branch-merge', 'two-heads', 'depends-on', 'labels', 'typed-headers', 'recursive'];

describe.each(names)('fixture %s', (name) => {
  const ini = path.join(fixtures, name, 'alembic.ini');
  let graph: RevisionGraph;
  beforeAll(async () => {
    graph = await load(ini);
  }, SLOW);

  test(
    'heads match alembic heads (with and without --resolve-dependencies)',
    async () => {
      expect(graph.heads).toEqual(headIds(await alembic(ini, 'heads')));
      expect(graph.realHeads).toEqual(headIds(await alembic(ini, 'heads', '--resolve-dependencies')));
    },
    SLOW,
  );

  test(
    'history order and bases match alembic history',
    async () => {
      const lines = await alembic(ini, 'history');
      expect(graph.history().map((s) => s.revision)).toEqual(historyIds(lines));
      const bases = lines.filter((l) => l.startsWith('<base> ->'));
      expect([...graph.bases].sort()).toEqual(historyIds(bases).sort());
    },
    SLOW,
  );

  test(
    'pending from every revision to heads matches alembic upgrade --sql',
    async () => {
      const targets = graph.resolve('heads');
      expect(graph.pending([], targets).map((s) => s.revision)).toEqual(
        upgradeIds(await alembic(ini, 'upgrade', 'heads', '--sql')),
      );
      await inBatches(
        graph.scripts.map((s) => s.revision),
        async (from) => {
          const ours = graph.pending([from], targets).map((s) => s.revision);
          const theirs = upgradeIds(await alembic(ini, 'upgrade', `${from}:heads`, '--sql'));
          expect({ from, order: ours }).toEqual({ from, order: theirs });
        },
      );
    },
    SLOW,
  );
});

describe('2,000-revision synthetic history', () => {
  let dir: string;
  let ini: string;
  let graph: RevisionGraph;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mg-synthetic-'));
    ini = (await generateHistory(dir, { count: 2000, seed: 7 })).iniPath;
    graph = await load(ini);
  }, SLOW);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test(
    'has branches and merges, one head, and the same heads/history as alembic',
    async () => {
      expect(graph.size).toBe(2000);
      expect(graph.branchPoints.length).toBeGreaterThan(20);
      expect(graph.mergePoints.length).toBeGreaterThan(20);
      expect(graph.heads).toEqual(headIds(await alembic(ini, 'heads')));
      expect(graph.heads).toHaveLength(1);
      expect(graph.history().map((s) => s.revision)).toEqual(historyIds(await alembic(ini, 'history')));
    },
    SLOW,
  );

  test(
    'pending order matches alembic upgrade --sql from several starting points',
    async () => {
      const order = graph.pending(
        [],
        ['heads'].flatMap((h) => graph.resolve(h)),
      );
      expect(order.map((s) => s.revision)).toEqual(
        upgradeIds(await alembic(ini, 'upgrade', 'heads', '--sql')),
      );
      // Start at a merge point, a branch point and a few revisions on side branches.
      const starts = [
        graph.mergePoints[3]!,
        graph.branchPoints[5]!,
        ...[150, 777, 1234, 1900].map((i) => order[i]!.revision),
      ];
      await inBatches(starts, async (from) => {
        const ours = graph.pending([from], graph.resolve('head')).map((s) => s.revision);
        const theirs = upgradeIds(await alembic(ini, 'upgrade', `${from}:head`, '--sql'));
        expect({ from, order: ours }).toEqual({ from, order: theirs });
      });
    },
    SLOW,
  );
});
