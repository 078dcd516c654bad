/**
 * The verifying pg_restore readers yield the CPU to pg_dump (10 nice levels lower): on a small instance a reader
 * preempting pg_dump made the whole S3 dump ~10% slower (bench s3). Checked on real processes.
 */
import { spawn } from 'node:child_process';
import { getPriority } from 'node:os';
import { yieldToDump } from '../../src/db/dump.js';

test('the readers run 10 nice levels below the gate; pg_dump and the gate keep their priority', () => {
  const reader = spawn('sleep', ['5'], { stdio: 'ignore' });
  try {
    const before = getPriority();
    expect(getPriority(reader.pid!)).toBe(before);
    yieldToDump([reader.pid]);
    expect(getPriority(reader.pid!)).toBe(Math.min(19, before + 10));
    // Only the readers named: this process (and pg_dump, spawned by it) is untouched.
    expect(getPriority()).toBe(before);
  } finally {
    reader.kill();
  }
});

test('a reader that already exited, or no pid, is not an error', async () => {
  const gone = spawn('true', [], { stdio: 'ignore' });
  await new Promise((resolve) => gone.once('exit', resolve));
  expect(() => yieldToDump([gone.pid, undefined])).not.toThrow();
});
