/**
 * A run that cannot reach the database (server down, wrong password, history not writable) cannot
 * write its history row, and the pre-deploy instance's disk is thrown away with it. So it leaves a
 * small note beside the safety dumps (the dump target lives off the machine), and the next run that
 * holds the gate lock records each note as a failed run, says so in its log and removes the note.
 * Without a dump target there is nowhere to leave one, and the deploy log stays the only record.
 *
 * The note holds only what the history row would: time, command, service, commit, step and the
 * cause, already redacted. Both sides are best effort and bounded in time: neither ever changes the
 * outcome or the exit code of the run doing it.
 */
import { randomBytes } from 'node:crypto';
import type { RenderEnv, Settings } from '../config/settings.js';
import { recordPastAttempt } from '../db/history.js';
import type pg from 'pg';
import { openDumpTarget } from '../storage/index.js';
import type { DumpTarget, StoredNote } from '../storage/target.js';

/** What a note says (version 1). */
export interface UnrecordedAttempt {
  version: 1;
  command: 'run';
  /** ISO time the attempt started. */
  at: string;
  service: string | null;
  serviceId: string | null;
  commit: string | null;
  /** The step it failed at: connect or record-start. */
  step: string;
  /** The one-line cause, redacted. */
  cause: string;
}

/** Writing a note must not hold up a deploy that is already failing. */
export const NOTE_WRITE_TIMEOUT_MS = 5_000;
/** Reading notes runs beside the project load on every deploy; a slow store is given up on. */
export const NOTE_READ_TIMEOUT_MS = 10_000;
/** More notes than this are left for the following runs (each run records this many at most). */
const NOTES_PER_RUN = 20;

type OpenTarget = (url: string) => Promise<DumpTarget>;

/** `20261203T171500.123Z-<pid>-<random>.json`: names sort by time, and two attempts never collide. */
export function noteName(at: Date, pid: number, random = randomBytes(3).toString('hex')): string {
  const stamp = at.toISOString().replace(/[-:]/g, '');
  return `${stamp}-${pid}-${random}.json`;
}

export function attemptOf(render: RenderEnv, at: Date, step: string, cause: string): UnrecordedAttempt {
  return {
    version: 1,
    command: 'run',
    at: at.toISOString(),
    service: render.service ?? null,
    serviceId: render.serviceId ?? null,
    commit: render.commit ?? null,
    step,
    cause,
  };
}

const optionalText = (v: unknown): v is string | null => v === null || typeof v === 'string';

/** Pure: a note's text back into an attempt, or why it cannot be one. */
export function parseNote(text: string): { attempt: UnrecordedAttempt } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: 'it is not JSON' };
  }
  const v = value as Partial<Record<keyof UnrecordedAttempt, unknown>> | null;
  if (typeof v !== 'object' || v === null || v.version !== 1 || v.command !== 'run')
    return { problem: 'it is not a version 1 note of `migration-gate run`' };
  const at = typeof v.at === 'string' ? new Date(v.at) : new Date(NaN);
  if (Number.isNaN(at.getTime())) return { problem: 'its time is missing or not a date' };
  if (typeof v.step !== 'string' || typeof v.cause !== 'string' || !v.cause)
    return { problem: 'its step or cause is missing' };
  if (!optionalText(v.service) || !optionalText(v.serviceId) || !optionalText(v.commit))
    return { problem: 'its service or commit is not text' };
  return { attempt: v as UnrecordedAttempt };
}

function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000}s`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

export interface LeaveNoteOptions {
  settings: Settings;
  attempt: UnrecordedAttempt;
  scrub: (text: string) => string;
  openTarget?: OpenTarget;
  pid?: number;
}

/**
 * Leaves the note; returns its location, or why it could not (a full sentence for the log).
 * Nothing to do (and `{}`) without a dump target.
 */
export async function leaveUnrecordedNote(
  opts: LeaveNoteOptions,
): Promise<{ location?: string; problem?: string }> {
  const { settings, attempt } = opts;
  if (!settings.dumpTarget) return {};
  const name = noteName(new Date(attempt.at), opts.pid ?? process.pid);
  const signal = AbortSignal.timeout(NOTE_WRITE_TIMEOUT_MS);
  try {
    const location = await within(
      NOTE_WRITE_TIMEOUT_MS,
      'writing the note',
      (async () => {
        const target = await (opts.openTarget ?? openDumpTarget)(settings.dumpTarget!);
        return target.writeNote(name, JSON.stringify(attempt, null, 2) + '\n', signal);
      })(),
    );
    return { location };
  } catch (err) {
    return {
      problem: `Could not leave a note for the next run in the dump target (${opts.scrub(messageOf(err))}): the next run will not know about this attempt, so this log is its only record.`,
    };
  }
}

export interface RecordNotesOptions {
  client: Pick<pg.ClientBase, 'query'>;
  schema: string;
  settings: Settings;
  /** The run doing the recording (named in the rows it writes). */
  runId: number;
  warn: (line: string) => void;
  scrub: (text: string) => string;
  openTarget?: OpenTarget;
}

function describeAttempt(a: UnrecordedAttempt): string {
  const who = [a.service, a.commit ? `commit ${a.commit.slice(0, 12)}` : null].filter(Boolean).join(', ');
  return `The deploy attempt of ${a.at}${who ? ` (${who})` : ''}`;
}

async function recordOne(opts: RecordNotesOptions, target: DumpTarget, note: StoredNote): Promise<void> {
  const parsed = parseNote(note.text);
  if ('problem' in parsed) {
    opts.warn(
      `Ignored the note ${note.location}: ${parsed.problem}. The gate writes these when a run cannot reach the database; delete it if you did not put it there.`,
    );
    return;
  }
  const a = parsed.attempt;
  const { id, existed } = await recordPastAttempt(opts.client, opts.schema, {
    command: a.command,
    at: new Date(a.at),
    service: a.service,
    serviceId: a.serviceId,
    commit: a.commit,
    step: a.step,
    error: `${a.cause} (failed at: ${a.step})`,
    warnings: [
      `Recorded afterwards by run #${opts.runId}: this attempt could not reach the database, and left a note in the dump target.`,
    ],
  });
  await target.removeNote(note.name).catch((err: unknown) => {
    opts.warn(
      `Could not remove the note ${note.location} (${opts.scrub(messageOf(err))}); it is recorded, so the next run skips it. Delete it by hand.`,
    );
  });
  if (existed) return;
  opts.warn(
    `${describeAttempt(a)} could not reach the database and left no history record: ${a.cause}. Recorded it now as run #${id} (failed at: ${a.step}).`,
  );
}

/**
 * Records the notes earlier runs left, oldest first. Call while holding the gate lock (two runs never
 * record the same note at once). Never throws: a store that cannot be read is one warning, and its
 * notes wait for the next run.
 */
export async function recordUnrecordedAttempts(opts: RecordNotesOptions): Promise<void> {
  if (!opts.settings.dumpTarget) return;
  try {
    await within(
      NOTE_READ_TIMEOUT_MS,
      'reading the notes',
      (async () => {
        const target = await (opts.openTarget ?? openDumpTarget)(opts.settings.dumpTarget!);
        for (const note of await target.readNotes(NOTES_PER_RUN)) await recordOne(opts, target, note);
      })(),
    );
  } catch (err) {
    opts.warn(
      `Could not look for notes of earlier runs that could not reach the database (${opts.scrub(messageOf(err))}); any there stay for the next run.`,
    );
  }
}
