/**
 * The one DATABASE_URL mistake that cannot be reported by echoing the URL: a password with characters
 * that mean something in a URL. No dependencies, so settings validation can use it too.
 */

/**
 * A password with an unencoded `/`, `?` or `#` ends the URL's authority early: the `@` that should end
 * the password then comes after it, and the "host", "port" or "database" are pieces of the password.
 * `rest` is the URL after `scheme://`.
 */
export function passwordLooksUnencoded(rest: string): boolean {
  const at = rest.lastIndexOf('@');
  if (at < 0) return false;
  const end = rest.search(/[/?#]/);
  return end >= 0 && end < at;
}

/** Said instead of the URL's pieces (which would be pieces of the password). */
export const PERCENT_ENCODE_HINT =
  "DATABASE_URL's password seems to contain a character that has a meaning in URLs (/, ?, #, @ or %), so the URL does not say what it means to: percent-encode the password (/ as %2F, ? as %3F, # as %23, @ as %40, % as %25; e.g. python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=\"\"))' '<password>') and set DATABASE_URL again";
