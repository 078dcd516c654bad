/**
 * `rehearse` against the real thing: a "production" database on the test cluster, a fresh pg_dump of
 * it, a scratch database on REHEARSAL_DATABASE_URL (the same test server), real alembic.
 */
import path from 'node:path';
import { execa } from 'execa';
import { loadSettings } from '../../src/config/settings.js';
import { FailedError } from '../../src/errors.js';
import { rehearse, type RehearsalReport } from '../../src/rehearse/rehearse.js';
import {
  formatRehearsalJson,
  formatRehearsalMarkdown,
  formatRehearsalText,
} from '../../src/rehearse/report.js';
import { adminQuery, alembicBin, createTestDatabase, serverUrl, type TestDatabase } from '../harness/pg.js';
import { rehearseProject, type TempProject } from '../helpers/project.js';

const BASE = 'a1b2c3d4e5f6';
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const projects = new Map<string, TempProject>();
/** The fixture's project directory (built once per test file). */
function fixtureDir(name: string): string {
  let project = projects.get(name);
  if (!project) {
    const p = rehearseProject(name);
    projects.set(name, p);
    cleanups.push(async () => p.cleanup());
    project = p;
  }
  return project.dir;
}

/** "Production": the fixture at its base revision with three items, one without a note. */
async function production(fixture: string): Promise<TestDatabase> {
  const db = await createTestDatabase(`prod_${fixture}`);
  cleanups.push(() => db.drop());
  const dir = fixtureDir(fixture);
  await execa(alembicBin(), ['-c', path.join(dir, 'alembic.ini'), 'upgrade', BASE], {
    cwd: dir,
    env: { DATABASE_URL: db.url },
  });
  await adminQuery("INSERT INTO items (note, qty) VALUES ('a', 1), (NULL, 2), ('c', 3)", [], db.name);
  return db;
}

function settingsFor(fixture: string, db: TestDatabase, extra: Record<string, string> = {}) {
  return loadSettings({
    DATABASE_URL: db.url,
    REHEARSAL_DATABASE_URL: serverUrl('postgres'),
    ALEMBIC_CONFIG: path.join(fixtureDir(fixture), 'alembic.ini'),
    MIGRATION_GATE_ALEMBIC: alembicBin(),
    ...extra,
  });
}

function logger(lines: string[]) {
  const push = (m: string) => void lines.push(m);
  return { info: push, warn: push, error: push };
}

