/**
 * The named, timed steps of `restore` and `rollback`. Each step's name and time go to the log
 * ("step dump: 3.1s"), and once the history row exists, the step in progress goes to it, so a failure
 * says where it happened (failed at: downgrade), as `run` does.
 */
import type pg from 'pg';
import { updateRun } from '../db/history.js';

export type RecoveryStep = 'connect' | 'load' | 'plan' | 'lock' | 'dump' | 'restore' | 'downgrade' | 'record';

/** Generic over the step names so `rehearse` runs its own steps through the same machinery. */
export class RecoverySteps<S extends string = RecoveryStep> {
  /** The step in progress, or the last one that ran. */
  current: S | null = null;
  private row?: { client: pg.Client; schema: string; runId: number };

  constructor(private readonly say: (line: string) => void) {}

  /** From now on each step is written to this history row as it starts. */
  attach(client: pg.Client, schema: string, runId: number): void {
    this.row = { client, schema, runId };
  }

  async run<T>(name: S, fn: () => Promise<T>): Promise<T> {
    this.current = name;
    const t0 = performance.now();
    const took = () => `${((performance.now() - t0) / 1000).toFixed(1)}s`;
    if (this.row) {
      const { client, schema, runId } = this.row;
      // Only a marker for /status: a failed write must not fail the step.
      await updateRun(client, schema, runId, { step: name }).catch(() => undefined);
    }
    try {
      const result = await fn();
      this.say(`step ${name}: ${took()}`);
      return result;
    } catch (err) {
      this.say(`step ${name}: failed after ${took()}`);
      throw err;
    }
  }
}
