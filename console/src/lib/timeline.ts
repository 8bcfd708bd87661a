// Placing passes on a 24 h timeline: fractions of the window, clipped to it.
import { parseTime } from "./time";

export interface Span {
  left: number;
  width: number;
}

/** Where [aos, los] falls in [start, start + hours): fractions 0..1, or null outside it. */
export function spanOf(aos: string, los: string, start: number, hours: number): Span | null {
  const window = hours * 3600_000;
  const a = (parseTime(aos) - start) / window;
  const b = (parseTime(los) - start) / window;
  if (b <= 0 || a >= 1 || b <= a) return null;
  const left = Math.max(0, a);
  return { left, width: Math.min(1, b) - left };
}

/** Fraction of the window `now` is at (0 at its start). */
export function nowFraction(now: number, start: number, hours: number): number {
  return Math.min(1, Math.max(0, (now - start) / (hours * 3600_000)));
}
