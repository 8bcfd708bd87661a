// Time helpers of the console: ages, clock text, parsing RFC 3339 with nanoseconds.

/** Milliseconds since the epoch of an RFC 3339 time (nanosecond digits are cut to ms). */
export function parseTime(iso: string): number {
  return Date.parse(iso.replace(/(\.\d{3})\d+/, "$1"));
}

/** "4 s", "12 min", "3 h" — how old a time is at `now` (ms); "—" for none. */
export function ageText(iso: string | null | undefined, now: number): string {
  if (!iso) return "—";
  const seconds = Math.max(0, (now - parseTime(iso)) / 1000);
  if (seconds < 90) return `${seconds.toFixed(0)} s`;
  if (seconds < 90 * 60) return `${(seconds / 60).toFixed(0)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** "12:34:56Z" of an RFC 3339 time. */
export function clockText(iso: string | null | undefined): string {
  if (!iso) return "—";
  const ms = parseTime(iso);
  if (Number.isNaN(ms)) return iso;
  return `${new Date(ms).toISOString().slice(11, 19)}Z`;
}
