/** `migration-gate check` through the built CLI: output formats, exit codes, and bad input. */
import { mkdtempSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { exampleDir, repoRoot, tempProject } from '../helpers/project.js';

const cli = path.join(repoRoot, 'dist/cli.js');
const exampleIni = path.join(exampleDir, 'alembic.ini');
const check = (args: string[], cwd = repoRoot) =>
  execa('node', [cli, 'check', ...args], {
    cwd,
    reject: false,
    all: true,
    env: { MIGRATION_GATE_ALLOW: '', MIGRATION_GATE_ALLOW_REASON: '' },
  });

test('--json has the documented shape, pending in application order', async () => {
  const res = await check(['--config', exampleIni, '--from', '1a2b3c4d5e6f', '--json']);
  expect(res.exitCode).toBe(2);
  const r = JSON.parse(res.stdout);
  expect(r.from).toEqual(['1a2b3c4d5e6f']);
  expect(r.to).toEqual(['7c1e2d9a0b3f']);
  expect(r.decision).toBe('block');
  expect(r.problems).toEqual(expect.any(Array));
  expect(r.pending.map((p: { revision: string }) => p.revision)).toEqual(['fd4af8236c7d', '7c1e2d9a0b3f']);
  const destructive = r.pending[1];
  expect(destructive).toMatchObject({
    file: 'migrations/versions/7c1e2d9a0b3f_drop_user_name_require_grid_rows.py',
    verdict: 'destructive',
  });
  for (const f of destructive.findings) {
    expect(Object.keys(f)).toEqual(expect.arrayContaining(['rule', 'category', 'line', 'message', 'hint']));
  }
  // apertures is created by fd4af8236c7d in the same pending set, so its SET NOT NULL is not flagged here.
  expect(destructive.findings.map((f: { rule: string }) => f.rule)).toEqual(['drop-column']);
});

test('an additive range is allowed with exit 0; --to limits the target', async () => {
  const res = await check(['--config', exampleIni, '--from', '1a2b3c4d5e6f', '--to', 'fd4af8236c7d']);
  expect(res.exitCode).toBe(0);
  expect(res.stdout).toContain('Decision: ALLOW. Allowed: 1 pending migration (fd4af8236c7d), all additive.');
});

test('--format github prints annotations on the file and line', async () => {
  const res = await check(['--config', exampleIni, '--from', 'fd4af8236c7d', '--format', 'github']);
  expect(res.exitCode).toBe(2);
  expect(res.stdout).toMatch(
    /^::error file=migrations\/versions\/7c1e2d9a0b3f_drop_user_name_require_grid_rows\.py,line=\d+,title=migration-gate drop-column \(destructive\)::drop column users\.name/m,
  );
});

test('--format markdown is a PR comment with links to the rule docs', async () => {
  const res = await check(['--config', exampleIni, '--from', 'fd4af8236c7d', '--format', 'markdown']);
  expect(res.stdout).toContain('## ⛔ migration-gate: block');
  expect(res.stdout).toContain('[docs](docs/rules/drop-column.md)');
  expect(res.stdout.length).toBeLessThan(65_536);
});

test('--since-ref classifies only the files added since the ref', async () => {
  const repo = mkdtempSync(path.join(os.tmpdir(), 'mg-git-'));
  try {
    cpSync(exampleDir, repo, { recursive: true, filter: (s) => !s.includes('__pycache__') });
    const dest = path.join(repo, 'migrations/versions/7c1e2d9a0b3f_drop_user_name_require_grid_rows.py');
    const saved = path.join(repo, 'saved.py');
    cpSync(dest, saved);
    rmSync(dest);
    const git = (...a: string[]) =>
      execa('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', ...a], { cwd: repo });
    await git('init', '-q', '-b', 'main');
    await git('add', '-A');
    await git('commit', '-qm', 'base');
    await git('checkout', '-qb', 'feature');
    cpSync(saved, dest);
    rmSync(saved);
    await git('add', '-A');
    await git('commit', '-qm', 'destructive');
    const res = await check(
      ['--config', path.join(repo, 'alembic.ini'), '--since-ref', 'main', '--json'],
      repo,
    );
    const r = JSON.parse(res.stdout);
    expect(r.pending.map((p: { revision: string }) => p.revision)).toEqual(['7c1e2d9a0b3f']);
    expect(r.decision).toBe('block');
    const bad = await check(['--config', path.join(repo, 'alembic.ini'), '--since-ref', 'origin/nope'], repo);
    expect(bad.exitCode).toBe(3);
    expect(bad.stderr).toContain('origin/nope');
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
});

describe('bad input: one clear line naming the file, non-zero exit, no stack trace', () => {
  const cases: Array<[string, (p: ReturnType<typeof tempProject>) => void, RegExp]> = [
    [
      'syntax error',
      (p) =>
        writeFileSync(
          path.join(p.versions, 'a1_bad.py'),
          "revision = 'a1'\ndown_revision = None\ndef upgrade(:\n    pass\n",
        ),
      /a1_bad\.py:3/,
    ],
    [
      'missing parent',
      (p) => p.write({ id: 'b1', down: 'nope00', upgrade: 'pass' }),
      /b1_test\.py.*nope00|nope00.*b1_test\.py/,
    ],
    [
      'cycle',
      (p) => {
        p.write({ id: 'c1', down: 'c2', upgrade: 'pass' });
        p.write({ id: 'c2', down: 'c1', upgrade: 'pass' });
      },
      /cycle/i,
    ],
    [
      'duplicate revision id',
      (p) => {
        writeFileSync(path.join(p.versions, 'd1_one.py'), "revision = 'd1'\ndown_revision = None\n");
        writeFileSync(path.join(p.versions, 'd1_two.py'), "revision = 'd1'\ndown_revision = None\n");
      },
      /duplicate revision id 'd1'.*d1_one\.py.*d1_two\.py/,
    ],
  ];
  for (const [name, breakIt, expected] of cases) {
    test(name, async () => {
      const p = tempProject();
      try {
        breakIt(p);
        const res = await check(['--config', p.ini]);
        expect(res.exitCode).toBe(3);
        const lines = res.stderr.trim().split('\n');
        expect(lines[0]).toMatch(/^migration-gate: configuration error: /);
        expect(res.stderr).toMatch(expected);
        expect(res.stderr).not.toMatch(/\n\s+at /);
      } finally {
        p.cleanup();
      }
    });
  }

  test('unreadable alembic.ini', async () => {
    const res = await check(['--config', '/nonexistent/alembic.ini']);
    expect(res.exitCode).toBe(3);
    expect(res.stderr).toContain('/nonexistent/alembic.ini');
    expect(res.stderr).not.toMatch(/\n\s+at /);
  });

  test('two heads is a blocking finding that says how to merge', async () => {
    const p = tempProject([
      {
        id: 'e0',
        down: null,
        upgrade: "op.create_table('t0', sa.Column('id', sa.Integer(), primary_key=True))",
      },
      {
        id: 'e1',
        down: 'e0',
        upgrade: "op.create_table('t1', sa.Column('id', sa.Integer(), primary_key=True))",
      },
      {
        id: 'e2',
        down: 'e0',
        upgrade: "op.create_table('t2', sa.Column('id', sa.Integer(), primary_key=True))",
      },
    ]);
    try {
      const res = await check(['--config', p.ini]);
      expect(res.exitCode).toBe(2);
      expect(res.stdout).toContain('multiple-heads');
      expect(res.stdout).toContain('alembic merge');
    } finally {
      p.cleanup();
    }
  });

  test('an unknown --from revision names what is known', async () => {
    const res = await check(['--config', exampleIni, '--from', 'zzzz']);
    expect(res.exitCode).toBe(3);
    expect(res.stderr).toContain("unknown revision 'zzzz'");
  });

  test('an unknown flag points at --help', async () => {
    const res = await check(['--bogus']);
    expect(res.exitCode).toBe(3);
    expect(res.stderr).toContain(
      "unknown option '--bogus' for check (its options: migration-gate check --help)",
    );
  });
});

test('a --json report far above a pipe buffer reaches a slow reader whole', async () => {
  // 300 destructive migrations make a report of several hundred KiB; the reader starts late, so the
  // gate must wait for the pipe to drain before it exits (a bare process.exit cut it at 64 KiB).
  const revisions = Array.from({ length: 300 }, (_, i) => ({
    id: `r${String(i).padStart(4, '0')}`,
    down: i === 0 ? null : `r${String(i - 1).padStart(4, '0')}`,
    upgrade: `op.drop_column('users', 'legacy_column_with_a_long_name_${i}')`,
  }));
  const p = tempProject(revisions);
  try {
    const res = await execa(
      'bash',
      ['-o', 'pipefail', '-c', `node "${cli}" check --config "${p.ini}" --json | (sleep 1; cat)`],
      { reject: false, env: { MIGRATION_GATE_ALLOW: '', MIGRATION_GATE_ALLOW_REASON: '' } },
    );
    expect(res.exitCode).toBe(2);
    expect(res.stdout.length).toBeGreaterThan(256 * 1024);
    const report = JSON.parse(res.stdout);
    expect(report.pending).toHaveLength(300);
    expect(report.pending[299].findings.map((f: { rule: string }) => f.rule)).toContain('drop-column');
  } finally {
    p.cleanup();
  }
});
