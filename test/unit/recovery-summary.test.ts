/** What rollback and restore rows say on /status and in notifications (issue 12 §5). */
import type { RunRecord } from '../../src/db/history.js';
import { summarizeRun } from '../../src/server/summary.js';

function row(patch: Partial<RunRecord>): RunRecord {
  return {
    id: 3,
    command: 'rollback',
    startedAt: new Date('2026-12-03T08:00:00Z'),
    finishedAt: new Date('2026-12-03T08:00:05Z'),
    outcome: 'blocked',
    decision: 'block',
    service: null,
    serviceId: null,
    commit: null,
    isPullRequest: null,
    fromRevisions: ['bb02'],
    toRevisions: ['aa01'],
    reachedRevisions: ['bb02'],
    // The undone migration's upgrade verdict is destructive; that is not what blocked the rollback.
    pending: [
      { revision: 'bb02', verdict: 'destructive', findings: [] } as unknown as RunRecord['pending'][number],
    ],
    override: null,
    dump: null,
    dumpPolicy: null,
    upgradeMs: null,
    durationMs: null,
    error: 'the downgrade of bb02 is destructive (items: 6 rows) and MIGRATION_GATE_ALLOW does not name it',
    warnings: [],
    ...patch,
  };
}

test('a blocked rollback says rollback, keeps its one-line cause once, and never says deploy', () => {
  const text = summarizeRun(row({}));
  expect(text).toBe(
    'Blocked (rollback): the downgrade of bb02 is destructive (items: 6 rows) and MIGRATION_GATE_ALLOW does not name it. Nothing was changed. Fix the cause and run migration-gate rollback again with the override the cause names, or restore the pre-deploy dump instead.',
  );
  expect(text).not.toMatch(/deploy it|\bre-deploy/);
});

test('a failed restore says restore and how to run it again', () => {
  const text = summarizeRun(
    row({
      command: 'restore',
      outcome: 'failed',
      error: 'restore failed and was rolled back, the database is unchanged (at bb02): boom',
    }),
  );
  expect(text).toContain('Failed (restore)');
  expect(text).toContain('run migration-gate restore again');
  expect(text).not.toContain('re-deploy');
  expect(text.split('restore failed and was rolled back').length).toBe(2);
});
