// Map geometry of the console. Positions, rings and tracks come from the API (mpcs.orbit); this
// only places them on a plate carrée map whose longitudes run -180..180.

export type LatLon = [number, number];

/**
 * The copies of a ring to draw so it shows wherever it lies: the API gives continuous longitudes
 * (a ring may reach past ±180), so the copy shifted by ∓360 covers the other edge of the map.
 */
export function wrappedCopies(ring: LatLon[]): LatLon[][] {
  const lons = ring.map(([, lon]) => lon);
  const copies: LatLon[][] = [ring];
  if (Math.max(...lons) > 180) copies.push(ring.map(([lat, lon]) => [lat, lon - 360]));
  if (Math.min(...lons) < -180) copies.push(ring.map(([lat, lon]) => [lat, lon + 360]));
  return copies;
}

/** A position's text, e.g. "12.3° N 45.6° W". */
export function positionText(lat: number | null, lon: number | null): string {
  if (lat === null || lon === null) return "—";
  const ns = lat >= 0 ? "N" : "S";
  const ew = lon >= 0 ? "E" : "W";
  return `${Math.abs(lat).toFixed(1)}° ${ns} ${Math.abs(lon).toFixed(1)}° ${ew}`;
}
