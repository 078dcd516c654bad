/**
 * What the kill guard (src/alembic/supervise.ts) adds to starting Alembic: `alembic --version` run
 * directly and under the guard, interleaved so load on the machine hits both sides alike; and the
 * guard alone, exec'ing `true`. Medians of `runs` rounds.
 */
import { execa } from 'execa';
import { performance } from 'node:perf_hooks';
import { guardedCommand } from '../src/alembic/supervise.js';
import { median } from './rehearse-bench.js';

export interface GuardBenchResult {
  directMs: number;
  guardedMs: number;
  /** Median of the per-round differences (guarded minus direct): steadier than a difference of medians. */
  addedMs: number;
  guardOnlyMs: number;
}

async function timed(file: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  const r = await execa(file, args, { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0)
    throw new Error(
      `${file} ${args.slice(-3).join(' ')} exited ${r.exitCode}: ${String(r.stderr).slice(-300)}`,
    );
  return performance.now() - t0;
}

export async function benchGuard(alembic: string[], runs: number, cwd: string): Promise<GuardBenchResult> {
  const [file, ...pre] = alembic;
  const args = [...pre, '--version'];
  const guarded = guardedCommand(file!, args, { parentPid: process.pid, cwd });
  const guardOnly = guardedCommand('true', [], { parentPid: process.pid, cwd });
  // The guard's interpreter for `true` is python3 from PATH; measure it on the same one as Alembic's.
  guardOnly.file = guarded.file;
  const direct: number[] = [];
  const under: number[] = [];
  const alone: number[] = [];
  await timed(file!, args); // warm the page cache
  for (let i = 0; i < runs; i++) {
    direct.push(await timed(file!, args));
    under.push(await timed(guarded.file, guarded.args));
    alone.push(await timed(guardOnly.file, guardOnly.args));
  }
  return {
    directMs: median(direct),
    guardedMs: median(under),
    addedMs: median(under.map((u, i) => u - direct[i]!)),
    guardOnlyMs: median(alone),
  };
}
