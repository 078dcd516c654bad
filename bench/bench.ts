/**
 * `npm run bench`: every benchmark in one driver, with a summary table (figure, target, PASS/MISS).
 * Starts what it needs itself: a throwaway PostgreSQL cluster (startLocalCluster), the real Alembic
 * (.venv/bin/alembic or MIGRATION_GATE_ALEMBIC), moto's S3 server on loopback; stops them and removes
 * its temp files on exit and on Ctrl-C.
 *
 *   MIGRATION_GATE_BENCH_ONLY=parse,run,noop,s3,server,rehearse,guard   sections to run (default: all)
 *   MIGRATION_GATE_BENCH_BYTES=1073741824                         size of the big database (default 1 GiB)
 *   MIGRATION_GATE_BENCH_RUNS=3                                   timed runs per side in run, s3, rehearse
 *
 * Exit code: 0 when every figure met its target, 1 when one missed or a section failed.
 */
import { execa, type ResultPromise } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { generateHistory } from './synthetic.js';
import { connect, parseDatabaseUrl } from '../src/db/connect.js';
import { startLocalCluster, type LocalCluster } from '../src/rehearse/cluster.js';
import {
  BENCH_BASE_REVISION,
  BENCH_PENDING_REVISION,
  DEFAULT_TARGET_BYTES,
  createBenchDatabase,
  ensureDatabase,
  exampleProjectDir,
  resetBenchDatabase,
} from './bench-db.js';
import { benchRehearse, median } from './rehearse-bench.js';
import { startS3Server, type S3Server } from './s3-server.js';
import { CpuSampler, formatProfile, medianProfile, postmasterPid, type CpuProfile } from './cpu-profile.js';
import { repoRoot } from './root.js';
import { benchServer } from './server-bench.js';
import { benchGuard } from './guard-bench.js';

const SECTIONS = ['parse', 'run', 'noop', 's3', 'server', 'rehearse', 'guard'] as const;
type Section = (typeof SECTIONS)[number];

const ROOT = repoRoot();
const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(ROOT, 'dist/cli.js');
const TIME_BIN = '/usr/bin/time';
const MiB = 1024 * 1024;
const DESTRUCTIVE_REVISION = '7c1e2d9a0b3f';

interface Row {
  section: Section | 'setup';
  figure: string;
  measured: string;
  target: string;
  /** undefined: informational, no target. */
  pass?: boolean;
}

const rows: Row[] = [];
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;

// ---------------------------------------------------------------------------------------------
// Cleanup: everything started is registered here and undone in reverse order, once.
const cleanups: Array<() => Promise<unknown>> = [];
const children = new Set<ResultPromise>();
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of children) c.kill('SIGTERM');
    // Each step is bounded, so one stuck step cannot leave the scratch cluster running.
    // A snapshot: a section's own finally may unregister its step meanwhile.
    for (const fn of cleanups.splice(0).reverse()) {
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise((resolve) => {
        timer = setTimeout(() => resolve(log('cleanup: a step took over 20 s; going on')), 20_000);
      });
      await Promise.race([fn().catch((e) => log(`cleanup: ${(e as Error).message}`)), limit]);
      clearTimeout(timer);
    }
  })();
  return cleaning;
}
for (const [sig, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.on(sig, () => {
    if (cleaning) process.exit(code); // a second Ctrl-C: leave now
    log(`${sig}: stopping child processes, moto and the scratch cluster; removing temp files`);
    void cleanup().finally(() => process.exit(code));
  });
}

function tracked<T extends ResultPromise>(child: T): T {
  children.add(child);
  void child.finally(() => children.delete(child)).catch(() => undefined);
  return child;
}

/** The environment minus the gate's own settings, so a stray MIGRATION_GATE_* or RENDER* cannot skew a run. */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(MIGRATION_GATE_|RENDER|DATABASE_URL$|ALEMBIC_CONFIG$|AWS_|PG)/.test(k))
      continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function alembicCommand(): string[] {
  const configured = process.env.MIGRATION_GATE_ALEMBIC?.trim();
  if (configured) return configured.split(/\s+/);
  const venv = join(ROOT, '.venv/bin/alembic');
  return [existsSync(venv) ? venv : 'alembic'];
}

// ---------------------------------------------------------------------------------------------
// Measuring a child process: wall time, and peak RSS two ways.

interface Measured {
  wallMs: number;
  exitCode: number | undefined;
  output: string;
  /** GNU time %M: max RSS of the process and of every descendant it waited for (pg_dump, alembic...). */
  treeMaxRssKb?: number;
  /** VmHWM of the process itself, polled every 50 ms from /proc (its own peak, children excluded). */
  selfHwmKb?: number;
}

const haveTime = existsSync(TIME_BIN);
let timeFiles = 0;

function readHwmKb(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0; // exited between two polls
  }
}