async function scratchGone(lines: string[]): Promise<string> {
  const name = lines.map((l) => /Scratch database (\S+)/.exec(l)?.[1]).find(Boolean);
  expect(name).toMatch(/^mg_rehearsal_/);
  const rows = await adminQuery('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  expect(rows).toHaveLength(0);
  return name!;
}

async function productionRevision(db: TestDatabase): Promise<string[]> {
  return (
    await adminQuery<{ version_num: string }>('SELECT version_num FROM alembic_version', [], db.name)
  ).map((r) => r.version_num);
}

describe('rehearse', () => {
  test('a passing rehearsal reports time, the locks of a non-concurrent index, table rows and sizes; scratch dropped', async () => {
    const db = await production('pass');
    const lines: string[] = [];
    const report = await rehearse({
      settings: settingsFor('pass', db),
      cwd: fixtureDir('pass'),
      logger: logger(lines),
      jobs: 2,
    });
    expect(report.passed).toBe(true);
    expect(report.outcome).toBe('passed');
    expect(report.source.kind).toBe('fresh');
    expect(report.fromRevisions).toEqual([BASE]);
    expect(report.reachedRevisions).toEqual(['b2c3d4e5f6a7']);
    expect(report.restore.jobs).toBe(2);
    const [m] = report.migrations;
    expect(m!.revision).toBe('b2c3d4e5f6a7');
    expect(m!.ok).toBe(true);
    expect(m!.durationMs).toBeGreaterThan(400);
    const share = m!.locks.find((l) => l.relation === 'items' && l.mode === 'ShareLock');
    expect(share).toBeDefined();
    expect(share!.heldMs).toBeGreaterThanOrEqual(300);
    const items = m!.tables.find((t) => t.table === 'items');
    expect(items).toMatchObject({ rowsBefore: 3, rowsAfter: 3, exact: true });
    expect(items!.bytesAfter!).toBeGreaterThan(items!.bytesBefore!); // the new index
    expect(await productionRevision(db)).toEqual([BASE]);
    await scratchGone(lines);

    const text = formatRehearsalText(report);
    expect(text).toContain('Rehearsal passed: 1 migration (a1b2c3d4e5f6 -> b2c3d4e5f6a7)');
    expect(text).toMatch(/items: ShareLock ~\d+ ms/);
    expect(text).toContain('items: 3 -> 3 rows');
    expect(JSON.parse(formatRehearsalJson(report)).migrations[0].revision).toBe('b2c3d4e5f6a7');
    expect(formatRehearsalMarkdown(report)).toContain('### migration-gate rehearsal: passed');
  });

  test('a failing migration (NOT NULL over NULLs) names the statement; production untouched; scratch dropped', async () => {
    const db = await production('notnull');
    const lines: string[] = [];
    const report = await rehearse({
      settings: settingsFor('notnull', db),
      cwd: fixtureDir('notnull'),
      logger: logger(lines),
    });
    expect(report.passed).toBe(false);
    expect(report.outcome).toBe('migration-failed');
    const [m] = report.migrations;
    expect(m!.ok).toBe(false);
    expect(m!.error!.message).toMatch(/NotNullViolation|contains null values/);
    expect(m!.error!.statement).toBe('ALTER TABLE items ALTER COLUMN note SET NOT NULL');
    expect(report.summary).toContain('c3d4e5f6a7b8 failed on the scratch copy');
    expect(report.summary).toContain('Production was not touched');
    expect(formatRehearsalText(report)).toContain(
      'failing statement: ALTER TABLE items ALTER COLUMN note SET NOT NULL',
    );
    expect(report.reachedRevisions).toEqual([BASE]);
    expect(await productionRevision(db)).toEqual([BASE]);
    const nulls = await adminQuery('SELECT id FROM items WHERE note IS NULL', [], db.name);
    expect(nulls).toHaveLength(1);
    await scratchGone(lines);
  });

  test('--smoke: the command sees DATABASE_URL of the scratch database; its exit code decides', async () => {
    const db = await production('pass');
    const cwd = fixtureDir('pass');
    const ok = await rehearse({
      settings: settingsFor('pass', db),
      cwd,
      smoke: `psql "$(echo "$DATABASE_URL" | sed 's/+psycopg2//')" -tAc "SELECT count(*) FROM items WHERE qty > 0" | grep -qx 3`,
    });
    expect(ok.smoke).toMatchObject({ passed: true, exitCode: 0 });
    expect(ok.passed).toBe(true);

    const bad = await rehearse({
      settings: settingsFor('pass', db),
      cwd,
      smoke: 'echo "health check failed" >&2; exit 7',
    });
    expect(bad.passed).toBe(false);
    expect(bad.outcome).toBe('smoke-failed');
    expect(bad.smoke).toMatchObject({ passed: false, exitCode: 7 });
    expect(bad.smoke!.output).toContain('health check failed');
    expect(bad.summary).toContain('the smoke command exited 7');
  });

  test('--roundtrip catches a downgrade that does not undo its upgrade', async () => {
    const db = await production('badroundtrip');
    const report = await rehearse({
      settings: settingsFor('badroundtrip', db),
      cwd: fixtureDir('badroundtrip'),
      roundtrip: true,
    });
    expect(report.outcome).toBe('roundtrip-failed');
    expect(report.roundtrip!.passed).toBe(false);
    expect(report.roundtrip!.downgradeTo).toBe(BASE);
    expect(report.roundtrip!.diff).toEqual(['+ color character varying(20)']);
    expect(formatRehearsalText(report)).toContain('+ color character varying(20)');
  });

  test('--roundtrip passes for a downgrade that undoes its upgrade', async () => {
    const db = await production('pass');
    const report = await rehearse({
      settings: settingsFor('pass', db),
      cwd: fixtureDir('pass'),
      roundtrip: true,
    });
    expect(report.roundtrip).toMatchObject({ passed: true, diff: [] });
    expect(report.passed).toBe(true);
  });

  test('Ctrl-C in the middle of a migration: interrupted, scratch database dropped, production untouched', async () => {
    const db = await production('slow');
    const lines: string[] = [];
    const ac = new AbortController();
    const log = logger(lines);
    const started = Date.now();
    const running = rehearse({
      settings: settingsFor('slow', db),
      cwd: fixtureDir('slow'),
      signal: ac.signal,
      logger: {
        ...log,
        info: (m: string) => {
          log.info(m);
          if (m.startsWith('Rehearsing e5f6a7b8c9d0')) setTimeout(() => ac.abort(new Error('SIGINT')), 1500);
        },
      },
    });
    await expect(running).rejects.toThrow(FailedError);
    await expect(running).rejects.toThrow(/interrupted/);
    expect(Date.now() - started).toBeLessThan(30_000);
    await scratchGone(lines);
    expect(await productionRevision(db)).toEqual([BASE]);
  });

  test('--keep leaves the scratch database and says how to connect', async () => {
    const db = await production('pass');
    const report: RehearsalReport = await rehearse({
      settings: settingsFor('pass', db),
      cwd: fixtureDir('pass'),
      keep: true,
    });
    cleanups.push(
      async () =>
        void (await adminQuery(`DROP DATABASE IF EXISTS "${report.scratch.database}" WITH (FORCE)`)),
    );
    expect(report.scratch.kept).toBe(true);
    expect(report.scratch.connect).toContain(`DROP DATABASE ${report.scratch.database}`);
    expect(report.scratch.connect).not.toContain(new URL(serverUrl('postgres')).password);
    const rows = await adminQuery<{ version_num: string }>(
      'SELECT version_num FROM alembic_version',
      [],
      report.scratch.database,
    );
    expect(rows.map((r) => r.version_num)).toEqual(['b2c3d4e5f6a7']);
  });
});
