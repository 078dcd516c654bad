/** Shared by `restore` and `rollback`: the safety dump taken before either changes production. */
import type pg from 'pg';
import type { RenderEnv, Settings } from '../config/settings.js';
import { serverVersion } from '../db/catalog.js';
import { redact, type DbTarget } from '../db/connect.js';
import type { RunDump } from '../db/history.js';
import { ConfigError } from '../errors.js';
import { takeVerifiedSafetyDump } from '../gate/safety-dump.js';

export type Say = (line: string) => void;

/** Restore and rollback change production: both need somewhere to put the "before" dump. */
export function requireDumpTarget(settings: Settings, command: string): string {
  if (!settings.dumpTarget) {
    throw new ConfigError(
      `${command} takes a safety dump of the current state first, but MIGRATION_GATE_DUMP_TARGET is not set: set it to s3://bucket/prefix or file:///dir and re-run`,
    );
  }
  return settings.dumpTarget;
}

export async function safetyDumpBefore(args: {
  settings: Settings;
  render: RenderEnv;
  target: DbTarget;
  client: pg.Client;
  current: string[];
  next: string[];
  say: Say;
  signal?: AbortSignal;
}): Promise<RunDump> {
  requireDumpTarget(args.settings, 'this command');
  const secrets = args.target.password ? [args.target.password] : [];
  return takeVerifiedSafetyDump({
    settings: args.settings,
    render: args.render,
    target: args.target,
    server: await serverVersion(args.client),
    current: args.current,
    next: args.next,
    info: args.say,
    warn: args.say,
    scrub: (text) => redact(text, secrets),
    signal: args.signal,
  });
}
