/** The note a run that cannot reach the database leaves for the next one: its name and its shape. */
import { attemptOf, noteName, parseNote } from '../../src/gate/unrecorded.js';
import { checkNoteName } from '../../src/storage/target.js';

const at = new Date('2026-12-03T17:15:00.123Z');

test('names sort by time, carry the pid and a random part, and pass the targets’ name check', () => {
  const name = noteName(at, 4242, 'a1b2c3');
  expect(name).toBe('20261203T171500.123Z-4242-a1b2c3.json');
  expect(() => checkNoteName(name)).not.toThrow();
  expect(noteName(new Date('2026-12-03T17:15:01Z'), 1, 'ffffff') > name).toBe(true);
  for (const bad of ['../x.json', 'a/b.json', '.hidden.json', 'x.dump', 'x..json'])
    expect(() => checkNoteName(bad)).toThrow(/invalid note name/);
});

test('a note round-trips; what the gate did not write is named for what is wrong with it', () => {
  const attempt = attemptOf(
    { onRender: true, service: 'web', commit: 'abc' },
    at,
    'connect',
    'cannot connect to db:5432',
  );
  expect(parseNote(JSON.stringify(attempt))).toEqual({ attempt });
  expect(parseNote('not json')).toEqual({ problem: 'it is not JSON' });
  expect(parseNote('{"version": 2, "command": "run"}')).toEqual({
    problem: 'it is not a version 1 note of `migration-gate run`',
  });
  expect(parseNote(JSON.stringify({ ...attempt, at: 'yesterday' }))).toEqual({
    problem: 'its time is missing or not a date',
  });
  expect(parseNote(JSON.stringify({ ...attempt, cause: '' }))).toEqual({
    problem: 'its step or cause is missing',
  });
  expect(parseNote(JSON.stringify({ ...attempt, commit: 7 }))).toEqual({
    problem: 'its service or commit is not text',
  });
});
