/** The status cache (one load per burst, stale-while-refreshing, outage keeps data) and run summaries. */
import type { RunRecord } from '../../src/db/history.js';
import { SnapshotCache, type Snapshot } from '../../src/server/snapshot.js';
import { summarizeRun } from '../../src/server/summary.js';

function snapshot(n: number): Snapshot {
  return {
    readAt: new Date(n),
    databaseRevisions: [`rev${n}`],
    lock: null,
    runs: [],
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
