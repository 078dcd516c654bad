/**
 * A migration's facts kept between the one parse of its file and the moment they are used. Held as
 * objects, the facts of a long history cost several KB per file (and every string sliced from the
 * source keeps the whole file alive); serialized, a few hundred bytes. Loading a 30,000-file history
 * keeps them packed and unpacks one migration's facts at a time, when it is replayed or judged.
 */
import type { MigrationBody, MigrationScript } from '../types.js';

export interface PackedBody {
  /**
   * JSON: a one-byte string for ASCII facts (no buffer object per migration). The facts are plain
   * data (strings, finite numbers, booleans, arrays, objects; libpg-query's AST is JSON already).
   */
  json: string;
  /** The packed body holds upgrade()'s operations only (see MigrationBody.replayOnly). */
  replayOnly: boolean;
  /**
   * Some operation is a call of a function imported from another module (OpaqueOp.helper): the only
   * bodies followProjectHelpers must unpack, so a long history without such calls is not unpacked.
   */
  helpers: boolean;
}

export function packBody(body: MigrationBody): PackedBody {
  return {
    json: JSON.stringify(body),
    replayOnly: body.replayOnly === true,
    helpers: hasHelperCalls(body),
  };
}

/** Whether upgrade() or downgrade() calls a function imported from another module. */
export function hasHelperCalls(body: MigrationBody): boolean {
  const calls = (ops: MigrationBody['upgrade']) =>
    ops?.some((op) => op.kind === 'opaque' && op.helper) === true;
  return calls(body.upgrade) || calls(body.downgrade);
}

/** The script's facts (unpacked anew on each call: callers keep the result while they need it). */
export function bodyOf(script: MigrationScript): MigrationBody | undefined {
  if (script.body) return script.body;
  return script.packedBody ? (JSON.parse(script.packedBody.json) as MigrationBody) : undefined;
}

/** Whether the script has facts enough: any for a replay, a full body for a judgement. */
export function hasBody(script: MigrationScript, need: 'full' | 'replay'): boolean {
  const replayOnly = script.body ? script.body.replayOnly === true : script.packedBody?.replayOnly;
  if (replayOnly === undefined) return false;
  return need === 'replay' || !replayOnly;
}
