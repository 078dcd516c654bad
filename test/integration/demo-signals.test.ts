/**
 * `npm run demo` stopped by Ctrl-C (SIGINT) or SIGTERM at any moment leaves nothing behind: no
 * process (PostgreSQL, initdb, the gate, alembic, the status service) and no
 * /tmp/migration-gate-demo-* directory. The signal is sent at three moments: while PostgreSQL is being
 * created, in the middle of the first deploy, and while the status service is up.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../helpers/project.js';

/** Processes whose command line or working directory is inside `dir`. */
function processesUsing(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${entry}/cwd`);
      } catch {
        // not ours to read
      }
      if (cmdline.includes(dir) || cwd.startsWith(dir)) found.push(`${entry}: ${cmdline}`);
    } catch {
      // gone
    }
  }
  return found;
}

async function interruptDemo(signal: 'SIGINT' | 'SIGTERM', when: RegExp) {
  const demo = execa('node', [path.join(repoRoot, 'dist/demo/demo.js')], {
    cwd: repoRoot,
    env: { CI: '', MIGRATION_GATE_DEMO_EXIT: '', MIGRATION_GATE_DEMO_STAY: '1' },
    reject: false,
    all: true,
    timeout: 240_000,
    // The demo's own cleanup is under test: execa must not SIGKILL it 5 s after the signal.
    forceKillAfterDelay: false,
  });
  let out = '';
  let work = '';
  const reached = new Promise<void>((resolve, reject) => {
    demo.all!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      work ||= /Scratch directory: (\S+)/.exec(out)?.[1] ?? '';
      if (work && when.test(out)) resolve();
    });
    void demo.then(() => reject(new Error(`the demo ended before ${when}:\n${out}`)));
  });
  await reached;
  // While it is running, the scratch directory and its processes exist (so the checks below can fail).
  expect(existsSync(work)).toBe(true);
  const before = processesUsing(work);
  demo.kill(signal);
  const res = await demo;
  return { res, work, before, out: res.all ?? out };
}

test.each([
  ['SIGINT', 'while PostgreSQL starts', /Start "production"/, false],
  ['SIGTERM', 'in the middle of the first deploy', /Deploy #1[\s\S]*(Taking a safety dump|alembic: )/, true],
  ['SIGINT', 'while the status service is up', /press Ctrl-C to stop the demo/, true],
] as const)('%s %s: no process and no directory left', async (signal, _moment, when, running) => {
  const { res, work, before, out } = await interruptDemo(signal, when);
  expect(work).toMatch(/^\/tmp\/migration-gate-demo-/);
  expect(res.exitCode).toBe(signal === 'SIGINT' ? 130 : 143);
  expect(out).toContain(`${signal}: stopping the demo and removing ${work}`);
  expect(existsSync(work)).toBe(false);
  expect(processesUsing(work)).toEqual([]);
  // By the later moments it had processes to stop (PostgreSQL at least).
  if (running) expect(before.length).toBeGreaterThan(0);
});