function firstChildPid(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

async function measure(
  work: string,
  cmd: string,
  args: string[],
  opts: { env: Record<string, string>; cwd?: string; onSpawn?: (pid: number | undefined) => void },
): Promise<Measured> {
  const timeOut = join(work, `time-${++timeFiles}.txt`);
  const [file, argv] = haveTime ? [TIME_BIN, ['-f', '%M', '-o', timeOut, cmd, ...args]] : [cmd, args];
  const started = performance.now();
  const child = tracked(
    execa(file, argv, {
      env: opts.env,
      extendEnv: false,
      cwd: opts.cwd,
      reject: false,
      all: true,
      stdin: 'ignore',
    }),
  );
  opts.onSpawn?.(child.pid);
  let target = haveTime ? undefined : child.pid;
  let selfHwmKb = 0;
  const poll = setInterval(() => {
    target ??= child.pid !== undefined ? firstChildPid(child.pid) : undefined;
    if (target !== undefined) selfHwmKb = Math.max(selfHwmKb, readHwmKb(target));
  }, 50);
  const r = await child;
  const wallMs = performance.now() - started;
  clearInterval(poll);
  const result: Measured = { wallMs, exitCode: r.exitCode, output: String(r.all ?? '') };
  if (selfHwmKb > 0) result.selfHwmKb = selfHwmKb;
  if (haveTime) {
    // On failure time writes "Command exited with non-zero status N" first; %M is the last line.
    const last = (await readFile(timeOut, 'utf8').catch(() => '')).trim().split('\n').pop();
    if (last && /^\d+$/.test(last)) result.treeMaxRssKb = Number(last);
    await rm(timeOut, { force: true });
  }
  return result;
}

function mustSucceed(what: string, m: Measured): Measured {
  if (m.exitCode !== 0) {
    const tail = m.output.trim().split('\n').slice(-8).join('\n    ');
    throw new Error(`${what} exited with code ${m.exitCode}:\n    ${tail}`);
  }
  return m;
}

async function timed(what: string, run: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  try {
    await run();
  } catch (err) {
    throw new Error(
      `${what} failed: ${(err as { shortMessage?: string }).shortMessage ?? (err as Error).message}`,
      { cause: err },
    );
  }
  return performance.now() - t0;
}

// ---------------------------------------------------------------------------------------------
// Shared fixtures, built lazily: only the selected sections pay for them.

interface Ctx {
  work: string;
  cluster: LocalCluster;
  alembic: string[];
  runs: number;
  bytes: number;
  bigUrl?: string;
  project?: { dir: string; ini: string };
}

/** The example with only base -> fd4af8236c7d (its third revision is destructive and would block `run`). */
async function project(ctx: Ctx): Promise<{ dir: string; ini: string }> {
  if (!ctx.project) {
    const dir = join(ctx.work, 'window-builder');
    await cp(exampleProjectDir(), dir, {
      recursive: true,
      filter: (src) => !src.includes('__pycache__') && !src.includes(`${DESTRUCTIVE_REVISION}_`),
    });
    ctx.project = { dir, ini: join(dir, 'alembic.ini') };
  }
  return ctx.project;
}

async function bigDatabase(ctx: Ctx): Promise<string> {
  if (!ctx.bigUrl) {
    const url = ctx.cluster.url('bench');
    const t0 = performance.now();
    const r = await createBenchDatabase(url, { targetBytes: ctx.bytes, log: (l) => log(l) });
    rows.push({
      section: 'setup',
      figure: 'big bench database (built once)',
      measured: `${Math.round(r.bytes / MiB)} MiB, ${r.events.toLocaleString('en-US')} events, ${secs(performance.now() - t0)}`,
      target: '-',
    });
    ctx.bigUrl = url;
  }
  return ctx.bigUrl;
}

function gateEnv(ctx: Ctx, url: string, ini: string, dumpDir: string): Record<string, string> {
  return cleanEnv({
    DATABASE_URL: url,
    ALEMBIC_CONFIG: ini,
    MIGRATION_GATE_ALEMBIC: ctx.alembic.join(' '),
    MIGRATION_GATE_DUMP_TARGET: `file://${dumpDir}`,
    MIGRATION_GATE_LOG_FORMAT: 'text',
  });
}

async function emptyDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
}

