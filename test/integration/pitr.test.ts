/**
 * Point-in-time recovery on the way back, with the Render API through nock and a real database,
 * dump and alembic: `run` records the recovery status and the moment just before the upgrade,
 * blocks by setting, and `restore --pitr` explains, then asks Render for the new instance.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import nock from 'nock';
import pg from 'pg';
import { loadSettings, readRenderEnv } from '../../src/config/settings.js';
import type { RunRecovery } from '../../src/db/history.js';
import { BlockedError, FailedError } from '../../src/errors.js';
import { runGate } from '../../src/gate/run.js';
import { createLogger } from '../../src/log.js';
import { pitrRestore } from '../../src/render/pitr-restore.js';
import { alembicBin, createTestDatabase, type TestDatabase } from '../harness/pg.js';
import { API_KEY, PG_ID, RENDER } from '../helpers/render-api.js';
import { EXAMPLE_ADDITIVE, EXAMPLE_BASE, tempProject, type TempProject } from '../helpers/project.js';

const cleanups: Array<() => unknown> = [];
beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});
afterEach(() => nock.cleanAll());
afterAll(async () => {
  nock.enableNetConnect();
  nock.restore();
  for (const c of cleanups.reverse()) await c();
});

interface Setup {
  db: TestDatabase;
  project: TempProject;
  dumps: string;
  env: Record<string, string>;
}

async function setup(name: string, env: Record<string, string> = {}): Promise<Setup> {
  const db = await createTestDatabase(name);
  const project = tempProject([], { withExample: [EXAMPLE_BASE, EXAMPLE_ADDITIVE] });
  const dumps = mkdtempSync(path.join(os.tmpdir(), 'mg-pitr-dumps-'));
  cleanups.push(
    () => db.drop(),
    () => project.cleanup(),
    () => rmSync(dumps, { recursive: true, force: true }),
  );
  return {
    db,
    project,
    dumps,
    env: {
      DATABASE_URL: db.url,
      ALEMBIC_CONFIG: project.ini,
      MIGRATION_GATE_ALEMBIC: alembicBin(),
      MIGRATION_GATE_DUMP_TARGET: `file://${dumps}`,
      RENDER_API_KEY: API_KEY,
      MIGRATION_GATE_RENDER_POSTGRES_ID: PG_ID,
      ...env,
    },
  };
}

async function gate(s: Setup) {
  const log = new PassThrough();
  let text = '';
  log.on('data', (b: Buffer) => (text += b.toString()));
  const result = await runGate({
    settings: loadSettings(s.env),
    render: readRenderEnv({}),
    logger: createLogger({ format: 'text', level: 'info', redact: (t) => t, stream: log }),
    cwd: s.project.dir,
  }).catch((err: unknown) => err);
  return { result, text };
}

async function lastRun(db: TestDatabase) {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    const r = await c.query<{
      id: string;
      outcome: string;
      recovery: RunRecovery | null;
      started_at: Date;
      finished_at: Date;
      warnings: string[];
      dump: unknown;
    }>(
      'SELECT id, outcome, recovery, started_at, finished_at, warnings, dump FROM migration_gate.runs ORDER BY id DESC LIMIT 1',
    );
    const v = await c.query("SELECT to_regclass('public.alembic_version') AS t");
    return { ...r.rows[0]!, migrated: v.rows[0].t !== null };
  } finally {
    await c.end();
  }
}

const recoveryPath = `/v1/postgres/${PG_ID}/recovery`;
const maintenancePath = '/v1/maintenance';
const windowStart = '2026-11-26T07:00:00Z';

function render(status: string, maintenance: unknown[] = []) {
  return nock(RENDER, { reqheaders: { authorization: `Bearer ${API_KEY}` } })
    .get(recoveryPath)
    .reply(200, { recoveryStatus: status, startsAt: windowStart })
    .get(maintenancePath)
    .query({ resourceId: PG_ID, state: 'scheduled,in_progress' })
    .reply(200, maintenance);
}

let recorded: { db: TestDatabase; runId: number; at: string } | undefined;

test('run records the recovery status and the exact time just before the upgrade', async () => {
  const s = await setup('pitr_ok');
  const scope = render('AVAILABLE');
  const { result, text } = await gate(s);
  scope.done();
  expect(result).toMatchObject({ outcome: 'migrated' });
  expect(text).toContain(`Point-in-time recovery is AVAILABLE for ${PG_ID} (window from ${windowStart})`);
  const run = await lastRun(s.db);
  expect(run.recovery).toMatchObject({
    provider: 'render',
    postgresId: PG_ID,
    status: 'AVAILABLE',
    windowStartsAt: windowStart,
    maintenance: [],
  });
  // Taken after the dump (which is in history) and before the upgrade finished.
  const at = new Date(run.recovery!.upgradeStartedAt!);
  expect(at.getTime()).toBeGreaterThanOrEqual(run.started_at.getTime());
  expect(at.getTime()).toBeLessThanOrEqual(run.finished_at.getTime());
  expect(run.recovery!.checkedAt <= run.recovery!.upgradeStartedAt!).toBe(true);
  recorded = { db: s.db, runId: Number(run.id), at: run.recovery!.upgradeStartedAt! };
});

test('MIGRATION_GATE_REQUIRE_PITR=true and NOT_AVAILABLE: blocked before the dump, nothing migrated', async () => {
  const s = await setup('pitr_required', { MIGRATION_GATE_REQUIRE_PITR: 'true' });
  render('NOT_AVAILABLE');
  const { result } = await gate(s);
  expect(result).toBeInstanceOf(BlockedError);
  expect((result as Error).message).toBe(
    `point-in-time recovery is not available for ${PG_ID} (NOT_AVAILABLE: Free instances have none), and MIGRATION_GATE_REQUIRE_PITR=true: the migration did not run. Wait for the backup (BACKUP_NOT_READY), move the database to a paid plan, or unset MIGRATION_GATE_REQUIRE_PITR to rely on the safety dump alone`,
  );
  const run = await lastRun(s.db);
  expect(run).toMatchObject({ outcome: 'blocked', migrated: false, dump: null });
  expect(run.recovery).toMatchObject({ status: 'NOT_AVAILABLE' });
  expect(readdirSync(s.dumps)).toEqual([]);
});

test('scheduled maintenance: a warning by default, a block with MIGRATION_GATE_MAINTENANCE_POLICY=block', async () => {
  const m = [{ id: 'mrn-1', state: 'scheduled', scheduledAt: '2026-12-03T09:00:00Z' }];
  const warned = await setup('pitr_maint_warn');
  render('AVAILABLE', m);
  const w = await gate(warned);
  expect(w.result).toMatchObject({ outcome: 'migrated' });
  expect(w.text).toContain(
    `Render maintenance on ${PG_ID}: mrn-1 (scheduled at 2026-12-03T09:00:00Z); a restart during the migration would fail it midway. Consider deploying after it.`,
  );
  const blocked = await setup('pitr_maint_block', { MIGRATION_GATE_MAINTENANCE_POLICY: 'block' });
  render('AVAILABLE', m);
  const b = await gate(blocked);
  expect(b.result).toBeInstanceOf(BlockedError);
  expect((b.result as Error).message).toContain(
    'MIGRATION_GATE_MAINTENANCE_POLICY=block: the migration did not run',
  );
  expect(await lastRun(blocked.db)).toMatchObject({ outcome: 'blocked', migrated: false });
});

test('restore --pitr explains first, asks Render only with --yes, and prints the new instance', async () => {
  expect(recorded).toBeDefined();
  const { db, runId, at } = recorded!;
  const settings = loadSettings({
    DATABASE_URL: db.url,
    RENDER_API_KEY: API_KEY,
    MIGRATION_GATE_RENDER_POSTGRES_ID: PG_ID,
  });
  const later = () => new Date(Date.parse(at) + 11 * 60_000);

  const lines: string[] = [];
  const plan = nock(RENDER)
    .get(recoveryPath)
    .reply(200, { recoveryStatus: 'AVAILABLE', startsAt: windowStart });
  expect(await pitrRestore({ settings, yes: false, say: (l) => lines.push(l), now: later })).toBeUndefined();
  plan.done();
  expect(lines[0]).toContain(
    `Point-in-time recovery of ${PG_ID} to ${at}, just before run #${runId}'s upgrade (base -> fd4af8236c7d)`,
  );
  const text = lines.join('\n');
  expect(text).toContain('Render creates a NEW database instance');
  expect(text).toContain('billed');
  expect(text).toContain('same plan as the original or higher');
  expect(text).toContain('Render cannot recover the last 10 minutes');
  expect(text).toContain('repoint everything at the new instance: DATABASE_URL');
  expect(lines.at(-1)).toBe(
    `Nothing was requested. Re-run with --yes to ask Render for the recovery: migration-gate restore --pitr --run ${runId} --yes`,
  );

  const said: string[] = [];
  const go = nock(RENDER)
    .get(recoveryPath)
    .reply(200, { recoveryStatus: 'AVAILABLE', startsAt: windowStart })
    .post(recoveryPath, { restoreTime: at, restoreName: `${PG_ID}-before-run-${runId}` })
    .reply(200, {
      id: 'dpg-newinstance123',
      name: `${PG_ID}-before-run-${runId}`,
      plan: 'pro_4gb',
      status: 'creating',
      dashboardUrl: 'https://dashboard.render.com/d/dpg-newinstance123',
    });
  const created = await pitrRestore({ settings, runId, yes: true, say: (l) => said.push(l), now: later });
  go.done();
  expect(created?.id).toBe('dpg-newinstance123');
  expect(said).toContain(
    `Render is creating dpg-newinstance123 ("${PG_ID}-before-run-${runId}") on plan pro_4gb, status creating: https://dashboard.render.com/d/dpg-newinstance123.`,
  );

  // Within the last 10 minutes: refused before anything is requested.
  nock(RENDER).get(recoveryPath).reply(200, { recoveryStatus: 'AVAILABLE', startsAt: windowStart });
  const soon = await pitrRestore({
    settings,
    runId,
    yes: true,
    say: () => undefined,
    now: () => new Date(Date.parse(at) + 120_000),
  }).catch((e: unknown) => e);
  expect(soon).toBeInstanceOf(FailedError);
  expect((soon as Error).message).toContain(
    'is less than 10 minutes ago, and Render cannot recover the last 10 minutes: retry after',
  );
});
