import { closest, editDistance } from '../../src/suggest.js';

test('edit distance counts inserts, deletes and substitutions', () => {
  expect(editDistance('check', 'check')).toBe(0);
  expect(editDistance('chek', 'check')).toBe(1);
  expect(editDistance('MIGRATION_GATE_DUMP_TARGT', 'MIGRATION_GATE_DUMP_TARGET')).toBe(1);
  expect(editDistance('kitten', 'sitting')).toBe(3);
  expect(editDistance('', 'abc')).toBe(3);
});

test('closest: a typo finds its word, an unrelated word finds nothing', () => {
  const commands = ['check', 'run', 'serve', 'dumps', 'rehearse', 'restore', 'rollback', 'settings'];
  expect(closest('chek', commands)).toBe('check');
  expect(closest('rollbak', commands)).toBe('rollback');
  expect(closest('Settings', commands)).toBe('settings');
  expect(closest('deploy', commands)).toBeUndefined();
  expect(closest('x', commands)).toBeUndefined();
});
