import { dumpsTable, dumpListing, formatAge } from '../../src/storage/listing.js';
import { dumpPurpose, isPreDeploy, provenanceOf } from '../../src/storage/provenance.js';
import { selectForPruning } from '../../src/storage/retention.js';
import { selectDump } from '../../src/storage/select.js';
import type { StoredDump } from '../../src/storage/target.js';

const now = new Date('2026-12-03T12:00:00Z');
const MIN = 60_000;

/** A dump `agoMin` minutes old; `meta` as the file target's sidecar writes it. */
function fileDump(agoMin: number, meta?: Record<string, string>, service = 'web'): StoredDump {
  const createdAt = new Date(now.getTime() - agoMin * MIN);
  const stamp = createdAt
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
  const id = `${service}/${stamp}_aaa_to_bbb.dump`;
  return {
    id,
    location: `file:///d/${id}`,
    bytes: 2048,
    sha256: 'f'.repeat(64),
    createdAt,
    ...(meta ? { meta } : {}),
  };
}

const run12 = fileDump(30, {
  madeBy: 'run',
  runId: '12',
  revisions: 'c71d4e9a',
  fromRevisions: 'c71d4e9a',
  toRevisions: '1a0599fa',
  purpose: 'before deploy #12: c71d4e9a -> 1a0599fa',
});
const rollback13 = fileDump(10, {
  madeBy: 'rollback',
  runId: '13',
  revisions: '1a0599fa',
  fromRevisions: '1a0599fa',
  toRevisions: 'c71d4e9a',
  purpose: 'before rollback #13: downgrade 1a0599fa -> c71d4e9a',
});
// The S3 target's metadata spelling of the same facts.
const s3Restore14 = {
  ...fileDump(5),
  meta: { 'made-by': 'restore', 'run-id': '14', 'from-revisions': 'base', 'to-revisions': 'base' },
};
const legacy = fileDump(600);

describe('provenanceOf', () => {
  test('reads the file sidecar and the S3 metadata alike', () => {
    expect(provenanceOf(run12)).toEqual({
      madeBy: 'run',
      runId: 12,
      revisions: ['c71d4e9a'],
      toRevisions: ['1a0599fa'],
      service: 'web',
      commit: null,
      purpose: 'before deploy #12: c71d4e9a -> 1a0599fa',
    });
    expect(provenanceOf(s3Restore14)).toMatchObject({ madeBy: 'restore', runId: 14, revisions: [] });
  });

  test('a dump made before provenance: madeBy null, revisions from its name', () => {
    expect(provenanceOf(legacy)).toMatchObject({
      madeBy: null,
      runId: null,
      revisions: ['aaa'],
      toRevisions: ['bbb'],
      purpose: null,
    });
  });

  test('junk values are not trusted', () => {
    const odd = fileDump(1, { madeBy: 'cron', runId: '-3' });
    expect(provenanceOf(odd)).toMatchObject({ madeBy: null, runId: null });
  });
});

test('dumpPurpose says what the dump was taken before, in words', () => {
  expect(dumpPurpose('run', 12, ['c71d4e9a'], ['1a0599fa'])).toBe('before deploy #12: c71d4e9a -> 1a0599fa');
  expect(dumpPurpose('run', 3, [], ['a', 'b'])).toBe('before deploy #3: base -> a+b');
  expect(dumpPurpose('run', 4, ['a'], ['a'])).toBe('before deploy #4: nothing pending (at a)');
  expect(dumpPurpose('rollback', 13, ['1a0599fa'], ['c71d4e9a'])).toBe(
    'before rollback #13: downgrade 1a0599fa -> c71d4e9a',
  );
  expect(dumpPurpose('restore', 14, ['1a0599fa'], ['1a0599fa'])).toBe(
    'before restore #14 (the database was at 1a0599fa)',
  );
});

