import { loadSettings } from '../../src/config/settings.js';
import { selectForPruning } from '../../src/storage/retention.js';
import type { StoredDump } from '../../src/storage/target.js';
import { ConfigError } from '../../src/errors.js';

const now = new Date('2026-11-25T12:00:00Z');
const DAY = 24 * 60 * 60 * 1000;

/** A dump `ageDays` old in folder `service`. */
function dump(ageDays: number, service = 'svc'): StoredDump {
  const createdAt = new Date(now.getTime() - ageDays * DAY);
  return {
    id: `${service}/${ageDays}d.dump`,
    location: `s3://b/${service}/${ageDays}d.dump`,
    bytes: 1,
    createdAt,
  };
}

const ids = (dumps: StoredDump[]) => dumps.map((d) => d.id);

describe('selectForPruning', () => {
  const dumps = [dump(0.5), dump(3), dump(1), dump(10), dump(40)];

  test('no rule set: keep everything', () => {
    expect(selectForPruning(dumps, {}, now)).toEqual([]);
  });

  test('keepLast only: the N newest stay, the rest go oldest first', () => {
    expect(ids(selectForPruning(dumps, { keepLast: 2 }, now))).toEqual([
      'svc/40d.dump',
      'svc/10d.dump',
      'svc/3d.dump',
    ]);
  });

  test('keepDays only: dumps younger than D days stay', () => {
    expect(ids(selectForPruning(dumps, { keepDays: 7 }, now))).toEqual(['svc/40d.dump', 'svc/10d.dump']);
  });

  test('both rules: kept when either keeps it', () => {
    expect(ids(selectForPruning(dumps, { keepLast: 4, keepDays: 2 }, now))).toEqual(['svc/40d.dump']);
    expect(ids(selectForPruning(dumps, { keepLast: 1, keepDays: 5 }, now))).toEqual([
      'svc/40d.dump',
      'svc/10d.dump',
    ]);
  });

  test('never the newest, even when every rule would drop it', () => {
    const old = [dump(100), dump(200)];
    expect(ids(selectForPruning(old, { keepDays: 1 }, now))).toEqual(['svc/200d.dump']);
  });

  test('never the just-stored dump', () => {
    expect(ids(selectForPruning(dumps, { keepLast: 1 }, now, 'svc/40d.dump'))).toEqual([
      'svc/10d.dump',
      'svc/3d.dump',
      'svc/1d.dump',
    ]);
  });

  test('each service folder is counted on its own', () => {
    const mixed = [dump(1, 'a'), dump(2, 'a'), dump(3, 'b'), dump(4, 'b')];
    expect(ids(selectForPruning(mixed, { keepLast: 1 }, now))).toEqual(['b/4d.dump', 'a/2d.dump']);
  });

  test('the age boundary: exactly D days old is not younger than D days', () => {
    expect(ids(selectForPruning([dump(0), dump(7)], { keepDays: 7 }, now))).toEqual(['svc/7d.dump']);
  });
});

describe('retention settings (parsed with every other setting)', () => {
  test('unset means keep everything', () => {
    const s = loadSettings({});
    expect([s.dumpKeepLast, s.dumpKeepDays]).toEqual([undefined, undefined]);
    const set = loadSettings({ MIGRATION_GATE_DUMP_KEEP_LAST: '5', MIGRATION_GATE_DUMP_KEEP_DAYS: '14' });
    expect([set.dumpKeepLast, set.dumpKeepDays]).toEqual([5, 14]);
  });

  test('bad values are all reported in one error', () => {
    const env = { MIGRATION_GATE_DUMP_KEEP_LAST: '0', MIGRATION_GATE_DUMP_KEEP_DAYS: 'two weeks' };
    try {
      loadSettings(env);
      throw new Error('expected a ConfigError');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).details).toEqual([
        '- MIGRATION_GATE_DUMP_KEEP_LAST="0" must be a whole number from 1 to 9007199254740991 (digits only)',
        '- MIGRATION_GATE_DUMP_KEEP_DAYS="two weeks" must be a whole number from 1 to 9007199254740991 (digits only)',
      ]);
    }
  });
});
