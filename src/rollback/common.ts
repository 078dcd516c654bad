/** Shared by `restore` and `rollback`: the safety dump taken before either changes production. */
import type pg from 'pg';
import type { RenderEnv, Settings } from '../config/settings.js';
import { serverVersion } from '../db/catalog.js';
import { describeTarget, type DbTarget } from '../db/connect.js';
import { checkDumpCompatible, pgToolVersion, takeSafetyDump } from '../db/dump.js';
import type { RunDump } from '../db/history.js';
import { ConfigError } from '../errors.js';
import { openDumpTarget } from '../storage/index.js';
import { dumpObjectName } from '../storage/naming.js';

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
  const { settings, render, target } = args;
  const sink = openDumpTarget(requireDumpTarget(settings, 'this command'));
  await sink.preflight();
  const server = await serverVersion(args.client);
  const tool = await pgToolVersion(settings.pgDump);
  checkDumpCompatible(tool.major, server.num, tool.text);
  const createdAt = new Date();
  const name = dumpObjectName({
    service: render.service,
    createdAt,
    fromRevisions: args.current,
    toRevisions: args.next,
    commit: render.commit,
  });
  args.say(`Taking a safety dump of ${describeTarget(target)} to ${sink.description} first.`);
  const res = await takeSafetyDump({
    target,
    sink,
    name,
    meta: {
      service: render.service,
      commit: render.commit,
      fromRevisions: args.current,
      toRevisions: args.next,
      pgDumpVersion: tool.text,
      serverVersion: server.text,
      createdAt,
    },
    pgDump: settings.pgDump,
    pgRestore: settings.pgRestore,
    signal: args.signal,
  });
  args.say(`Safety dump verified: ${res.id} (${res.bytes} bytes, sha256 ${res.sha256.slice(0, 12)}…).`);
  return {
    id: res.id,
    location: res.location,
    bytes: res.bytes,
    sha256: res.sha256,
    durationMs: res.durationMs,
  };
}
