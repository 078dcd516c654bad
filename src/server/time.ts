/** Relative times for people ("12 min ago"); the exact time goes next to it (a <time> title). Pure. */

/** A duration in the largest unit that reads naturally: "45 s", "12 min", "3 h", "2 days". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 90) return `${min} min`;
  const h = Math.round(min / 60);
  if (h < 36) return `${h} h`;
  const d = Math.round(h / 24);
  return `${d} day${d === 1 ? '' : 's'}`;
}

/** "12 min ago"; a time slightly in the future (clock skew) reads "just now". */
export function ago(then: Date | string, now: Date): string {
  const ms = now.getTime() - new Date(then).getTime();
  return ms < 5000 ? 'just now' : `${duration(ms)} ago`;
}
