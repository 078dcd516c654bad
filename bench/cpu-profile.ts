/**
 * Where the CPU time of one benchmark run goes, per process: pg_dump, its PostgreSQL backend, the
 * measured node process, each pg_restore child, moto, and everything else on the machine (the bench
 * driver, other users' work). The `s3` section prints it per side, so "the gate is slower" comes with
 * the process that burnt the time.
 *
 * How: every 100 ms, /proc/<pid>/stat of every process (utime + stime), keyed by pid and start time.
 * A process first seen during the run counts from zero; one that was already running counts from its
 * first sample. A process that exits loses at most its last 100 ms, so the figures are a lower bound
 * within ~0.1 s per short-lived process; that is precise enough to tell a 1 s cost from a 3 s one.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // CLK_TCK is 100 on Linux x86-64 and arm64

interface Stat {
  pid: number;
  ppid: number;
  comm: string;
  ticks: number;
  start: string;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // exited meanwhile
  }
  // comm is in parentheses and may hold spaces or ')': everything after the last ')' is numeric fields.
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state): ppid = field 4, utime = 14, stime = 15, starttime = 22.
  return { pid, ppid: Number(f[1]), comm, ticks: Number(f[11]) + Number(f[12]), start: f[19]! };
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

interface Tracked {
  label: string;
  first: number;
  last: number;
  /** Seen at the first sample: only its growth counts. */
  preexisting: boolean;
}

export interface CpuRoots {
  /** The measured process (or the /usr/bin/time wrapper around it); its descendants are labelled by name. */
  root?: number;
  moto?: number;
  postmaster?: number;
}

/** CPU seconds per label, plus the run's wall time. */
export interface CpuProfile {
  wallMs: number;
  seconds: Record<string, number>;
}

export class CpuSampler {
  private readonly seen = new Map<string, Tracked>();
  private readonly timer: NodeJS.Timeout;
  private readonly started = performance.now();
  private firstPass = true;

  constructor(private readonly roots: () => CpuRoots) {
    this.sample();
    this.firstPass = false;
    this.timer = setInterval(() => this.sample(), 100);
  }

  private label(s: Stat, byPid: Map<number, Stat>, roots: CpuRoots): string {
    if (s.pid === roots.moto) return 'moto (S3 server)';
    if (roots.postmaster !== undefined && s.ppid === roots.postmaster)
      return this.firstPass ? 'postgres background' : 'postgres backend (serves pg_dump)';
    if (s.pid === roots.postmaster) return 'postgres background';
    if (roots.root !== undefined) {
      for (let p: Stat | undefined = s, depth = 0; p && depth < 8; p = byPid.get(p.ppid), depth++) {
        if (p.pid !== roots.root) continue;
        if (s.comm === 'pg_dump') return 'pg_dump';
        if (s.comm === 'pg_restore')
          return cmdline(s.pid).includes('--list') ? 'pg_restore --list' : 'pg_restore (full read)';
        if (s.comm === 'time') return 'measured node process';
        return s.comm.startsWith('node') || s.comm.startsWith('MainThread')
          ? 'measured node process'
          : `measured: ${s.comm}`;
      }
    }
    return 'other (bench driver, other users)';
  }

  private sample(): void {
    const roots = this.roots();
    const stats: Stat[] = [];
    for (const name of readdirSync('/proc')) {
      const pid = Number(name);
      if (!Number.isInteger(pid)) continue;
      const s = readStat(pid);
      if (s) stats.push(s);
    }
    const byPid = new Map(stats.map((s) => [s.pid, s]));
    for (const s of stats) {
      const key = `${s.pid}/${s.start}`;
      const known = this.seen.get(key);
      if (known) {
        known.last = s.ticks;
        // A child forked by the measured process is labelled once it has exec'd (comm set).
        if (known.label.startsWith('measured') || known.label.startsWith('other'))
          known.label = this.label(s, byPid, roots);
        continue;
      }
      this.seen.set(key, {
        label: this.label(s, byPid, roots),
        first: s.ticks,
        last: s.ticks,
        preexisting: this.firstPass,
      });
    }
  }

  stop(): CpuProfile {
    this.sample();
    clearInterval(this.timer);
    const seconds: Record<string, number> = {};
    for (const t of this.seen.values()) {
      const ticks = t.last - (t.preexisting ? t.first : 0);
      if (ticks > 0) seconds[t.label] = (seconds[t.label] ?? 0) + (ticks * TICK_MS) / 1000;
    }
    return { wallMs: performance.now() - this.started, seconds };
  }
}

/** Postmaster pid from a data directory (first line of postmaster.pid). */
export function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

const ORDER = [
  'pg_dump',
  'postgres backend (serves pg_dump)',
  'measured node process',
  'pg_restore (full read)',
  'pg_restore --list',
  'moto (S3 server)',
  'postgres background',
  'other (bench driver, other users)',
];

/** "pg_dump 10.9 s, backend 2.1 s, ...; total 20.3 CPU-s in 16.2 s wall (1.25 of 2 cores)". */
export function formatProfile(p: CpuProfile, cores: number): string {
  const labels = [
    ...ORDER.filter((l) => l in p.seconds),
    ...Object.keys(p.seconds).filter((l) => !ORDER.includes(l)),
  ];
  const total = Object.values(p.seconds).reduce((a, b) => a + b, 0);
  const parts = labels.map((l) => `${l} ${p.seconds[l]!.toFixed(1)}`);
  return `${parts.join(', ')}; total ${total.toFixed(1)} CPU-s in ${(p.wallMs / 1000).toFixed(1)} s wall (${(total / (p.wallMs / 1000)).toFixed(2)} of ${cores} cores)`;
}

/** Per-label median over runs (labels missing in a run count as 0). */
export function medianProfile(profiles: CpuProfile[]): CpuProfile {
  const med = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  const labels = new Set(profiles.flatMap((p) => Object.keys(p.seconds)));
  const seconds: Record<string, number> = {};
  for (const l of labels) seconds[l] = med(profiles.map((p) => p.seconds[l] ?? 0));
  return { wallMs: med(profiles.map((p) => p.wallMs)), seconds };
}
