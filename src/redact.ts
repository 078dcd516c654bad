/** Secret scrubbing for everything printed, logged, stored or served. No dependencies: the CLI loads it first. */

/**
 * Replaces every secret (and its percent-encoded form) with `***`, plus any password in a
 * `scheme://user:pass@` URL or a `password=` parameter, in arbitrary text (logs, child process output).
 */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (!s) continue;
    for (const form of new Set([s, encodeURIComponent(s)])) out = out.split(form).join('***');
  }
  out = out.replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]*@/g, '$1***@');
  out = out.replace(/\b(password\s*=\s*)('[^']*'|[^\s&'"]+)/gi, '$1***');
  return out;
}
