/** The status cache (one load per burst, stale-while-refreshing, outage keeps data) and run summaries. */
import type { RunRecord } from '../../src/db/history.js';
import { SnapshotCache, type Snapshot } from '../../src/server/snapshot.js';
import { parseRunRow } from '../../src/server/history-read.js';
import { summarizeRun } from '../../src/server/summary.js';
import { ago } from '../../src/server/time.js';

function snapshot(n: number): Snapshot {
  return {
    readAt: new Date(n),
    databaseRevisions: [`rev${n}`],
    lock: null,
    rows: [],
    historyProblem: null,
    lastMigrated: null,
    counts: [],
  };
}

function setup() {
  let t = 1_000_000;
  let loads = 0;
  let fail = false;
  let release: (() => void) | undefined;
  let gate = false;
  const cache = new SnapshotCache(
    async () => {
      loads++;
      if (gate) await new Promise<void>((r) => (release = r));
      if (fail) throw new Error('connection refused');
      return snapshot(loads);
    },
    2000,
    () => new Date(t),
    (err) => (err as Error).message,
  );
  return {
    cache,
    loads: () => loads,
    advance: (ms: number) => (t += ms),
    setFail: (v: boolean) => (fail = v),
    hold: () => (gate = true),
    open: () => {
      gate = false;
      release?.();
    },
  };
}

describe('SnapshotCache', () => {
  test('concurrent requests share one in-flight load; fresh state is reused', async () => {
    const c = setup();
    c.hold();
    const all = Array.from({ length: 20 }, () => c.cache.get());
    c.open();
    const states = await Promise.all(all);
    expect(c.loads()).toBe(1);
    expect(new Set(states).size).toBe(1);
    c.advance(1999);
    await c.cache.get();
    expect(c.loads()).toBe(1);
  });

  test('slightly stale: answers at once and refreshes once in the background', async () => {
    const c = setup();
    const first = await c.cache.get();
    c.advance(2500);
    c.hold();
    const a = await c.cache.get();
    const b = await c.cache.get();
    expect(a).toBe(first);
    expect(b).toBe(first);
    expect(c.loads()).toBe(2);
    c.open();
    await new Promise((r) => setImmediate(r));
    expect((await c.cache.get()).data?.databaseRevisions).toEqual(['rev2']);
  });

  test('after a quiet spell: waits for fresh data', async () => {
    const c = setup();
    await c.cache.get();
    c.advance(60_000);
    expect((await c.cache.get()).data?.databaseRevisions).toEqual(['rev2']);
  });

  test('a failed read keeps the last data and marks the database down; failures are cached too', async () => {
    const c = setup();
    await c.cache.get();
    c.setFail(true);
    c.advance(60_000);
    const down = await c.cache.get();
    expect(down.up).toBe(false);
    expect(down.error).toBe('connection refused');
    expect(down.data?.databaseRevisions).toEqual(['rev1']);
    await c.cache.get();
    expect(c.loads()).toBe(2);
  });
});

function run(overrides: Partial<RunRecord>): RunRecord {
  return {
    id: 7,
    command: 'run',
    startedAt: new Date('2025-01-01T00:00:00Z'),
    finishedAt: null,
    outcome: 'running',
    decision: null,
    service: 'api',
    serviceId: null,
    commit: 'abcdef0123456789',
    isPullRequest: false,
    fromRevisions: ['aaa'],
    toRevisions: ['bbb'],
    reachedRevisions: null,
    pending: [],
    override: null,
    dump: null,
    dumpPolicy: null,
    upgradeMs: null,
    durationMs: null,
    error: null,
    warnings: [],
    ...overrides,
  };
}

describe('summarizeRun', () => {
  test('a running row without a lock holder is a dead run', () => {
    expect(summarizeRun(run({}), null)).toMatch(
      /^Stalled: run #7 for commit abcdef012345 is recorded as running since 2025-01-01T00:00:00.000Z but no gate holds the lock/,
    );
    expect(
      summarizeRun(run({}), {
        pid: 12,
        since: new Date('2025-01-01T00:00:01Z'),
        application: 'migration-gate',
      }),
    ).toBe(
      'In progress: run #7 for commit abcdef012345 started at 2025-01-01T00:00:01.000Z (pid 12). Wait for it to finish before deploying again.',
    );
  });

  test('failed: the error, where the database is, the dump', () => {
    expect(
      summarizeRun(
        run({
          outcome: 'failed',
          error: 'alembic upgrade failed at bbb: column "x" does not exist',
          reachedRevisions: ['aaa'],
          dump: { id: 'd1', location: 's3://b/d1.dump', bytes: 1, sha256: 'x', durationMs: 1 },
        }),
      ),
    ).toBe(
      'Failed: alembic upgrade failed at bbb: column "x" does not exist. The database is at aaa. The safety dump is s3://b/d1.dump (id d1). Fix the cause and re-deploy; restore the dump only if data was damaged.',
    );
  });

  test('noop and code rollback', () => {
    expect(summarizeRun(run({ outcome: 'noop', toRevisions: ['bbb'] }))).toBe(
      'Up to date: nothing to apply, the database is at bbb. Nothing to do.',
    );
    expect(summarizeRun(run({ outcome: 'code-rollback', fromRevisions: ['ccc'] }))).toMatch(
      /^Code rollback: the database \(ccc\) is ahead of the code \(bbb\)/,
    );
  });
});

