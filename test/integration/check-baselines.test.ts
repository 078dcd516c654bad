/**
 * The three baselines of `check`, through the built CLI: plain `check` judges each migration against
 * its parent, `--since-ref` judges a branch as one deploy on top of the ref, `--from` is the pending set.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { exampleDir, repoRoot, tempProject, type TempProject } from '../helpers/project.js';

const cli = path.join(repoRoot, 'dist/cli.js');
const check = (args: string[], cwd = repoRoot) =>
  execa('node', [cli, 'check', ...args], {
    cwd,
    reject: false,
    env: { MIGRATION_GATE_ALLOW: '', MIGRATION_GATE_ALLOW_REASON: '' },
  });

interface Pending {
  revision: string;
  verdict: string;
  findings: Array<{ rule: string; message: string }>;
  blockers: string[];
}

test('plain check on the example blocks 7c1e2d9a0b3f for its drop column and keeps the rest additive', async () => {
  const res = await check(['--config', path.join(exampleDir, 'alembic.ini'), '--json']);
  expect(res.exitCode).toBe(2);
  const r = JSON.parse(res.stdout) as { baseline: { mode: string; text: string }; pending: Pending[] };
  expect(r.baseline.mode).toBe('parent');
  expect(r.baseline.text).toMatch(/^each migration against its parent/);
  const byRev = new Map(r.pending.map((p) => [p.revision, p]));
  expect(byRev.get('1a2b3c4d5e6f')?.verdict).toBe('additive');
  expect(byRev.get('fd4af8236c7d')?.verdict).toBe('additive');
  const bad = byRev.get('7c1e2d9a0b3f')!;
  expect(bad.verdict).toBe('destructive');
  expect(bad.findings.map((f) => f.rule)).toContain('drop-column');
  expect(bad.findings.find((f) => f.rule === 'drop-column')!.message).toContain('users.name');

  const human = await check(['--config', path.join(exampleDir, 'alembic.ini')]);
  expect(human.exitCode).toBe(2);
  expect(human.stdout).toContain('Baseline: each migration against its parent');
  expect(human.stdout).toContain('Blocked: 1 migration needs an override (7c1e2d9a0b3f destructive)');
});

test('--from keeps the pending-set semantics and says which revision it starts from', async () => {
  const res = await check(['--config', path.join(exampleDir, 'alembic.ini'), '--from', 'base', '--json']);
  const r = JSON.parse(res.stdout) as { baseline: { mode: string; text: string }; pending: Pending[] };
  expect(r.baseline).toEqual({
    mode: 'revision',
    text: expect.stringMatching(/^base \(an empty database\)/),
  });
  // From base every table is new: that is the pending-set semantics `run` uses on an empty database.
  expect(r.pending.map((p) => p.verdict)).toEqual(['additive', 'additive', 'additive']);
});

describe('--since-ref on a git branch', () => {
  let p: TempProject;
  const git = (...a: string[]) =>
    execa('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', '-c', 'commit.gpgsign=false', ...a], {
      cwd: p.dir,
    });

  beforeAll(async () => {
    p = tempProject();
    await git('init', '-q', '-b', 'main');
    await git('add', '-A');
    await git('commit', '-qm', 'alembic init, no migrations yet');
    await git('tag', 'empty');
    p.write({
      id: 'a0',
      down: null,
      upgrade:
        "op.create_table('users', sa.Column('id', sa.Integer(), primary_key=True), sa.Column('name', sa.Text()))",
    });
    await git('add', '-A');
    await git('commit', '-qm', 'base');
    await git('checkout', '-qb', 'feature');
    p.write({ id: 'b1', down: 'a0', upgrade: "op.drop_column('users', 'name')" });
    p.write({
      id: 'b2',
      down: 'b1',
      upgrade: "op.create_table('widgets', sa.Column('id', sa.Integer(), primary_key=True))",
    });
    p.write({
      id: 'b3',
      down: 'b2',
      upgrade: "op.add_column('widgets', sa.Column('size', sa.Integer(), nullable=False))",
    });
    await git('add', '-A');
    await git('commit', '-qm', 'feature');
  }, 60_000);
  afterAll(() => p.cleanup());

  test('the drop on the old table blocks; the new table and its NOT NULL column pass', async () => {
    const res = await check(['--config', p.ini, '--since-ref', 'main', '--json'], p.dir);
    expect(res.exitCode).toBe(2);
    const r = JSON.parse(res.stdout) as { baseline: { mode: string; text: string }; pending: Pending[] };
    expect(r.baseline.mode).toBe('since-ref');
    expect(r.baseline.text).toMatch(/^main as deployed: its 1 migration\(s\) are applied/);
    // The deploy starts where main's migrations end, not at base.
    expect((r as unknown as { from: string[] }).from).toEqual(['a0']);
    expect(r.pending.map((m) => [m.revision, m.verdict])).toEqual([
      ['b1', 'destructive'],
      ['b2', 'additive'],
      ['b3', 'additive'],
    ]);
    expect(r.pending[0]!.findings.map((f) => f.rule)).toEqual(['drop-column']);
    expect(r.pending[2]!.findings).toEqual([]);
    expect(r.pending[2]!.blockers).toEqual([]);
  });

  test('plain check judges b3 against its parent, where widgets may hold rows', async () => {
    const res = await check(['--config', p.ini, '--json'], p.dir);
    const r = JSON.parse(res.stdout) as { pending: Pending[] };
    const b3 = r.pending.find((m) => m.revision === 'b3')!;
    expect(b3.findings.map((f) => f.rule)).toEqual(['add-column-not-null-no-default']);
  });

  test('a branch that adds no migration has nothing to judge, and says so in those words', async () => {
    const res = await check(['--config', p.ini, '--since-ref', 'feature'], p.dir);
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toContain('Pending migrations from b3 to b3: 0');
    expect(res.stdout).toContain(
      'Decision: NOOP. Nothing to judge: no migration file was added since feature.',
    );
    expect(res.stdout).not.toContain('the database is at base');
  });

  test('a ref without migrations is the base, and the report says so', async () => {
    const res = await check(['--config', p.ini, '--since-ref', 'empty', '--json'], p.dir);
    const r = JSON.parse(res.stdout) as { baseline: { mode: string; text: string }; pending: Pending[] };
    expect(r.baseline.text).toMatch(/^base: empty has no migrations/);
    expect(r.pending.map((m) => m.revision)).toEqual(['a0', 'b1', 'b2', 'b3']);
  });

  test('a shallow clone without the ref is a usage error that names fetch-depth: 0', async () => {
    const clone = mkdtempSync(path.join(os.tmpdir(), 'mg-shallow-'));
    try {
      await execa('git', ['clone', '-q', '--depth', '1', '--branch', 'feature', `file://${p.dir}`, clone]);
      const res = await check(
        ['--config', path.join(clone, 'alembic.ini'), '--since-ref', 'origin/main'],
        clone,
      );
      expect(res.exitCode).toBe(3);
      expect(res.stderr).toContain("git ref 'origin/main' not found");
      expect(res.stderr).toContain('fetch-depth: 0');
      expect(res.stderr).not.toMatch(/\n\s+at /);
    } finally {
      rmSync(clone, { recursive: true, force: true });
    }
  });
});
