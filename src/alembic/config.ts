/**
 * Finds the migrations the way Alembic does: reads the `[alembic]` section of alembic.ini with
 * Python configparser semantics (a small hand-written reader; no npm package matches configparser).
 *
 * One deliberate difference: Alembic resolves a relative `script_location` / `version_locations`
 * against the current directory; we resolve them against the ini file's directory, which is what
 * `%(here)s` means and what a pre-deploy command run from anywhere needs.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../errors.js';

export interface AlembicProject {
  /** Absolute path of alembic.ini. */
  iniPath: string;
  /** Directory of alembic.ini. */
  projectDir: string;
  /** Absolute script directory (holds env.py). */
  scriptLocation: string;
  /** Absolute directories holding the migration files, in Alembic's load order. */
  versionLocations: string[];
  /** `version_table` from the ini, when set (env.py usually decides; this is only a hint). */
  versionTable?: string;
  /** `recursive_version_locations = true`: also read sub-directories of the version locations. */
  recursive?: boolean;
  /** `prepend_sys_path` entries, absolute: where env.py (and so the migrations) import the app from. */
  sysPath?: string[];
}

/** Sections of an ini file: raw (uninterpolated) values, keys lower-cased as configparser does. */
export interface IniFile {
  defaults: Map<string, string>;
  sections: Map<string, Map<string, string>>;
}

/**
 * Parses ini text like Python's `configparser.ConfigParser` (default options): `=` or `:` delimiters,
 * full-line `#`/`;` comments, indented continuation lines, keys lower-cased, `[DEFAULT]` inherited.
 */
export function parseIni(text: string, where: string): IniFile {
  const defaults = new Map<string, string>();
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  let key: string | undefined;
  let valueLines: string[] = [];
  let keyIndent = 0;

  const flush = (): void => {
    if (current && key !== undefined) {
      // configparser keeps blank lines inside a value but drops trailing ones.
      while (valueLines.length > 0 && valueLines[valueLines.length - 1] === '') valueLines.pop();
      current.set(key, valueLines.join('\n'));
    }
    key = undefined;
    valueLines = [];
  };

  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const stripped = raw.trim();
    if (stripped.startsWith('#') || stripped.startsWith(';')) continue;
    const indent = raw.length - raw.trimStart().length;
    if (stripped === '') {
      if (key !== undefined) valueLines.push('');
      continue;
    }
    if (key !== undefined && indent > keyIndent) {
      valueLines.push(stripped);
      continue;
    }
    flush();
    const header = /^\[(.+)\]$/.exec(stripped);
    if (header) {
      const name = header[1]!;
      if (name === 'DEFAULT') {
        current = defaults;
      } else {
        current = sections.get(name) ?? new Map<string, string>();
        sections.set(name, current);
      }
      continue;
    }
    if (!current) {
      throw new ConfigError(
        `${where}:${i + 1}: line before any [section] header; an ini file must start with a section such as [alembic]`,
      );
    }
    const delim = firstDelimiter(stripped);
    if (delim < 0) {
      throw new ConfigError(
        `${where}:${i + 1}: expected 'key = value', got ${JSON.stringify(stripped.slice(0, 60))}`,
      );
    }
    key = stripped.slice(0, delim).trim().toLowerCase();
    keyIndent = indent;
    const first = stripped.slice(delim + 1).trim();
    valueLines = [first];
  }
  flush();
  return { defaults, sections };
}

function firstDelimiter(line: string): number {
  const eq = line.indexOf('=');
  const colon = line.indexOf(':');
  if (eq < 0) return colon;
  if (colon < 0) return eq;
  return Math.min(eq, colon);
}

/** configparser BasicInterpolation: `%(name)s` from the section or DEFAULT, `%%` -> `%`. */
export function interpolate(
  ini: IniFile,
  section: string,
  option: string,
  where: string,
  depth = 0,
): string | undefined {
  const sec = ini.sections.get(section);
  const raw = sec?.get(option) ?? ini.defaults.get(option);
  if (raw === undefined) return undefined;
  if (depth > 10) {
    throw new ConfigError(
      `${where}: option '${option}' in [${section}] refers to itself through %(...)s too many times; remove the loop`,
    );
  }
  let out = '';
  let i = 0;
  while (i < raw.length) {
    const pct = raw.indexOf('%', i);
    if (pct < 0) {
      out += raw.slice(i);
      break;
    }
    out += raw.slice(i, pct);
    const next = raw[pct + 1];
    if (next === '%') {
      out += '%';
      i = pct + 2;
      continue;
    }
    const m = next === '(' ? /^%\(([^)]+)\)s/.exec(raw.slice(pct)) : null;
    if (!m) {
      throw new ConfigError(
        `${where}: bad '%' in option '${option}' of [${section}]: write '%%' for a literal percent sign or %(name)s to refer to another option`,
      );
    }
    const ref = m[1]!.toLowerCase();
    const value = interpolate(ini, section, ref, where, depth + 1);
    if (value === undefined) {
      throw new ConfigError(
        `${where}: option '${option}' in [${section}] refers to %(${m[1]})s, which is not set in [${section}] or [DEFAULT]`,
      );
    }
    out += value;
    i = pct + m[0].length;
  }
  return out;
}