describe('outage bookkeeping', () => {
  test('downSince is the first failed read after a good one, kept while the outage lasts, cleared after', async () => {
    const c = setup();
    await c.cache.get();
    c.setFail(true);
    c.advance(60_000);
    const first = await c.cache.get();
    expect(first.downSince?.getTime()).toBe(first.checkedAt.getTime());
    c.advance(60_000);
    const second = await c.cache.get();
    expect(second.checkedAt.getTime()).toBeGreaterThan(first.checkedAt.getTime());
    expect(second.downSince).toEqual(first.downSince);
    c.setFail(false);
    c.advance(60_000);
    const back = await c.cache.get();
    expect(back.up).toBe(true);
    expect(back.downSince).toBeUndefined();
  });
});

describe('relative times', () => {
  const now = new Date('2026-12-03T03:00:00Z');
  test.each([
    [2_000, 'just now'],
    [45_000, '45 s ago'],
    [12 * 60_000, '12 min ago'],
    [3 * 3600_000, '3 h ago'],
    [50 * 3600_000, '2 days ago'],
    [-60_000, 'just now'],
  ])('%i ms before now reads %s', (ms, text) => {
    expect(ago(new Date(now.getTime() - ms), now)).toBe(text);
  });
});

describe('parseRunRow', () => {
  const good = {
    id: 3,
    command: 'run',
    started_at: '2026-12-03T02:00:00+00:00',
    finished_at: null,
    outcome: 'migrated',
    decision: 'allow',
    from_revisions: ['a'],
    to_revisions: ['b'],
    reached_revisions: ['b'],
    pending: [{ revision: 'b', verdict: 'additive', findings: [], file: 'v/b.py' }],
    override: null,
    dump: { id: 'd', location: 'file:///d', bytes: 1, sha256: 'x', durationMs: 1, madeBy: 'run' },
    warnings: [],
    step: 'record',
  };

  test('a row the gate wrote becomes a run, with the fields newer versions add', () => {
    const r = parseRunRow(good);
    expect(r).toMatchObject({ id: 3, outcome: 'migrated', step: 'record', sourceDump: null });
    expect((r as { startedAt: Date }).startedAt.toISOString()).toBe('2026-12-03T02:00:00.000Z');
    expect(
      parseRunRow({ ...good, id: '3', source_dump: { id: 'd0', madeBy: 'run', runId: 2 } }),
    ).toMatchObject({
      id: 3,
      sourceDump: { id: 'd0', madeBy: 'run', revisions: null, runId: 2, purpose: null },
    });
  });

  test.each([
    [{ outcome: 'exploded' }, 'outcome "exploded" is not one migration-gate writes'],
    [{ started_at: 'yesterday' }, 'started_at is not a timestamp'],
    [{ pending: [{ revision: 'b' }] }, 'pending[0] is not a classified migration (revision, verdict)'],
    [{ from_revisions: 'a' }, 'from_revisions is not a list of text'],
    [{ error: 42 }, 'error is not text'],
    [{ dump: { bytes: 1 } }, 'dump has no id/location'],
    [{ command: undefined }, 'command is not text'],
  ])('%j is unreadable: %s', (patch, problem) => {
    expect(parseRunRow({ ...good, ...patch })).toEqual({ id: 3, unreadable: problem });
  });

  test('no usable id', () => {
    expect(parseRunRow({ ...good, id: 'x' })).toEqual({ id: null, unreadable: 'id "x" is not a run id' });
    expect(parseRunRow(null)).toEqual({ id: null, unreadable: 'the row is not an object' });
  });
});

describe('summaries of recovery runs', () => {
  test('a restore names its source and the pre-restore dump; failed rollbacks say rollback, not deploy', () => {
    const restore = {
      ...run({ command: 'restore', outcome: 'restored', reachedRevisions: ['aaa'] }),
      dump: { id: 'pre-restore', location: 'file:///p', bytes: 1, sha256: 'x', durationMs: 1 },
      sourceDump: { id: 'pre-deploy', madeBy: 'run', runId: 12 },
    };
    expect(summarizeRun(restore)).toBe(
      'Restored from pre-deploy, taken before deploy #12; the database is at aaa. The state before the restore was saved first as pre-restore. Deploy code that matches this revision.',
    );
    expect(
      summarizeRun({
        ...run({ command: 'rollback', outcome: 'failed', error: 'no such revision' }),
        step: 'downgrade',
      }),
    ).toBe(
      'Failed (rollback) at downgrade: no such revision. Fix the cause and run migration-gate rollback again.',
    );
  });
});
