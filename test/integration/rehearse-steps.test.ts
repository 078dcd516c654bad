/**
 * `rehearse` as a pipeline of named steps, on the real harness (test cluster, real pg_dump,
 * pg_restore and alembic): each step is timed in the log and the report, and a failure names the
 * step it happened in, whether the migration fails on the copy or the copy cannot be made.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { loadSettings } from '../../src/config/settings.js';
import { ConfigError, FailedError } from '../../src/errors.js';
import { rehearse } from '../../src/rehearse/rehearse.js';
import { formatRehearsalText } from '../../src/rehearse/report.js';
import { adminQuery, alembicBin, createTestDatabase, serverUrl, type TestDatabase } from '../harness/pg.js';
import { rehearseProject, type TempProject } from '../helpers/project.js';

const BASE = 'a1b2c3d4e5f6';
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const projects = new Map<string, TempProject>();
function fixtureDir(name: string): string {
  let project = projects.get(name);
  if (!project) {
    project = rehearseProject(name);
    projects.set(name, project);
    const p = project;
    cleanups.push(() => p.cleanup());
  }
  return project.dir;
}

async function production(fixture: string): Promise<TestDatabase> {
  const db = await createTestDatabase(`steps_${fixture}`);
  cleanups.push(() => db.drop());
  const dir = fixtureDir(fixture);
  await execa(alembicBin(), ['-c', path.join(dir, 'alembic.ini'), 'upgrade', BASE], {
    cwd: dir,
    env: { DATABASE_URL: db.url },
  });
  await adminQuery("INSERT INTO items (note, qty) VALUES ('a', 1), (NULL, 2), ('c', 3)", [], db.name);
  return db;
}

function settingsFor(fixture: string, databaseUrl: string) {
  return loadSettings({
    DATABASE_URL: databaseUrl,
    REHEARSAL_DATABASE_URL: serverUrl('postgres'),
    ALEMBIC_CONFIG: path.join(fixtureDir(fixture), 'alembic.ini'),
    MIGRATION_GATE_ALEMBIC: alembicBin(),
  });
}

function logger(lines: string[]) {
  const push = (m: string) => void lines.push(m);
  return { info: push, warn: push, error: push };
}

/** The step lines of the log ("step restore: 1.2s", "step dump: failed after 0.1s"), in order. */
function stepLines(lines: string[]): string[] {
  return lines.filter((l) => l.startsWith('step '));
}

async function scratchDatabases(): Promise<string[]> {
  const rows = await adminQuery<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE datname LIKE 'mg\\_rehearsal\\_%'",
  );
  return rows.map((r) => r.datname);
}

