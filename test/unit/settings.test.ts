import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import {
  SETTINGS,
  describeSettings,
  formatSettingsReport,
  loadSettings,
  readRenderEnv,
  settingsMarkdownTable,
  unknownSettingWarnings,
} from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors.js';
import { scanEnvReads, tsFilesUnder } from '../helpers/env-reads.js';

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

describe('every environment variable the code reads is a listed setting', () => {
  const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
  const srcDir = path.join(repoRoot, 'src');
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { files: string[] };
  // What the package leaves out of dist/ (the demo) is not the installed tool.
  const notShipped = pkg.files.filter((f) => f.startsWith('!dist/')).map((f) => f.slice('!dist/'.length));
  // `env[s.env]` walks the SETTINGS table itself.
  const fromSettingsTable = (key: ts.Expression) =>
    ts.isPropertyAccessExpression(key) && key.name.text === 'env';
  const listed = new Set(Object.values(SETTINGS).map((s) => s.env));

  test('the scan finds reads in every form the code uses', () => {
    const scan = scanEnvReads(tsFilesUnder(srcDir, notShipped), repoRoot, fromSettingsTable);
    const names = new Set(scan.reads.map((r) => r.name));
    // One of each form: property, computed over a literal list, Render's variables, the S3 ones.
    for (const n of [
      'MIGRATION_GATE_DEBUG',
      'MIGRATION_GATE_S3_ENDPOINT',
      'RENDER_GIT_COMMIT',
      'AWS_REGION',
      'PGOPTIONS',
    ])
      expect(names).toContain(n);
    expect(scan.unresolved).toEqual([]);
  });

  test('settings, and so the README table, list each of them', () => {
    const scan = scanEnvReads(tsFilesUnder(srcDir, notShipped), repoRoot, fromSettingsTable);
    const missing = scan.reads
      .filter((r) => !listed.has(r.name))
      .map((r) => `${r.name} (${r.file}:${r.line})`);
    expect(missing).toEqual([]);
    const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    for (const r of scan.reads) expect(readme).toContain(`| \`${r.name}\` |`);
  });

  test('the demo reads only settings and its own MIGRATION_GATE_DEMO_* knobs (and CI)', () => {
    const scan = scanEnvReads(tsFilesUnder(path.join(srcDir, 'demo')), repoRoot);
    const odd = scan.reads
      .map((r) => r.name)
      .filter((n) => !listed.has(n) && !n.startsWith('MIGRATION_GATE_DEMO_') && n !== 'CI');
    expect(odd).toEqual([]);
  });

  test('the scan itself: a read it cannot resolve is reported, a write is not a read', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-env-scan-'));
    try {
      const file = path.join(dir, 'x.ts');
      writeFileSync(
        file,
        [
          'const a = process.env.ONE;',
          "const b = opts.env['TWO'];",
          'const { THREE } = process.env;',
          "for (const k of ['FOUR', 'FIVE']) use(env[k]);",
          'child.env.SIX = "x";',
          'const c = process.env[someName()];',
        ].join('\n'),
      );
      const scan = scanEnvReads([file], dir);
      expect(scan.reads.map((r) => r.name)).toEqual(['ONE', 'TWO', 'THREE', 'FOUR', 'FIVE']);
      expect(scan.unresolved).toEqual(['x.ts:6: process.env[someName()]']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('values out of range are refused with the allowed range', () => {
  const problemsOf = (env: NodeJS.ProcessEnv) => {
    try {
      loadSettings(env);
      return [];
    } catch (e) {
      return (e as ConfigError).details;
    }
  };

  test('a lock_timeout beyond what PostgreSQL takes', () => {
    expect(problemsOf({ MIGRATION_GATE_LOCK_TIMEOUT: '9999999999999s' })).toEqual([
      expect.stringContaining(
        'MIGRATION_GATE_LOCK_TIMEOUT="9999999999999s" must be a PostgreSQL duration from 0 (off) to 2147483647ms',
      ),
    ]);
    expect(problemsOf({ MIGRATION_GATE_LOCK_TIMEOUT: '2147484s' })).toHaveLength(1);
    expect(loadSettings({ MIGRATION_GATE_LOCK_TIMEOUT: '2147483s' }).lockTimeout).toBe('2147483s');
    expect(loadSettings({ MIGRATION_GATE_STATEMENT_TIMEOUT: '1d' }).statementTimeout).toBe('1d');
  });

  test.each([
    ['MIGRATION_GATE_LOCK_RETRIES', '0x10', 'must be a whole number from 0 to 20'],
    ['MIGRATION_GATE_LOCK_RETRIES', '1e1', 'must be a whole number from 0 to 20'],
    ['MIGRATION_GATE_LOCK_RETRIES', ' 3', 'must be a whole number from 0 to 20'],
    ['MIGRATION_GATE_LOCK_RETRIES', '3 4', 'must be a whole number from 0 to 20'],
    ['MIGRATION_GATE_LOCK_RETRIES', '21', 'must be a whole number from 0 to 20'],
    ['PORT', '65536', 'must be a whole number from 0 to 65535'],
    ['MIGRATION_GATE_DUMP_KEEP_LAST', '99999999999999999999', 'must be a whole number from 1 to'],
    ['MIGRATION_GATE_LOCK_WAIT', '0x10', 'must be a number of seconds from 0 to 1800'],
    ['MIGRATION_GATE_CONNECT_TIMEOUT', '5 s', 'must be a number of seconds from 0.1 to 300'],
    ['MIGRATION_GATE_LOCK_TIMEOUT', '5 s', 'must be a PostgreSQL duration'],
    ['MIGRATION_GATE_STATEMENT_TIMEOUT', ' 5min', 'must be a PostgreSQL duration'],
  ])('%s=%j', (name, value, message) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`${name}=${JSON.stringify(value)} ${message}`);
  });

  test('plain values still parse', () => {
    const s = loadSettings({
      MIGRATION_GATE_LOCK_RETRIES: '0',
      PORT: '10000',
      MIGRATION_GATE_LOCK_WAIT: '0.5',
    });
    expect([s.lockRetries, s.port, s.lockWaitMs]).toEqual([0, 10000, 500]);
  });
});

describe('unknown MIGRATION_GATE_* variables', () => {
  test('a typo is named with the closest setting', () => {
    expect(unknownSettingWarnings({ MIGRATION_GATE_DUMP_TARGT: 's3://b/p', PATH: '/bin' })).toEqual([
      'MIGRATION_GATE_DUMP_TARGT is not a migration-gate setting and is ignored; did you mean MIGRATION_GATE_DUMP_TARGET? (list them with `migration-gate settings`)',
    ]);
  });

  test('a name far from every setting gets no guess; known settings and the test knobs are not warned about', () => {
    expect(unknownSettingWarnings({ MIGRATION_GATE_FROBNICATE_EVERYTHING: '1' })).toEqual([
      'MIGRATION_GATE_FROBNICATE_EVERYTHING is not a migration-gate setting and is ignored (list them with `migration-gate settings`)',
    ]);
    expect(
      unknownSettingWarnings({
        MIGRATION_GATE_DUMP_TARGET: 'x',
        MIGRATION_GATE_TEST_PG: '1',
        MIGRATION_GATE_DEBUG: '1',
      }),
    ).toEqual([]);
  });
});

describe('migration-gate settings: value, source, validity', () => {
  const rowOf = (env: NodeJS.ProcessEnv, name: string) => describeSettings(env).find((r) => r.name === name)!;

  test('secrets: the access key masked, the secret key only as set, passwords out of URLs', () => {
    const env = {
      AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      DATABASE_URL: 'postgresql://app:hunter2@db:5432/app',
      MIGRATION_GATE_STATUS_TOKEN: 'tok-very-secret',
      MIGRATION_GATE_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/secretpath',
    };
    expect(rowOf(env, 'AWS_ACCESS_KEY_ID')).toEqual({
      name: 'AWS_ACCESS_KEY_ID',
      shown: 'AKIA…MPLE',
      source: 'env',
      problem: undefined,
    });
    expect(rowOf(env, 'AWS_SECRET_ACCESS_KEY').shown).toBe('(set)');
    expect(rowOf(env, 'DATABASE_URL').shown).toBe('postgresql://app:***@db:5432/app');
    const report = formatSettingsReport(env);
    for (const secret of ['wJalrXUtnFEMI', 'hunter2', 'tok-very-secret', 'secretpath', 'IOSFODNN7'])
      expect(report).not.toContain(secret);
    expect(rowOf({}, 'AWS_SECRET_ACCESS_KEY')).toMatchObject({ source: 'default' });
    expect(rowOf({}, 'AWS_SECRET_ACCESS_KEY').problem).toBeUndefined();
  });

  test('a bad value is marked invalid with why; S3 values are checked as the S3 target checks them', () => {
    const env = {
      MIGRATION_GATE_LOCK_RETRIES: '0x10',
      MIGRATION_GATE_S3_SSE: 'rot13',
      AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
    };
    expect(rowOf(env, 'MIGRATION_GATE_LOCK_RETRIES').problem).toContain(
      'must be a whole number from 0 to 20',
    );
    expect(rowOf(env, 'MIGRATION_GATE_S3_SSE').problem).toContain(
      'MIGRATION_GATE_S3_SSE must be one of AES256',
    );
    expect(rowOf(env, 'AWS_ACCESS_KEY_ID').problem).toContain('AWS_SECRET_ACCESS_KEY is not');
    const report = formatSettingsReport(env);
    expect(report).toContain('3 invalid values: run and serve refuse to start until fixed.');
    expect(report).toMatch(/^MIGRATION_GATE_LOCK_RETRIES +env +"0x10" +INVALID: must be a whole number/m);
    expect(report).toMatch(/^MIGRATION_GATE_LOCK_TIMEOUT +default +5s +ok$/m);
  });

  test('the report lists every setting once and ends with the unknown-variable warnings', () => {
    const report = formatSettingsReport({ MIGRATION_GATE_LOCK_TIMOUT: '5s' });
    for (const s of Object.values(SETTINGS))
      expect(report.match(new RegExp(`^${s.env} `, 'gm'))).toHaveLength(1);
    expect(report).toContain(
      'Warning: MIGRATION_GATE_LOCK_TIMOUT is not a migration-gate setting and is ignored; did you mean MIGRATION_GATE_LOCK_TIMEOUT?',
    );
  });
});
