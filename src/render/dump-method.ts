/**
 * MIGRATION_GATE_DUMP_METHOD: pg_dump (default), render-export, or auto (pg_dump when the client
 * can read the server, else Render's export). Called first by the safety-dump step; `undefined`
 * means "take the pg_dump path as usual".
 */
import type { Settings } from '../config/settings.js';
import { checkDumpCompatible, pgToolVersion } from '../db/dump.js';
import type { RunDump } from '../db/history.js';
import { ConfigError, GateError } from '../errors.js';
import type { SafetyDumpArgs } from '../gate/safety-dump.js';
import { openDumpTarget } from '../storage/index.js';
import { dumpObjectName } from '../storage/naming.js';
import { dumpPurpose } from '../storage/provenance.js';
import { postgresIdFrom, RenderApi } from './api.js';
import { takeRenderExport } from './export.js';

export interface RenderTarget {
  api: RenderApi;
  postgresId: string;
}

/** The Render API and the database's id, when both are configured; else undefined. */
export function renderTarget(
  settings: Pick<Settings, 'renderApiKey' | 'renderApiUrl' | 'renderPostgresId'>,
  host: string | undefined,
  signal?: AbortSignal,
): RenderTarget | undefined {
  const postgresId = postgresIdFrom(settings.renderPostgresId, host);
  if (!settings.renderApiKey || !postgresId) return undefined;
  return {
    api: new RenderApi({ baseUrl: settings.renderApiUrl, apiKey: settings.renderApiKey, signal }),
    postgresId,
  };
}

function missingRender(settings: Settings, host: string | undefined): string {
  const parts: string[] = [];
  if (!settings.renderApiKey) parts.push('RENDER_API_KEY is not set');
  if (!postgresIdFrom(settings.renderPostgresId, host))
    parts.push(
      `the database id is unknown (DATABASE_URL's host ${host ?? '?'} is not dpg-<id>-a; set MIGRATION_GATE_RENDER_POSTGRES_ID=dpg-...)`,
    );
  return parts.join(' and ');
}

/** Whether pg_dump can dump this server; a missing or too old client counts as "no". */
async function pgDumpFits(settings: Settings, serverNum: number): Promise<boolean> {
  try {
    const v = await pgToolVersion(settings.pgDump);
    checkDumpCompatible(v.major, serverNum, v.text);
    return true;
  } catch (err) {
    if (err instanceof GateError) return false;
    throw err;
  }
}

export async function renderExportIfChosen(args: SafetyDumpArgs): Promise<RunDump | undefined> {
  const { settings } = args;
  if (settings.dumpMethod === 'pg_dump') return undefined;
  const target = renderTarget(settings, args.target.host, args.signal);
  if (settings.dumpMethod === 'auto') {
    if (await pgDumpFits(settings, args.server.num)) return undefined;
    // No matching client and no API: the pg_dump path fails with the message that names pg-client install.
    if (!target) return undefined;
    args.info(
      `pg_dump cannot dump this PostgreSQL ${args.server.text} server; MIGRATION_GATE_DUMP_METHOD=auto uses Render's export instead.`,
    );
  }
  if (!target) {
    throw new ConfigError(
      `MIGRATION_GATE_DUMP_METHOD=${settings.dumpMethod} needs the Render API, but ${missingRender(settings, args.target.host)}`,
    );
  }
  const sink = settings.dumpTarget ? await openDumpTarget(settings.dumpTarget) : undefined;
  await sink?.preflight();
  const createdAt = (args.now ?? (() => new Date()))();
  const madeBy = args.madeBy ?? 'run';
  const purpose = args.purpose ?? dumpPurpose(madeBy, args.runId, args.current, args.next);
  const res = await takeRenderExport({
    api: target.api,
    postgresId: target.postgresId,
    timeoutMs: settings.renderExportTimeoutMs,
    sink,
    name: dumpObjectName({
      service: args.render.service,
      createdAt,
      fromRevisions: args.current,
      toRevisions: args.next,
      commit: args.render.commit,
    }),
    meta: {
      service: args.render.service,
      commit: args.render.commit,
      fromRevisions: args.current,
      toRevisions: args.next,
      // Marks the copy as Render's .dir.tar.gz (tar -xzf, then pg_restore --format=directory), not pg_dump -Fc.
      pgDumpVersion: `render-export ${target.postgresId}`,
      serverVersion: args.server.text,
      createdAt,
      madeBy,
      ...(args.runId ? { runId: args.runId } : {}),
      purpose,
    },
    info: args.info,
    signal: args.signal,
  });
  args.info(
    `Safety dump verified (Render export ${res.exportId}): ${res.location}, ${res.bytes} bytes, sha256 ${res.sha256}, ${res.entries} archive entries, ${(res.durationMs / 1000).toFixed(1)}s${res.copied ? '' : '; kept by Render for 7 days (set MIGRATION_GATE_DUMP_TARGET to keep a copy of your own)'}.`,
  );
  return {
    id: res.id,
    location: res.location,
    bytes: res.bytes,
    sha256: res.sha256,
    durationMs: res.durationMs,
    madeBy,
    revisions: args.current,
    purpose,
    createdAt: createdAt.toISOString(),
    method: 'render-export',
    renderExportId: res.exportId,
    renderPostgresId: target.postgresId,
  };
}
