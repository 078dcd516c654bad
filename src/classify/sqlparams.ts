/**
 * SQL handed to SQLAlchemy carries bind markers PostgreSQL's parser rejects: `:name` in text() (and
 * op.execute strings, which Alembic wraps in text()), `%s` / `%(name)s` in exec_driver_sql. This scanner
 * turns them into `$n` so libpg-query can parse the statement; quoted strings, quoted identifiers,
 * dollar-quoted bodies, comments and `::` casts are copied untouched. Newlines are preserved so line
 * numbers stay right.
 */
/** `params`: a plain string executed with parameters; both marker styles may occur. */
export type ParamStyle = 'text' | 'driver' | 'params';

const isIdentStart = (c: string | undefined): boolean =>
  c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_');
const isIdentChar = (c: string | undefined): boolean =>
  isIdentStart(c) || (c !== undefined && c >= '0' && c <= '9');

export function bindMarkersToParams(sql: string, style: ParamStyle): string {
  let out = '';
  let i = 0;
  const numbers = new Map<string, number>();
  let count = 0;
  // `%s` is positional (always a new number); named markers reuse their number.
  const param = (name?: string): string => {
    if (name === undefined) return `$${++count}`;
    let n = numbers.get(name);
    if (n === undefined) numbers.set(name, (n = ++count));
    return `$${n}`;
  };
  const copyUntil = (end: string, from: number): number => {
    const at = sql.indexOf(end, from);
    const stop = at < 0 ? sql.length : at + end.length;
    out += sql.slice(i, stop);
    return stop;
  };
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === "'" || c === '"') {
      i = copyUntil(c, i + 1);
    } else if (c === '-' && next === '-') {
      i = copyUntil('\n', i);
    } else if (c === '/' && next === '*') {
      i = copyUntil('*/', i + 2);
    } else if (c === '$' && (next === '$' || isIdentStart(next))) {
      let j = i + 1;
      while (isIdentChar(sql[j])) j++;
      if (sql[j] === '$') {
        const tag = sql.slice(i, j + 1);
        i = copyUntil(tag, j + 1);
      } else {
        out += c;
        i++;
      }
    } else if (style !== 'driver' && c === ':') {
      if (next === ':') {
        out += '::';
        i += 2;
      } else if (isIdentStart(next) && !isIdentChar(sql[i - 1])) {
        let j = i + 1;
        while (isIdentChar(sql[j])) j++;
        out += param(sql.slice(i + 1, j));
        i = j;
      } else {
        out += c;
        i++;
      }
    } else if (style !== 'driver' && c === '\\' && next === ':') {
      out += ':';
      i += 2;
    } else if (style !== 'text' && c === '%') {
      if (next === '%') {
        out += '%';
        i += 2;
      } else if (next === 's') {
        out += param();
        i += 2;
      } else if (next === '(') {
        const close = sql.indexOf(')', i);
        if (close > 0 && sql[close + 1] === 's') {
          out += param(sql.slice(i + 2, close));
          i = close + 2;
        } else {
          out += c;
          i++;
        }
      } else {
        out += c;
        i++;
      }
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
