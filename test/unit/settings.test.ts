import { readFileSync } from 'node:fs';
import { loadSettings, readRenderEnv, settingsMarkdownTable } from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors.js';

test('defaults apply when nothing is set', () => {
  const s = loadSettings({});
  expect(s.alembicConfig).toBe('alembic.ini');
  expect(s.versionTable).toBe('alembic_version');
  expect(s.historySchema).toBe('migration_gate');
  expect(s.lockTimeout).toBe('5s');
  expect(s.connectTimeoutMs).toBe(10_000);
  expect(s.allow).toEqual([]);
});

test('every problem is listed in one error, without secret values', () => {
  let err: unknown;
  try {
    loadSettings(
      {
        DATABASE_URL: 'mysql://root:hunter2@db/x',
        MIGRATION_GATE_LOCK_TIMEOUT: 'soon',
        MIGRATION_GATE_DUMP_POLICY: 'sometimes',
        MIGRATION_GATE_ALLOW: 'abc123',
        MIGRATION_GATE_CONNECT_TIMEOUT: '-1',
      },
      ['databaseUrl'],
    );
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  const e = err as ConfigError;
  expect(e.message).toBe('5 configuration problems: fix the settings below and re-run');
  const text = e.details.join('\n');
  expect(text).toContain('DATABASE_URL=(value hidden) must start with postgres://');
  expect(text).toContain('MIGRATION_GATE_LOCK_TIMEOUT="soon" must be a PostgreSQL duration');
  expect(text).toContain('MIGRATION_GATE_DUMP_POLICY="sometimes" must be one of pending, always, never');
  expect(text).toContain('MIGRATION_GATE_ALLOW is set without MIGRATION_GATE_ALLOW_REASON');
  expect(text).toContain('MIGRATION_GATE_CONNECT_TIMEOUT="-1"');
  expect(text).not.toContain('hunter2');
});

test('a required setting that is missing is named with what it is for', () => {
  expect(() => loadSettings({}, ['databaseUrl'])).toThrow(ConfigError);
  try {
    loadSettings({}, ['databaseUrl']);
  } catch (e) {
    expect((e as ConfigError).details[0]).toContain('DATABASE_URL is not set: The database to gate.');
  }
});

test('SQLAlchemy-style URLs and lists parse', () => {
  const s = loadSettings({
    DATABASE_URL: 'postgresql+psycopg2://u:p@h:5432/db',
    MIGRATION_GATE_ALLOW: 'a1, b2',
    MIGRATION_GATE_ALLOW_REASON: 'reviewed',
    MIGRATION_GATE_LOCK_WAIT: '2.5',
  });
  expect(s.databaseUrl).toBe('postgresql+psycopg2://u:p@h:5432/db');
  expect(s.allow).toEqual(['a1', 'b2']);
  expect(s.lockWaitMs).toBe(2500);
});

test("Render's variables are read when present and none is required", () => {
  expect(readRenderEnv({})).toEqual({
    onRender: false,
    commit: undefined,
    service: undefined,
    serviceId: undefined,
    isPullRequest: undefined,
  });
  expect(
    readRenderEnv({
      RENDER: 'true',
      RENDER_GIT_COMMIT: 'abc',
      RENDER_SERVICE_NAME: 'api',
      IS_PULL_REQUEST: 'true',
    }),
  ).toMatchObject({
    onRender: true,
    commit: 'abc',
    service: 'api',
    isPullRequest: true,
  });
});

test('the README lists every setting exactly as the code defines it', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const block = readme.split('<!-- settings:start -->')[1]!.split('<!-- settings:end -->')[0]!.trim();
  expect(block).toBe(settingsMarkdownTable());
});

test('S3 problems are listed with the other settings problems in the same message', () => {
  try {
    loadSettings({
      MIGRATION_GATE_DUMP_TARGET: 's3://my-bucket/dumps',
      MIGRATION_GATE_S3_FORCE_PATH_STYLE: 'maybe',
      MIGRATION_GATE_LOCK_TIMEOUT: 'soon',
    });
    throw new Error('expected a ConfigError');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).message).toBe('2 configuration problems: fix the settings below and re-run');
    expect((e as ConfigError).details.join('\n')).toContain(
      'MIGRATION_GATE_S3_FORCE_PATH_STYLE must be true or false',
    );
  }
});
