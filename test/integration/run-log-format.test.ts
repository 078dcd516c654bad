/**
 * One output format per process, and every sentence once: `run` on the example's blocked migration,
 * in text (the default) and in JSON lines.
 */
import { execa } from 'execa';
import { alembicBin } from '../harness/pg.js';
import { gateSetup, runGateCli, type GateSetup } from '../helpers/gate.js';
import { EXAMPLE_ADDITIVE, EXAMPLE_BASE, EXAMPLE_DESTRUCTIVE } from '../helpers/project.js';

const BLOCKED = 'Blocked: 1 migration needs an override (7c1e2d9a0b3f destructive). Nothing was run.';
const NEXT = 'Next: If you have checked that it is safe, deploy again with MIGRATION_GATE_ALLOW=7c1e2d9a0b3f';

let s: GateSetup;
beforeAll(async () => {
  s = await gateSetup('run_logfmt', [EXAMPLE_BASE, EXAMPLE_ADDITIVE, EXAMPLE_DESTRUCTIVE]);
  await execa(alembicBin(), ['-c', s.project.ini, 'upgrade', '1a2b3c4d5e6f'], {
    cwd: s.project.dir,
    env: { DATABASE_URL: s.db.url },
  });
});
afterAll(async () => {
  await s?.cleanup();
});

const count = (text: string, sentence: string) => text.split(sentence).length - 1;

test('text: the block report appears once, and so does each of its sentences', async () => {
  const res = await runGateCli(s, { MIGRATION_GATE_LOG_FORMAT: '' });
  expect(res.exitCode).toBe(2);
  const all = res.all ?? '';
  expect(count(all, 'DESTRUCTIVE 7c1e2d9a0b3f')).toBe(1);
  expect(count(all, BLOCKED)).toBe(1);
  expect(count(all, NEXT)).toBe(1);
  // Log lines are text too (time, level, message), not JSON.
  expect(all).toMatch(/^\d\d:\d\d:\d\d info {2}step connect: /m);
  expect(all).not.toMatch(/^\{"level"/m);
});

test('json: every line is one JSON object, the report one entry, each sentence once', async () => {
  const res = await runGateCli(s, { MIGRATION_GATE_LOG_FORMAT: 'json' });
  expect(res.exitCode).toBe(2);
  const lines = (res.all ?? '').split('\n').filter((l) => l.trim() !== '');
  const entries = lines.map((l) => JSON.parse(l) as { level: string; message: string; report?: boolean });
  const reports = entries.filter((e) => e.report);
  expect(reports).toHaveLength(1);
  expect(reports[0]!.message).toContain('DESTRUCTIVE 7c1e2d9a0b3f');
  const text = entries.map((e) => e.message).join('\n');
  expect(count(text, BLOCKED)).toBe(1);
  expect(count(text, NEXT)).toBe(1);
});

test('json: a failure ends with its cause as a JSON error entry', async () => {
  const res = await runGateCli(s, {
    MIGRATION_GATE_LOG_FORMAT: 'json',
    DATABASE_URL: 'postgresql://nobody:secret-pw@127.0.0.1:1/none',
  });
  expect(res.exitCode).toBe(4);
  const lines = (res.all ?? '').split('\n').filter((l) => l.trim() !== '');
  const last = JSON.parse(lines.at(-1)!) as { level: string; message: string };
  expect(last.level).toBe('error');
  expect(last.message).toMatch(/^migration-gate: failed: cannot connect to 127\.0\.0\.1:1\/none/);
  for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
  expect(res.all).not.toContain('secret-pw');
});