const SEPARATORS: Record<string, string> = {
  space: ' ',
  newline: '\n',
  os: path.delimiter,
  ':': ':',
  ';': ';',
  ',': ',',
};

/** Splits `version_locations` as Alembic's Config.get_version_locations_list does. */
export function splitVersionLocations(value: string, separator: string | undefined, where: string): string[] {
  if (separator === undefined) {
    // Alembic's legacy behaviour when no path_separator is configured: split on commas and spaces.
    return value
      .split(/, *| +/)
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }
  const sep = SEPARATORS[separator];
  if (sep === undefined) {
    throw new ConfigError(
      `${where}: '${separator}' is not a valid path_separator; use one of os, space, newline, ':', ';', ','`,
    );
  }
  return value
    .split(sep)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function isPackageResource(location: string): boolean {
  return !path.isAbsolute(location) && location.includes(':');
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

export async function loadAlembicConfig(iniPath: string): Promise<AlembicProject> {
  const absIni = path.resolve(iniPath);
  const projectDir = path.dirname(absIni);
  let text: string;
  try {
    text = await readFile(absIni, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'it is a directory' : String(code ?? err);
    throw new ConfigError(
      `cannot read Alembic config ${absIni}: ${why}; pass the path of your alembic.ini with --config`,
      [],
      { cause: err },
    );
  }
  const ini = parseIni(text, absIni);
  // Like Alembic, `here` is a default every section sees; an explicit [DEFAULT] here= still wins.
  if (!ini.defaults.has('here')) ini.defaults.set('here', projectDir);
  if (!ini.sections.has('alembic')) {
    throw new ConfigError(
      `${absIni} has no [alembic] section; is this the right file? (migration-gate reads script_location from [alembic])`,
    );
  }
  const get = (option: string): string | undefined => interpolate(ini, 'alembic', option, absIni);

  const scriptRaw = get('script_location')?.trim();
  if (!scriptRaw) {
    throw new ConfigError(
      `${absIni}: no script_location in [alembic]; add e.g. 'script_location = %(here)s/migrations'`,
    );
  }
  if (isPackageResource(scriptRaw)) {
    throw new ConfigError(
      `${absIni}: script_location '${scriptRaw}' is a package resource (package:dir), which migration-gate does not support; use a path such as %(here)s/migrations`,
    );
  }
  const scriptLocation = path.resolve(projectDir, scriptRaw);
  if (!(await isDirectory(scriptLocation))) {
    throw new ConfigError(
      `${absIni}: script_location ${scriptLocation} is not a directory; fix script_location (relative paths are resolved against the directory of alembic.ini)`,
    );
  }

  const locationsRaw = get('version_locations');
  let versionLocations: string[];
  if (locationsRaw && locationsRaw.trim() !== '') {
    const separator = get('path_separator')?.trim() ?? get('version_path_separator')?.trim();
    const parts = splitVersionLocations(locationsRaw, separator || undefined, absIni);
    versionLocations = [];
    for (const part of parts) {
      if (isPackageResource(part)) {
        throw new ConfigError(
          `${absIni}: version location '${part}' is a package resource (package:dir), which migration-gate does not support; use a path, or set path_separator = os if ':' separates paths`,
        );
      }
      const abs = path.resolve(projectDir, part);
      if (!versionLocations.includes(abs)) versionLocations.push(abs);
    }
  } else {
    versionLocations = [path.join(scriptLocation, 'versions')];
  }

  const versionTable = get('version_table')?.trim() || undefined;
  const recursive = parseBool(get('recursive_version_locations'));
  const project: AlembicProject = { iniPath: absIni, projectDir, scriptLocation, versionLocations };
  if (versionTable) project.versionTable = versionTable;
  if (recursive) project.recursive = true;
  const sysPathRaw = get('prepend_sys_path');
  if (sysPathRaw && sysPathRaw.trim() !== '') {
    // Alembic splits prepend_sys_path with the same separator rules as version_locations.
    const separator = get('path_separator')?.trim() || undefined;
    project.sysPath = splitVersionLocations(sysPathRaw, separator, absIni).map((p) =>
      path.resolve(projectDir, p),
    );
  }
  return project;
}

/** sqlalchemy.util.asbool, which Alembic uses for boolean options. */
function parseBool(value: string | undefined): boolean {
  if (value === undefined) return false;
  return ['true', 'yes', 'on', 'y', 't', '1'].includes(value.trim().toLowerCase());
}
