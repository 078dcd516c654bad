/** The README's first command, non-interactive: the transcript must tell the whole story. */
import path from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../helpers/project.js';

test('the demo migrates the additive release, blocks the destructive one, then lets the override through', async () => {
  const res = await execa('node', [path.join(repoRoot, 'dist/demo/demo.js')], {
    cwd: repoRoot,
    env: { CI: 'true', MIGRATION_GATE_DEMO_EXIT: '1' },
    reject: false,
    all: true,
    timeout: 180_000,
  });
  const t = res.all ?? '';
  expect(res.exitCode).toBe(0);
  expect(t).toContain('Base schema applied and seeded: 12 users, 18 projects.');
  // Deploy #1: additive, dumped and verified, migrated.
  expect(t).toContain('additive    fd4af8236c7d');
  expect(t).toMatch(/Safety dump verified: .*1a2b3c4d5e6f_to_fd4af8236c7d/);
  expect(t).toContain('Migrated 1a2b3c4d5e6f -> fd4af8236c7d');
  // Deploy #2: destructive, blocked with the override instructions.
  expect(t).toContain('DESTRUCTIVE 7c1e2d9a0b3f');
  expect(t).toContain('drop column users.name');
  expect(t).toContain('exit code 2: Render would cancel this deploy');
  expect(t).toContain('MIGRATION_GATE_ALLOW=7c1e2d9a0b3f');
  // Deploy #3: the override names it, so it runs.
  expect(t).toContain('7c1e2d9a0b3f by override (reason: users.name unused since v2.3');
  expect(t).toContain('Migrated fd4af8236c7d -> 7c1e2d9a0b3f');
  // On-call view.
  expect(t).toContain('/status says the last run migrated.');
  expect(t).toMatch(/Metrics: +http:\/\/127\.0\.0\.1:\d+\/metrics/);
  expect(t).toContain('Summary: deploy #1 migrated, deploy #2 blocked, deploy #3 migrated with override.');
  // The embedded server's password never shows.
  expect(t).not.toMatch(/postgres:demo-[a-z0-9]+@/);
});
