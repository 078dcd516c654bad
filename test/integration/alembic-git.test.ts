/** migrationFilesAddedSince against a real throw-away git repository. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { loadAlembicConfig, type AlembicProject } from '../../src/alembic/config.js';
import { migrationFilesAddedSince } from '../../src/alembic/git.js';
import { ConfigError } from '../../src/errors.js';

let dir: string;
let project: AlembicProject;
const git = (...args: string[]) =>
  execa(
    'git',
    ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'commit.gpgsign=false', ...args],
    {
      cwd: dir,
    },
  );
const write = async (rel: string, text = "revision = 'x'\n") => {
  await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
  await writeFile(path.join(dir, rel), text);
};

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mg-git-'));
  await git('init', '-q', '-b', 'main');
  await write('app/alembic.ini', '[alembic]\nscript_location = %(here)s/migrations\n');
  await write('app/migrations/env.py', '');
  await write('app/migrations/versions/001_base.py');
  await write('app/migrations/versions/002_old.py');
  await git('add', '.');
  await git('commit', '-q', '-m', 'base');
  await git('checkout', '-q', '-b', 'feature');
  await write('app/migrations/versions/003_new.py');
  await write('app/migrations/versions/002_old.py', "revision = 'changed'\n");
  await write('app/migrations/versions/sub/004_nested.py');
  await write('app/migrations/versions/notes.txt', 'not python');
  await write('app/models.py', 'x = 1');
  await git('add', '.');
  await git('commit', '-q', '-m', 'feature');
  await git('rm', '-q', 'app/migrations/versions/001_base.py');
  await git('commit', '-q', '-m', 'delete');
  // main moves on after the branch point: its new files must not count.
  await git('checkout', '-q', 'main');
  await write('app/migrations/versions/010_on_main.py');
  await git('add', '.');
  await git('commit', '-q', '-m', 'main moves');
  await git('checkout', '-q', 'feature');
  await write('app/migrations/versions/005_untracked.py');
  await write('app/migrations/versions/__init__.py', '');
  await write('app/migrations/versions/.#005_untracked.py', '');
  await write('app/.gitignore', 'ignored_*.py\n');
  await write('app/migrations/versions/ignored_006.py');
  project = await loadAlembicConfig(path.join(dir, 'app/alembic.ini'));
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('added, modified and untracked .py files in the version locations since the merge base', async () => {
  const v = (name: string) => path.join(dir, 'app/migrations/versions', name);
  expect(await migrationFilesAddedSince('main', project)).toEqual([
    v('002_old.py'),
    v('003_new.py'),
    v('005_untracked.py'),
  ]);
  expect(await migrationFilesAddedSince('main', { ...project, recursive: true })).toEqual([
    v('002_old.py'),
    v('003_new.py'),
    v('005_untracked.py'),
    v('sub/004_nested.py'),
  ]);
});

test('unknown ref says what to fetch', async () => {
  const err = await migrationFilesAddedSince('origin/nope', project).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as Error).message).toBe(
    "git ref 'origin/nope' not found; fetch it first (e.g. 'git fetch origin main'; in CI check out with fetch-depth: 0)",
  );
});

test('outside a git repository', async () => {
  const bare = await mkdtemp(path.join(os.tmpdir(), 'mg-nogit-'));
  try {
    const err = await migrationFilesAddedSince('main', { ...project, projectDir: bare }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(
      /is not inside a git repository .*; run from a git checkout or drop --since$/,
    );
  } finally {
    await rm(bare, { recursive: true, force: true });
  }
});