describe('rehearse steps', () => {
  test('a passing rehearsal logs every step with its time; the fresh dump streams into the scratch copy', async () => {
    const db = await production('pass');
    const lines: string[] = [];
    const before = await scratchDatabases();
    const report = await rehearse({
      settings: settingsFor('pass', db.url),
      cwd: fixtureDir('pass'),
      logger: logger(lines),
      keep: true,
    });
    cleanups.push(
      async () =>
        void (await adminQuery(`DROP DATABASE IF EXISTS "${report.scratch.database}" WITH (FORCE)`)),
    );
    expect(report.passed).toBe(true);
    const steps = stepLines(lines);
    for (const s of steps) expect(s).toMatch(/^step [a-z]+: \d+\.\ds$/);
    const names = steps.map((s) => s.split(/[ :]/)[1]);
    // dump and scratch overlap, so either may finish first; everything else is in pipeline order.
    expect([...names].sort()).toEqual(
      ['preflight', 'dump', 'scratch', 'restore', 'analyze', 'plan', 'upgrade', 'report', 'cleanup'].sort(),
    );
    expect(names[0]).toBe('preflight');
    expect(names.slice(-5)).toEqual(['analyze', 'plan', 'upgrade', 'report', 'cleanup']);
    expect(names.indexOf('restore')).toBeGreaterThan(names.indexOf('scratch'));
    // The report lists the steps that ran before it was written.
    expect(report.steps.map((s) => s.step)).toEqual(names.slice(0, -2));
    expect(report.failedStep).toBeUndefined();
    expect(report.source.description).toMatch(/^pg_dump of .*\(streamed\)$/);
    expect(report.source.bytes).toBeGreaterThan(0);
    expect(lines.some((l) => l.includes('pg_dump -Fc | pg_restore'))).toBe(true);
    expect(report.restore).toMatchObject({ streamed: true, jobs: 1 });
    expect(formatRehearsalText(report)).toMatch(
      /^Restore: {2}\d+\.\d\ds \(pg_dump streamed into pg_restore\)$/m,
    );
    // The streamed copy is whole: the rows are there and the migration ran on it.
    const items = await adminQuery<{ n: string }>(
      'SELECT count(*) AS n FROM items',
      [],
      report.scratch.database,
    );
    expect(Number(items[0]!.n)).toBe(3);
    expect(await scratchDatabases()).toEqual([...before, report.scratch.database].sort());
  });

  test('without REHEARSAL_DATABASE_URL the stream goes into a throwaway local cluster, stopped and removed after', async () => {
    const db = await production('pass');
    const lines: string[] = [];
    const settings = loadSettings({
      DATABASE_URL: db.url,
      ALEMBIC_CONFIG: path.join(fixtureDir('pass'), 'alembic.ini'),
      MIGRATION_GATE_ALEMBIC: alembicBin(),
    });
    const report = await rehearse({ settings, cwd: fixtureDir('pass'), logger: logger(lines) });
    expect(report.passed).toBe(true);
    expect(report.scratch.kind).toBe('local-cluster');
    expect(report.source.description).toContain('(streamed)');
    const [m] = report.migrations;
    expect(m!.tables.find((t) => t.table === 'items')).toMatchObject({ rowsBefore: 3, rowsAfter: 3 });
    const dir = lines.map((l) => /throwaway PostgreSQL cluster in (\S+)/.exec(l)?.[1]).find(Boolean);
    expect(dir).toBeDefined();
    expect(existsSync(dir!)).toBe(false);
  });

  test('--jobs takes the dump-to-file path with pg_restore -j; the same steps are logged', async () => {
    const db = await production('pass');
    const lines: string[] = [];
    const report = await rehearse({
      settings: settingsFor('pass', db.url),
      cwd: fixtureDir('pass'),
      logger: logger(lines),
      jobs: 2,
    });
    expect(report.passed).toBe(true);
    expect(report.restore).toMatchObject({ streamed: false, jobs: 2 });
    expect(formatRehearsalText(report)).toMatch(/^Restore: {2}\d+\.\d\ds \(pg_restore -j 2\)$/m);
    expect(report.source.description).not.toContain('streamed');
    expect(lines).toContain(`Restoring ${report.source.description} with pg_restore -j 2.`);
    const names = stepLines(lines).map((s) => s.split(/[ :]/)[1]);
    expect(names).toEqual(expect.arrayContaining(['dump', 'scratch', 'restore', 'upgrade', 'cleanup']));
  });

  test('a migration that fails on the copy: the report says it failed at: upgrade, with the statement', async () => {
    const db = await production('notnull');
    const lines: string[] = [];
    const report = await rehearse({
      settings: settingsFor('notnull', db.url),
      cwd: fixtureDir('notnull'),
      logger: logger(lines),
    });
    expect(report.passed).toBe(false);
    expect(report.failedStep).toBe('upgrade');
    expect(report.summary).toMatch(
      /^Rehearsal FAILED at: upgrade: c3d4e5f6a7b8 failed on the scratch copy after \d+\.\ds: .*(NotNullViolation|contains null values).*\(statement: ALTER TABLE items ALTER COLUMN note SET NOT NULL\)\. Fix the migration and rehearse again\. Production was not touched\.$/,
    );
    // No smoke or roundtrip after a failed upgrade; the scratch database still goes.
    expect(
      stepLines(lines)
        .map((s) => s.split(/[ :]/)[1])
        .slice(-3),
    ).toEqual(['upgrade', 'report', 'cleanup']);
    expect(await scratchDatabases()).not.toContain(report.scratch.database);
  });

  test('a dump that is not an archive: "rehearsal failed at: restore" with pg_restore\'s reason; scratch dropped', async () => {
    const db = await production('pass');
    const junk = path.join(fixtureDir('pass'), 'not-a-dump.dump');
    writeFileSync(junk, 'this is not a pg_dump archive\n');
    const lines: string[] = [];
    const before = await scratchDatabases();
    const running = rehearse({
      settings: settingsFor('pass', db.url),
      cwd: fixtureDir('pass'),
      logger: logger(lines),
      dump: junk,
    });
    await expect(running).rejects.toThrow(FailedError);
    await expect(running).rejects.toThrow(
      /^rehearsal failed at: restore: pg_restore into the scratch database failed \(exit 1\): pg_restore: error: input file does not appear to be a valid archive.*; check the dump with pg_restore --list$/,
    );
    expect(stepLines(lines)).toContainEqual(expect.stringMatching(/^step restore: failed after \d+\.\ds$/));
    expect(stepLines(lines).at(-1)).toMatch(/^step cleanup: /);
    expect(await scratchDatabases()).toEqual(before);
  });

  test('pg_dump fails while the scratch database is made: "failed at: dump", scratch dropped, no password', async () => {
    const db = await production('pass');
    const missing = new URL(db.url);
    missing.pathname = '/no_such_database_here';
    const lines: string[] = [];
    const before = await scratchDatabases();
    const running = rehearse({
      settings: settingsFor('pass', missing.href),
      cwd: fixtureDir('pass'),
      logger: logger(lines),
    });
    await expect(running).rejects.toThrow(FailedError);
    const err = (await running.catch((e: unknown) => e)) as FailedError;
    expect(err.message).toMatch(
      /^rehearsal failed at: dump: pg_dump of .*\/no_such_database_here failed: .*"no_such_database_here" does not exist; check DATABASE_URL, or rehearse on a stored dump with --dump latest$/,
    );
    expect(err.message).not.toContain(new URL(db.url).password);
    expect(stepLines(lines)).toContainEqual(expect.stringMatching(/^step dump: failed after/));
    expect(await scratchDatabases()).toEqual(before);
  });

  test('a broken project fails at: preflight, before anything is dumped', async () => {
    const db = await production('pass');
    const lines: string[] = [];
    const settings = loadSettings({
      DATABASE_URL: db.url,
      REHEARSAL_DATABASE_URL: serverUrl('postgres'),
      ALEMBIC_CONFIG: path.join(fixtureDir('pass'), 'no-such-alembic.ini'),
      MIGRATION_GATE_ALEMBIC: alembicBin(),
    });
    const running = rehearse({ settings, cwd: fixtureDir('pass'), logger: logger(lines) });
    await expect(running).rejects.toThrow(ConfigError);
    await expect(running).rejects.toThrow(/^rehearsal failed at: preflight: /);
    expect(stepLines(lines).map((s) => s.split(/[ :]/)[1])).toEqual(['preflight', 'cleanup']);
  });
});