describe('selectDump', () => {
  const all = [s3Restore14, rollback13, run12, legacy];
  const where = 'file:///d';

  test('latest is the dump before the last deploy, not the rollback/restore dumps after it', () => {
    expect(selectDump(all, 'latest', { where })).toMatchObject({ dump: run12 });
    expect(selectDump(all, 'latest', { where }).reason).toContain('run #12');
  });

  test('latest prefers the dump that history records for the last migrated run', () => {
    const run9 = fileDump(60, { ...run12.meta, runId: '9' });
    const choice = selectDump([run12, run9], 'latest', { where, lastMigratedDumpId: run9.id });
    expect(choice.dump).toBe(run9);
    expect(choice.reason).toBe('the dump taken before the last deploy that migrated (run #9)');
  });

  test('a run that had nothing pending (dump policy always) is not "before a deploy that migrated"', () => {
    const noop = fileDump(1, { madeBy: 'run', runId: '20', revisions: 'x', toRevisions: 'x' });
    expect(isPreDeploy(noop)).toBe(false);
    expect(selectDump([noop, run12], 'latest', { where }).dump).toBe(run12);
  });

  test('newest is the newest of any kind; an id is that dump', () => {
    expect(selectDump(all, 'newest', { where }).dump).toBe(s3Restore14);
    expect(selectDump(all, rollback13.id, { where }).dump).toBe(rollback13);
    expect(selectDump(all, 'web/nope.dump', { where }).problem).toBe(
      "no dump 'web/nope.dump' in file:///d (and no local file of that name); list them with `migration-gate dumps`",
    );
  });

  test('only dumps without a maker: latest refuses to guess and says what to do', () => {
    const problem = selectDump([legacy], 'latest', { where }).problem!;
    expect(problem).toContain('records that a deploy (`migration-gate run`) took it');
    expect(problem).toContain('--dump newest');
    expect(selectDump([], 'latest', { where }).problem).toBe(
      'no safety dumps in file:///d: nothing to use for --dump latest',
    );
  });
});

describe('retention and provenance', () => {
  test('the newest pre-deploy dump is kept, however many rollback/restore dumps came after it', () => {
    const later = [1, 2, 3, 4].map((m) => fileDump(m, { madeBy: 'restore', runId: String(20 + m) }));
    const older = fileDump(90, { ...run12.meta, runId: '5' });
    const doomed = selectForPruning([...later, run12, older], { keepLast: 2 }, now);
    expect(doomed.map((d) => d.id)).toEqual([older.id, later[3]!.id, later[2]!.id]);
    expect(doomed).not.toContain(run12);
  });
});

describe('dumps listing', () => {
  test('the table: id, age, made by, revisions, size (and purpose), with a note on old dumps', () => {
    const lines = dumpsTable([rollback13, run12, legacy], now);
    expect(lines[0]).toMatch(/^ID\s+AGE\s+MADE BY\s+REVISIONS\s+SIZE\s+PURPOSE$/);
    expect(lines[1]).toContain(rollback13.id);
    expect(lines[1]).toMatch(/10m\s+rollback #13\s+1a0599fa\s+2\.0 KiB\s+before rollback #13/);
    expect(lines[2]).toMatch(/30m\s+run #12\s+c71d4e9a\s+2\.0 KiB\s+before deploy #12: c71d4e9a -> 1a0599fa/);
    expect(lines[3]).toMatch(/10\.0h\s+unknown\s+aaa\s+2\.0 KiB$/);
    expect(lines[4]).toContain('taken before the gate recorded provenance');
    // Columns line up: the age column starts at the same offset on every row.
    const col = lines[0]!.indexOf('AGE');
    expect(lines.slice(1, 4).map((l) => l.slice(col, col + 3).trim().length > 0)).toEqual([true, true, true]);
  });

  test('the JSON form has the fields scripts need, null where unknown', () => {
    expect(dumpListing(legacy)).toEqual({
      id: legacy.id,
      createdAt: legacy.createdAt.toISOString(),
      madeBy: null,
      runId: null,
      revisions: ['aaa'],
      toRevisions: ['bbb'],
      purpose: null,
      service: 'web',
      commit: null,
      bytes: 2048,
      sha256: 'f'.repeat(64),
      location: legacy.location,
    });
    expect(formatAge(-5)).toBe('just now');
  });
});