/** `limitMb` undefined: the figure is information (a baseline's own memory), not a goal. */
function rssRow(
  section: Row['section'],
  figure: string,
  runs: Measured[],
  limitMb: number | undefined,
): Row[] {
  const out: Row[] = [];
  const tree = runs.map((m) => m.treeMaxRssKb).filter((x): x is number => x !== undefined);
  const self = runs.map((m) => m.selfHwmKb).filter((x): x is number => x !== undefined);
  if (self.length) {
    const peak = Math.max(...self);
    out.push({
      section,
      figure: `${figure}: peak RSS, node process (/proc VmHWM polled)`,
      measured: mb(peak),
      ...(limitMb === undefined
        ? { target: '(info)' }
        : { target: `<= ${limitMb} MB`, pass: peak / 1024 <= limitMb }),
    });
  }
  if (tree.length) {
    const peak = Math.max(...tree);
    out.push({
      section,
      figure: `${figure}: max RSS incl. children (/usr/bin/time %M)`,
      measured: mb(peak),
      target: '(info)',
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sections.

/** History sizes of the parse section (MIGRATION_GATE_BENCH_PARSE_SIZES=2000,10000,30000). */
function parseSizes(): number[] {
  const raw = process.env.MIGRATION_GATE_BENCH_PARSE_SIZES ?? '2000,10000,30000';
  return raw
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/**
 * A revision to pass as `--from` so that at least `want` migrations are pending (exactly, unless a
 * merge is in the way): walked down the head's first parents.
 */
function fromForPending(
  h: Awaited<ReturnType<typeof generateHistory>>,
  want: number,
): { from: string; pending: number } {
  const byId = new Map(h.revisions.map((r) => [r.revision, r]));
  const ancestors = (rev: string): Set<string> => {
    const seen = new Set<string>();
    const stack = [rev];
    while (stack.length) {
      const r = stack.pop()!;
      if (seen.has(r)) continue;
      seen.add(r);
      const s = byId.get(r);
      if (s) stack.push(...s.downRevisions, ...s.dependsOn);
    }
    return seen;
  };
  const all = ancestors(h.head).size;
  let best = { from: h.head, pending: 0 };
  let rev = h.head;
  for (let i = 0; i < 50; i++) {
    const down = byId.get(rev)?.downRevisions[0];
    if (!down) break;
    rev = down;
    const pending = all - ancestors(rev).size;
    best = { from: rev, pending };
    if (pending >= want) break; // the first point with at least `want` pending
  }
  return best;
}

interface CheckFigure {
  m: Measured;
  pending: number;
  decision: string;
}

async function timedCheck(ctx: Ctx, cwd: string, args: string[]): Promise<CheckFigure> {
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
  const m = await measure(ctx.work, process.execPath, [CLI, 'check', ...args], { env, cwd });
  if (m.exitCode !== 0 && m.exitCode !== 2) {
    throw new Error(`check ${args.join(' ')} exited with ${m.exitCode}: ${m.output.slice(-500)}`);
  }
  // The report's first line: "Migrations up to X: N, ..." or "Pending migrations from X to Y: N".
  const first = /^(?:Migrations up to|Pending migrations from) [^:]*: (\d+)/m.exec(m.output);
  return { m, pending: first ? Number(first[1]) : -1, decision: m.exitCode === 0 ? 'allow' : 'block' };
}

const rssOf = (m: Measured): number => m.selfHwmKb ?? m.treeMaxRssKb ?? 0;

/**
 * Issue 14 §1: for 2,000, 10,000 and 30,000-migration histories, the parse-only limit (read every
 * file and parse it with the same parser, nothing else, one process), `check` with the whole
 * history classified and `check --from` with 3 pending, each as wall time (Node's start included,
 * for both sides), ratio to parse-only and peak RSS, beside the goal.
 */
/**
 * The run with the median wall time, carrying the highest peak RSS of all runs: one figure per side
 * that neither a lucky nor an unlucky run decides, and a memory figure that is never the best case.
 */
function medianRun(runs: Measured[]): Measured {
  const sorted = [...runs].sort((a, b) => a.wallMs - b.wallMs);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const peak = Math.max(...runs.map(rssOf));
  return { ...mid, selfHwmKb: peak, treeMaxRssKb: peak };
}

async function benchParse(ctx: Ctx): Promise<void> {
  for (const count of parseSizes()) {
    const dir = join(ctx.work, `synthetic-${count}`);
    const h = await generateHistory(dir, { count, seed: 1 });
    log(`parse: synthetic history of ${h.revisions.length} migrations in ${dir}`);
    const env = { PATH: process.env.PATH ?? '' };
    const { from } = fromForPending(h, 3);
    const runs = { only: [] as Measured[], whole: [] as CheckFigure[], three: [] as CheckFigure[] };
    // Rounds interleave the three sides, so a busy moment of the machine weighs on all of them.
    for (let r = 0; r < ctx.runs; r++) {
      const o = mustSucceed(
        'parse-only',
        await measure(ctx.work, process.execPath, [join(HERE, 'parse-only.js'), h.versionsDir], { env }),
      );
      runs.only.push(o);
      log(`parse-only ${count} (${r + 1}/${ctx.runs}): ${secs(o.wallMs)}, RSS ${mb(rssOf(o))}`);
      const w = await timedCheck(ctx, dirname(h.iniPath), []);
      runs.whole.push(w);
      log(
        `check whole ${count} (${r + 1}/${ctx.runs}): ${secs(w.m.wallMs)}, RSS ${mb(rssOf(w.m))}, ${w.pending} judged, ${w.decision}`,
      );
      const t = await timedCheck(ctx, dirname(h.iniPath), ['--from', from]);
      runs.three.push(t);
      log(
        `check --from ${from} ${count} (${r + 1}/${ctx.runs}): ${secs(t.m.wallMs)}, RSS ${mb(rssOf(t.m))}, ${t.pending} pending, ${t.decision}`,
      );
    }
    const only = medianRun(runs.only);
    const whole = { ...runs.whole[0]!, m: medianRun(runs.whole.map((c) => c.m)) };
    const three = { ...runs.three[0]!, m: medianRun(runs.three.map((c) => c.m)) };
    const ratio = (m: Measured) => m.wallMs / only.wallMs;
    const n = count.toLocaleString('en-US');
    rows.push({
      section: 'parse',
      figure: `${n}: parse-only limit (read + tree-sitter, one process), median of ${ctx.runs}`,
      measured: `${secs(only.wallMs)}, ${mb(rssOf(only))}`,
      target: '(baseline)',
    });
    const wholeOk = ratio(whole.m) <= 2.0 && rssOf(whole.m) <= 200 * 1024;
    rows.push({
      section: 'parse',
      figure: `${n}: check, whole history classified (${whole.pending} judged, exit ${whole.m.exitCode}), median of ${ctx.runs}`,
      measured: `${secs(whole.m.wallMs)} (${ratio(whole.m).toFixed(2)}x), ${mb(rssOf(whole.m))}`,
      target: '<= 2.0x & <= 200 MB',
      pass: wholeOk,
    });
    const big = count >= 30000;
    const threeOk = big
      ? three.m.exitCode !== 3 && rssOf(three.m) <= 250 * 1024
      : ratio(three.m) <= 1.5 && rssOf(three.m) <= 150 * 1024;
    rows.push({
      section: 'parse',
      figure: `${n}: check --from, ${three.pending} pending (exit ${three.m.exitCode}, ${three.decision}), median of ${ctx.runs}`,
      measured: `${secs(three.m.wallMs)} (${ratio(three.m).toFixed(2)}x), ${mb(rssOf(three.m))}`,
      target: big ? 'completes (exit 0/2) & <= 250 MB' : '<= 1.5x & <= 150 MB',
      pass: threeOk,
    });
  }
}

async function benchRun(ctx: Ctx): Promise<void> {
  const url = await bigDatabase(ctx);
  const proj = await project(ctx);
  const dumps = join(ctx.work, 'run-dumps');
  const bareFile = join(ctx.work, 'bare.dump');
  const env = gateEnv(ctx, url, proj.ini, dumps);
  const libpq = cleanEnv(parseDatabaseUrl(url).libpqEnv());
  const pgDump = process.env.MIGRATION_GATE_PG_DUMP ?? 'pg_dump';
  const gate: Measured[] = [];
  const bare: number[] = [];
  for (let i = 0; i < ctx.runs; i++) {
    for (const which of i % 2 === 0 ? ['gate', 'bare'] : ['bare', 'gate']) {
      const from = await resetBenchDatabase(url);
      if (from && from !== BENCH_PENDING_REVISION)
        throw new Error(`bench database was at ${from}, expected ${BENCH_PENDING_REVISION}`);
      await emptyDir(dumps);
      await rm(bareFile, { force: true });
      if (which === 'gate') {
        const m = mustSucceed(
          'migration-gate run',
          await measure(ctx.work, process.execPath, [CLI, 'run'], { env, cwd: proj.dir }),
        );
        gate.push(m);
        log(
          `run ${i + 1}/${ctx.runs}: migration-gate run ${secs(m.wallMs)} (node ${m.selfHwmKb ? mb(m.selfHwmKb) : '?'}, tree ${m.treeMaxRssKb ? mb(m.treeMaxRssKb) : '?'})`,
        );
      } else {
        const ms = await timed('pg_dump -Fc -f file && alembic upgrade head', async () => {
          await tracked(
            execa(pgDump, ['-Fc', '-f', bareFile], { env: libpq, extendEnv: false, stdin: 'ignore' }),
          );
          await tracked(
            execa(ctx.alembic[0]!, [...ctx.alembic.slice(1), '-c', proj.ini, 'upgrade', 'head'], {
              cwd: proj.dir,
              env: cleanEnv({ DATABASE_URL: url }),
              extendEnv: false,
              stdin: 'ignore',
            }),
          );
        });
        bare.push(ms);
        log(`run ${i + 1}/${ctx.runs}: pg_dump -Fc -f file && alembic upgrade head ${secs(ms)}`);
      }
    }
  }
  await rm(bareFile, { force: true });
  await rm(dumps, { recursive: true, force: true });
  const g = median(gate.map((m) => m.wallMs));
  const b = median(bare);
  const ratio = g / b;
  rows.push(
    {
      section: 'run',
      figure: `migration-gate run, median of ${ctx.runs}`,
      measured: secs(g),
      target: '(info)',
    },
    {
      section: 'run',
      figure: `pg_dump -Fc -f file && alembic upgrade head, median of ${ctx.runs}`,
      measured: secs(b),
      target: '(info)',
    },
    {
      section: 'run',
      figure: 'ratio gate / bare sequence',
      measured: ratio.toFixed(3),
      target: '<= 1.10',
      pass: ratio <= 1.1,
    },
    ...rssRow('run', 'gate', gate, 150),
  );
}

async function benchNoop(ctx: Ctx, needBig: boolean): Promise<void> {
  const proj = await project(ctx);
  // The no-op path reads no table data: the big database when it is built anyway, else a small one.
  let url: string;
  if (needBig) url = await bigDatabase(ctx);
  else {
    url = ctx.cluster.url('bench_small');
    await createBenchDatabase(url, { targetBytes: 16 * MiB, log: (l) => log(l) });
  }
  await tracked(
    execa(ctx.alembic[0]!, [...ctx.alembic.slice(1), '-c', proj.ini, 'upgrade', 'head'], {
      cwd: proj.dir,
      env: cleanEnv({ DATABASE_URL: url }),
      extendEnv: false,
      stdin: 'ignore',
    }),
  );
  const dumps = join(ctx.work, 'noop-dumps');
  const env = gateEnv(ctx, url, proj.ini, dumps);
  const runs: Measured[] = [];
  for (let i = 0; i < 5; i++) {
    const m = mustSucceed(
      'migration-gate run (nothing pending)',
      await measure(ctx.work, process.execPath, [CLI, 'run'], { env, cwd: proj.dir }),
    );
    if (!/Nothing pending/.test(m.output))
      throw new Error(`expected a no-op run, got:\n${m.output.slice(-800)}`);
    runs.push(m);
    log(`noop ${i + 1}/5: ${secs(m.wallMs)}`);
  }
  await rm(dumps, { recursive: true, force: true });
  const med = median(runs.map((m) => m.wallMs));
  rows.push(
    {
      section: 'noop',
      figure: 'migration-gate run, nothing pending (incl. node start), median of 5',
      measured: secs(med),
      // Issue 14 §4: a deploy with nothing to migrate costs half a second at most.
      target: '<= 0.50 s',
      pass: med <= 500,
    },
    ...rssRow('noop', 'no-op run', runs, 150).map(({ pass: _pass, ...r }) => ({ ...r, target: '(info)' })),
  );
}

async function benchS3(ctx: Ctx): Promise<void> {
  const url = await bigDatabase(ctx);
  const s3 = await startS3Server();
  // Stopped as soon as the section ends, so an idle moto does not sit beside the later sections.
  const stop = () => s3.stop();
  cleanups.push(stop);
  try {
    await s3Runs(ctx, url, s3);
  } finally {
    if (cleanups.includes(stop)) cleanups.splice(cleanups.indexOf(stop), 1);
    await stop();
  }
}

const CPU_SIDE: Record<string, string> = {
  s3: 'gate dump to S3',
  bare: 'bare SDK upload',
  sdk: 'bare SDK upload, SDK default client',
  file: 'gate dump to file://',
  local: 'pg_dump -Fc -f',
};

/** The 1/5/15-minute load averages: the machine is shared, so every figure says how busy it was. */
function loadText(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

/** Median CPU-s of pg_dump, its backend, the measured node process, pg_restore and moto. */
function ownCpu(profiles: CpuProfile[]): number {
  const p = medianProfile(profiles);
  return Object.entries(p.seconds)
    .filter(([label]) => !label.startsWith('other') && label !== 'postgres background')
    .reduce((sum, [, s]) => sum + s, 0);
}

async function s3Runs(ctx: Ctx, url: string, s3: S3Server): Promise<void> {
  const bucket = 'bench-dumps';
  await s3.createBucket(bucket);
  const client = s3.client();
  const emptyBucket = async () => {
    for (;;) {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      if (!page.Contents?.length) return;
      for (const o of page.Contents)
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }));
    }
  };
  const libpq = cleanEnv(parseDatabaseUrl(url).libpqEnv());
  const pgDump = process.env.MIGRATION_GATE_PG_DUMP ?? 'pg_dump';
  const localFile = join(ctx.work, 'local.dump');
  const fileDumps = join(ctx.work, 's3-control-dumps');
  const s3Env = cleanEnv(
    s3.env({ DATABASE_URL: url, MIGRATION_GATE_DUMP_TARGET: `s3://${bucket}/dumps` }) as Record<
      string,
      string
    >,
  );
  // Control: the same dump entry (pg_dump teed into two pg_restore readers, sha256) to a file:// target,
  // which tells the cost of S3 itself apart from the cost of verifying the dump.
  const fileEnv = cleanEnv({ DATABASE_URL: url, MIGRATION_GATE_DUMP_TARGET: `file://${fileDumps}` });
  // Baseline: pg_dump -Fc piped into the SDK's Upload (same part and queue size, same client settings
  // as the gate), nothing verified. The 'sdk' side is the same with the SDK's default client (CRC32
  // trailers, which the gate sends to AWS only): it shows what that choice costs on this test server.
  const bareEnv = { ...s3Env, BENCH_BUCKET: bucket, BENCH_KEY: 'bare/bench.dump' };
  const sdkEnv = { ...bareEnv, BENCH_SDK_DEFAULTS: '1' };
  const gate: Measured[] = [];
  const bare: Measured[] = [];
  const sdkDefault: Measured[] = [];
  const control: number[] = [];
  const local: number[] = [];
  const sides = ['s3', 'bare', 'sdk', 'file', 'local'] as const;
  const cpu: Record<string, CpuProfile[]> = Object.fromEntries(sides.map((side) => [side, []]));
  const loads: number[] = [];
  let dumpBytes = 0;
  const postmaster = postmasterPid(ctx.cluster.dataDir);
  for (let i = 0; i < ctx.runs; i++) {
    // Rotate the order so cache warmth and background work do not favour one side.
    for (const which of sides.map((_, k) => sides[(k + i) % sides.length]!)) {
      await emptyBucket();
      await emptyDir(fileDumps);
      await rm(localFile, { force: true });
      let root: number | undefined;
      const onSpawn = (pid: number | undefined) => (root = pid);
      const sampler = new CpuSampler(() => ({ root, moto: s3.pid, postmaster }));
      const profiled = (line: string) => {
        const p = sampler.stop();
        cpu[which].push(p);
        log(`s3 ${i + 1}/${ctx.runs}: ${line}`);
        loads.push(loadavg()[0]!);
        log(`  cpu: ${formatProfile(p, cpus().length)}; load ${loadText()}`);
      };
      if (which === 'local') {
        const ms = await timed('pg_dump -Fc -f file', () => {
          const child = tracked(
            execa(pgDump, ['-Fc', '-f', localFile], { env: libpq, extendEnv: false, stdin: 'ignore' }),
          );
          onSpawn(child.pid);
          return child;
        });
        local.push(ms);
        profiled(`pg_dump -Fc -f file ${secs(ms)}`);
        continue;
      }
      if (which === 'bare' || which === 'sdk') {
        const b = mustSucceed(
          's3-bare',
          await measure(ctx.work, process.execPath, [join(HERE, 's3-bare.js')], {
            env: which === 'bare' ? bareEnv : sdkEnv,
            onSpawn,
          }),
        );
        (which === 'bare' ? bare : sdkDefault).push(b);
        const client = which === 'bare' ? "the gate's client settings" : "the SDK's default client";
        profiled(
          `bare pg_dump | SDK Upload -> S3 (moto), ${client} ${secs(b.wallMs)} (node ${b.selfHwmKb ? mb(b.selfHwmKb) : '?'})`,
        );
        continue;
      }
      const m = mustSucceed(
        `s3-dump (${which})`,
        await measure(ctx.work, process.execPath, [join(HERE, 's3-dump.js')], {
          env: which === 's3' ? s3Env : fileEnv,
          onSpawn,
        }),
      );
      dumpBytes = JSON.parse(m.output.trim().split('\n').pop()!).bytes;
      if (which === 's3') gate.push(m);
      else control.push(m.wallMs);
      profiled(
        `takeSafetyDump -> ${which === 's3' ? 'S3 (moto)' : 'file:// (control)'} ${secs(m.wallMs)}, ` +
          `${Math.round(dumpBytes / MiB)} MiB (node ${m.selfHwmKb ? mb(m.selfHwmKb) : '?'})`,
      );
    }
  }
  await emptyBucket();
  await rm(fileDumps, { recursive: true, force: true });
  await rm(localFile, { force: true });
  const g = median(gate.map((m) => m.wallMs));
  const c = median(control);
  const l = median(local);
  const b = median(bare.map((m) => m.wallMs));
  const ratio = g / l;
  const bareRatio = g / b;
  rows.push(
    {
      section: 's3',
      figure: `gate dump to S3 on loopback (moto), ${Math.round(dumpBytes / MiB)} MiB archive, median of ${ctx.runs}`,
      measured: secs(g),
      target: '(info)',
    },
    {
      section: 's3',
      figure: `pg_dump -Fc -f file (local disk), median of ${ctx.runs}`,
      measured: secs(l),
      target: '(info)',
    },
    {
      section: 's3',
      figure: 'ratio S3 dump / local pg_dump',
      measured: ratio.toFixed(3),
      target: '<= 1.15',
      pass: ratio <= 1.15,
    },
    {
      section: 's3',
      figure: `bare baseline: pg_dump -Fc | SDK Upload (8 MiB x 2, the gate's client settings), unverified, median of ${ctx.runs}`,
      measured: `${secs(b)} (ratio to local ${(b / l).toFixed(3)})`,
      target: '(info)',
    },
    {
      section: 's3',
      figure: `the same with the SDK's default client (CRC32 trailers), median of ${ctx.runs}`,
      measured: `${secs(median(sdkDefault.map((m) => m.wallMs)))} (gate / this ${(g / median(sdkDefault.map((m) => m.wallMs))).toFixed(3)})`,
      target: '(info)',
    },
    {
      section: 's3',
      figure: 'ratio S3 dump / bare SDK upload',
      measured: bareRatio.toFixed(3),
      target: '<= 1.05',
      pass: bareRatio <= 1.05,
    },
    {
      section: 's3',
      // Each round runs the sides back to back, so a round's ratio sees one load; robust to drifting load.
      figure: 'paired: median over rounds of (gate S3 / bare) in the same round',
      measured: median(gate.map((m, k) => m.wallMs / bare[k]!.wallMs)).toFixed(3),
      target: '(info)',
    },
    {
      section: 's3',
      figure: "CPU of the dump's own processes (all but other users and the bench), gate S3 / bare",
      measured: (ownCpu(cpu.s3!) / ownCpu(cpu.bare!)).toFixed(3),
      target: '(info)',
    },
    {
      section: 's3',
      figure: 'load average (1 min) at the end of each run: min / median / max',
      measured: `${Math.min(...loads).toFixed(2)} / ${median(loads).toFixed(2)} / ${Math.max(...loads).toFixed(2)} on ${cpus().length} cores`,
      target: '(info)',
    },
    {
      section: 's3',
      figure: `control: same gate dump to file:// (verified, hashed), median of ${ctx.runs}`,
      measured: `${secs(c)} (ratio ${(c / l).toFixed(3)})`,
      target: '(info)',
    },
    ...rssRow('s3', 'gate dump to S3', gate, 150),
    // The goal is the gate's; the baseline's own memory is shown beside it.
    ...rssRow('s3', 'bare SDK upload', bare, undefined),
    ...sides.map((side) => ({
      section: 's3' as const,
      figure: `CPU seconds per process, median of ${ctx.runs}: ${CPU_SIDE[side]}`,
      measured: formatProfile(medianProfile(cpu[side]), cpus().length),
      target: '(info)',
    })),
  );
}

async function benchServe(ctx: Ctx): Promise<void> {
  const url = ctx.cluster.url('bench_server');
  await ensureDatabase(parseDatabaseUrl(url));
  const results = await benchServer({ databaseUrl: url, log: (l) => log(l) });
  for (const r of results) {
    const errors = r.non2xx || r.errors ? ` (non-2xx ${r.non2xx}, errors ${r.errors})` : '';
    rows.push(
      {
        section: 'server',
        figure: `GET ${r.path}, 50 connections, 10 s: throughput`,
        measured: `${r.requestsPerSec.toLocaleString('en-US')} req/s${errors}`,
        target: '>= 2,000 req/s',
        pass: r.requestsPerSec >= 2000 && !r.non2xx && !r.errors,
      },
      {
        section: 'server',
        figure: `GET ${r.path}: p99 latency`,
        measured: `${r.p99Ms} ms`,
        target: '<= 50 ms',
        pass: r.p99Ms <= 50,
      },
    );
  }
}

async function benchRehearsal(ctx: Ctx): Promise<void> {
  const url = await bigDatabase(ctx);
  const proj = await project(ctx);
  await resetBenchDatabase(url);
  const r = await benchRehearse({
    databaseUrl: url,
    rehearsalUrl: ctx.cluster.url('postgres'),
    iniPath: proj.ini,
    cwd: proj.dir,
    alembic: ctx.alembic.join(' '),
    runs: ctx.runs,
    log: (l) => log(`rehearse: ${l}`),
  });
  rows.push(
    {
      section: 'rehearse',
      figure: `migration-gate rehearse, median of ${ctx.runs}`,
      measured: secs(r.medianGateMs),
      target: '(info)',
    },
    {
      section: 'rehearse',
      figure: `pg_dump; createdb; pg_restore -j 1; alembic upgrade head, median of ${ctx.runs}`,
      measured: secs(r.medianManualMs),
      target: '(info)',
    },
    {
      section: 'rehearse',
      figure: 'ratio rehearse / manual',
      measured: r.ratio.toFixed(3),
      target: '<= 0.90',
      pass: r.ratio <= 0.9,
    },
  );
}

// ---------------------------------------------------------------------------------------------

/** Flushes what earlier sections wrote, so a section's timings do not pay for a predecessor's checkpoint. */
async function checkpoint(cluster: LocalCluster): Promise<void> {
  const db = await connect(parseDatabaseUrl(cluster.url('postgres')), {
    applicationName: 'migration-gate bench',
  });
  try {
    await db.query('CHECKPOINT');
  } finally {
    await db.end().catch(() => undefined);
  }
}

function selected(): Section[] {
  const raw = process.env.MIGRATION_GATE_BENCH_ONLY?.trim();
  if (!raw) return [...SECTIONS];
  const names = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(SECTIONS as readonly string[]).includes(n));
  if (unknown.length) {
    throw new Error(
      `MIGRATION_GATE_BENCH_ONLY has unknown section(s) ${unknown.join(', ')}: use ${SECTIONS.join(', ')}`,
    );
  }
  return SECTIONS.filter((s) => names.includes(s));
}

/** Start-up cost of the kill guard around Alembic (target: well under Alembic's own start-up). */
async function benchGuardSection(ctx: Ctx): Promise<void> {
  const rounds = Math.max(9, ctx.runs * 3);
  const r = await benchGuard(ctx.alembic, rounds, ROOT);
  const added = r.addedMs;
  rows.push(
    {
      section: 'guard',
      figure: `alembic --version direct / under the guard, median of ${rounds}`,
      measured: `${r.directMs.toFixed(0)} ms / ${r.guardedMs.toFixed(0)} ms`,
      target: '(info)',
    },
    {
      section: 'guard',
      figure: 'start-up the guard adds to alembic (median of paired differences)',
      measured: `${added.toFixed(0)} ms (${((added / r.directMs) * 100).toFixed(0)}%)`,
      target: '<= 100 ms',
      pass: added <= 100,
    },
    {
      section: 'guard',
      figure: 'the guard alone (python -I -S, prctl, exec true), median',
      measured: `${r.guardOnlyMs.toFixed(0)} ms`,
      target: '(info)',
    },
  );
}

function positiveInt(name: string, fallback: number, min: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${raw} is not a whole number >= ${min}`);
  return n;
}

function printTable(): void {
  const header = ['section', 'figure', 'measured', 'target', 'result'];
  const body = rows.map((r) => [
    r.section,
    r.figure,
    r.measured,
    r.target,
    r.pass === undefined ? '' : r.pass ? 'PASS' : 'MISS',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  console.log('');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

async function main(): Promise<number> {
  const sections = selected();
  const bytes = positiveInt('MIGRATION_GATE_BENCH_BYTES', DEFAULT_TARGET_BYTES, 8 * MiB);
  const runs = positiveInt('MIGRATION_GATE_BENCH_RUNS', 3, 1);
  const started = performance.now();
  const work = await mkdtemp(join(tmpdir(), 'mg-bench-'));
  cleanups.push(() => rm(work, { recursive: true, force: true }));
  log(
    `sections ${sections.join(', ')}; big database ${Math.round(bytes / MiB)} MiB; ${runs} runs per side; ` +
      `RSS via ${haveTime ? `${TIME_BIN} -f %M and ` : ''}/proc/<pid>/status VmHWM polling`,
  );
  const cluster = await startLocalCluster({ log: (l) => log(l) });
  cleanups.push(() => cluster.stop());
  const ctx: Ctx = { work, cluster, alembic: alembicCommand(), runs, bytes };
  const needBig = sections.some((s) => s === 'run' || s === 's3' || s === 'rehearse');
  const failures: string[] = [];
  const durations: string[] = [];
  for (const section of sections) {
    if (cleaning) break; // interrupted: the signal handler is tearing down
    const t0 = performance.now();
    log(`=== ${section} ===`);
    try {
      await checkpoint(cluster);
      if (section === 'parse') await benchParse(ctx);
      else if (section === 'run') await benchRun(ctx);
      else if (section === 'noop') await benchNoop(ctx, needBig);
      else if (section === 's3') await benchS3(ctx);
      else if (section === 'server') await benchServe(ctx);
      else if (section === 'guard') await benchGuardSection(ctx);
      else await benchRehearsal(ctx);
    } catch (err) {
      const message = (err as Error).message;
      failures.push(section);
      log(`${section} failed: ${message}`);
      rows.push({
        section,
        figure: 'ERROR',
        measured: message.split('\n')[0]!.slice(0, 100),
        target: '-',
        pass: false,
      });
    }
    durations.push(`${section} ${secs(performance.now() - t0)}`);
  }
  printTable();
  console.log(
    `\nwall time: ${secs(performance.now() - started)} (${durations.join(', ')}); big database ${Math.round(bytes / MiB)} MiB at ${BENCH_BASE_REVISION}, ${BENCH_PENDING_REVISION} pending`,
  );
  const missed = rows.filter((r) => r.pass === false).length;
  console.log(missed ? `${missed} figure(s) missed or failed.` : 'All targets met.');
  return missed || failures.length ? 1 : 0;
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  async (err) => {
    log(`failed: ${(err as Error).message}`);
    await cleanup();
    process.exit(1);
  },
);
