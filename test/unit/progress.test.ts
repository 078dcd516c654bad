import { formatBytes, formatProgress, startProgress } from '../../src/progress.js';

const MiB = 1024 * 1024;

test('a line says bytes so far, the rate, and where it stands against the estimate', () => {
  expect(
    formatProgress({
      step: 'restore',
      bytes: 120 * MiB,
      elapsedMs: 10_000,
      estimate: { bytes: 480 * MiB, source: "the dump's size" },
    }),
  ).toBe("restore: 120.0 MiB so far in 10 s (12.0 MiB/s); 25% of 480.0 MiB (the dump's size), ~30 s left");
});

test('against pg_database_size the estimate is an upper bound, and says so', () => {
  expect(
    formatProgress({
      step: 'dump',
      bytes: 60 * MiB,
      elapsedMs: 20_000,
      estimate: { bytes: 3 * 1024 * MiB, source: 'pg_database_size', upperBound: true },
      detail: 'table public.users',
    }),
  ).toBe(
    'dump: 60.0 MiB so far in 20 s (3.0 MiB/s), table public.users; pg_database_size is 3.0 GiB (the dump is usually smaller): at most ~17 min left at this rate',
  );
});

test('without an estimate: bytes and rate only; nothing divides by zero', () => {
  expect(formatProgress({ step: 'upload', bytes: 0, elapsedMs: 0 })).toBe(
    'upload: 0 B so far in 1 s (0 B/s)',
  );
  expect(formatBytes(1536)).toBe('1.5 KiB');
});

test('the reporter prints on its timer only, with the latest count, and stops', () => {
  let tick: (() => void) | undefined;
  let cancelled = false;
  let clock = 1_000;
  const lines: string[] = [];
  const p = startProgress({
    step: 'dump',
    say: (l) => lines.push(l),
    now: () => clock,
    schedule: (fn, ms) => {
      expect(ms).toBe(10_000);
      tick = fn;
      return () => {
        cancelled = true;
      };
    },
  });
  p.update(5 * MiB);
  p.update(10 * MiB, 'table public.projects');
  expect(lines).toEqual([]);
  clock += 10_000;
  tick!();
  expect(lines).toEqual(['dump: 10.0 MiB so far in 10 s (1.0 MiB/s), table public.projects']);
  p.stop();
  expect(cancelled).toBe(true);
});
