/**
 * Helpers imported from the app's own modules (found on prepend_sys_path, like env.py's imports)
 * are followed: their operations are judged with the call's arguments, on the migration's line of
 * the call. What cannot be found in a project file keeps its external-call stop.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAlembicConfig } from '../../src/alembic/config.js';
import { followProjectHelpers } from '../../src/alembic/names.js';
import { bodyOf } from '../../src/alembic/packed.js';
import { loadMigrations } from '../../src/alembic/scripts.js';
import { extractBody } from '../../src/classify/extract.js';
import { classifyMigrations, initClassifier } from '../../src/classify/index.js';
import { loadProject } from '../../src/gate/project.js';
import type { ClassifiedMigration, MigrationScript } from '../../src/types.js';

beforeAll(initClassifier);

const ini = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/app-helpers/alembic.ini');

async function load(follow: boolean): Promise<Map<string, ClassifiedMigration>> {
  const project = await loadAlembicConfig(ini);
  const scripts: MigrationScript[] = await loadMigrations(project, { body: extractBody });
  if (follow) await followProjectHelpers(scripts, project);
  const ordered = ['h1_drop_legacy', 'h2_add_flag', 'h3_nested', 'h4_unresolvable'].map((r) =>
    scripts.find((s) => s.revision === r)!,
  );
  return new Map(classifyMigrations(ordered, { scope: 'each' }).map((c) => [c.revision, c]));
}

const summary = (c: ClassifiedMigration) =>
  c.findings.map((f) => ({ rule: f.rule, line: f.line, table: f.table, message: f.message }));

test('without following, every app helper is an external-call stop (the state before)', async () => {
  const by = await load(false);
  expect([...by.values()].map((c) => c.verdict)).toEqual(['unknown', 'unknown', 'unknown', 'unknown']);
});

test("a helper handed op drops the tables of its module's constant list", async () => {
  const c = (await load(true)).get('h1_drop_legacy')!;
  expect(c.verdict).toBe('destructive');
  expect(summary(c)).toEqual([
    expect.objectContaining({ rule: 'drop-table', line: 13, table: 'legacy_sessions' }),
    expect.objectContaining({ rule: 'drop-table', line: 13, table: 'legacy_tokens' }),
  ]);
  // Line 13 shows only the call: the message names the helper that drops.
  expect(c.findings[0]!.message).toMatch(
    /^drop table legacy_sessions: .* \(inside myapp\.migrations_util\.drop_legacy\(\)\)$/,
  );
});

test('a module imported as a name, positional and keyword arguments, defaults: additive', async () => {
  const c = (await load(true)).get('h2_add_flag')!;
  expect(c.findings).toEqual([]);
  expect(c.verdict).toBe('additive');
});

test('helpers calling helpers, the connection handed on, and a re-exported function', async () => {
  const c = (await load(true)).get('h3_nested')!;
  expect(c.verdict).toBe('destructive');
  const rules = summary(c).map((f) => [f.rule, f.line]);
  expect(rules).toEqual([
    ['drop-column', 13],
    // The f-string's {table} is the literal the migration handed the helper.
    ['update-rows', 14],
    ['delete-rows', 15],
  ]);
  expect(c.findings[0]!.message).toContain('users.legacy_id');
});

test('what is outside the project stays an external-call stop, named with the helper it was in', async () => {
  const c = (await load(true)).get('h4_unresolvable')!;
  expect(c.verdict).toBe('unknown');
  const messages = c.findings.map((f) => f.message);
  expect(messages).toEqual([
    expect.stringContaining(
      'calls somevendor.cleanup (inside myapp.sql.run_cleanup(), called from myapp.migrations_util.cleanup())',
    ),
    expect.stringContaining('calls thirdparty.tools.reset_all'),
  ]);
  expect(c.findings.every((f) => f.rule === 'external-call')).toBe(true);
});

describe('through loadProject, as check and run load a project', () => {
  const verdicts = (scripts: MigrationScript[]) =>
    classifyMigrations(
      ['h1_drop_legacy', 'h2_add_flag', 'h3_nested', 'h4_unresolvable'].map((r) =>
        scripts.find((s) => s.revision === r)!,
      ),
      { scope: 'each' },
    ).map((c) => [c.revision, c.verdict, c.findings.map((f) => f.rule)]);
  const expected = [
    ['h1_drop_legacy', 'destructive', ['drop-table', 'drop-table']],
    ['h2_add_flag', 'additive', []],
    ['h3_nested', 'destructive', ['drop-column', 'update-rows', 'delete-rows']],
    ['h4_unresolvable', 'unknown', ['external-call', 'external-call']],
  ];

  test("check's lint mode: packed facts are followed and stay packed", async () => {
    const loaded = await loadProject(ini, { bodies: 'all' });
    const scripts = [...loaded.graph.scripts];
    expect(scripts.every((s) => s.packedBody && !s.body)).toBe(true);
    expect(verdicts(scripts.map((s) => ({ ...s, body: bodyOf(s) })))).toEqual(expected);
  });

  test("run's pending set: the bodies read later are followed too", async () => {
    const loaded = await loadProject(ini, { bodies: 'pending' });
    const scripts = [...loaded.graph.scripts];
    expect(scripts.some((s) => s.body || s.packedBody)).toBe(false);
    await loaded.loadBodies(scripts);
    expect(verdicts(scripts)).toEqual(expected);
  });
});

test('a helper taking *args: what it does with them is run-time data, never harmless', async () => {
  const project = await loadAlembicConfig(ini);
  const scripts = await loadMigrations(project, { body: extractBody });
  await followProjectHelpers(scripts, project);
  const [c] = classifyMigrations([scripts.find((s) => s.revision === 'h5_splat')!], { scope: 'each' });
  expect(c!.verdict).toBe('destructive');
  expect(summary(c!)).toEqual([
    expect.objectContaining({
      rule: 'drop-table',
      line: 12,
      message: expect.stringContaining('(inside myapp.migrations_util.drop_each())'),
    }),
  ]);
});
