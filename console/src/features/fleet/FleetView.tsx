// Fleet view: every satellite's mode, battery, storage, alerts and telemetry age; the world map;
// the pass timeline per ground station.
import { useQueries, useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { channelOf, useCatalog, valueText } from "../../api/catalog";
import { pollUnlessUnavailable } from "../../api/client";
import { useSigned } from "../../api/context";
import { positionText } from "../../lib/geo";
import { href } from "../../lib/route";
import { ageText } from "../../lib/time";
import { useNow } from "../../lib/useNow";
import { PassTimeline, type SatellitePasses } from "./PassTimeline";
import { WorldMap } from "./WorldMap";

/** Passes are predicted per satellite (one request, one SGP4 propagation over 24 h on the API):
 * the timeline asks for this many satellites at a time and pages through a larger fleet. The bars
 * themselves are one row per station, so drawing more satellites costs little. */
export const TIMELINE_SATELLITES = 12;

export interface TimelinePage {
  page: number; // 0-based, clamped to the fleet
  pages: number;
  from: number; // index of the first satellite shown
  to: number; // index after the last one
}

/** Which satellites of a `count`-strong fleet page `page` of the timeline shows. */
export function timelinePage(count: number, page: number, size = TIMELINE_SATELLITES): TimelinePage {
  const pages = Math.max(1, Math.ceil(count / size));
  const clamped = Math.min(Math.max(0, page), pages - 1);
  const from = clamped * size;
  return { page: clamped, pages, from, to: Math.min(count, from + size) };
}

/** One array for the timeline; a function of the module, so react-query re-runs it only when a
 * prediction changes (and the memoized timeline rows re-render only then). */
function combinePasses(results: { data?: SatellitePasses }[]): SatellitePasses[] {
  return results.flatMap((q) => (q.data ? [q.data] : []));
}

export function FleetView() {
  const { client } = useSigned();
  // Ages and the timeline's "now" move every 5 s: a 100-satellite table re-laid out every second
  // cost the page a tenth of its main thread (bench/console_load.py).
  const now = useNow(5000);
  const [chosen, setChosen] = useState<string | null>(null);
  // Units of the table's values from the telemetry catalogue (the fleet answer is its channels).
  const catalog = useCatalog(client);
  const socChannel = channelOf(catalog.data, "power.battery_soc_pct");
  const storageChannel = channelOf(catalog.data, "obc.storage_used_pct");
  const fleet = useQuery({ queryKey: ["fleet"], queryFn: () => client.fleet(), refetchInterval: 2000 });
  const members = useMemo(() => fleet.data?.data ?? [], [fleet.data]);
  const altitudes = members.map((m) => m.altKm).filter((a): a is number => a !== null);
  const meanAlt = altitudes.length ? altitudes.reduce((a, b) => a + b, 0) / altitudes.length : 520;
  const ringAlt = Math.max(100, Math.round(meanAlt / 50) * 50);
  const stations = useQuery({
    queryKey: ["groundstations", ringAlt],
    queryFn: () => client.groundStations(ringAlt),
    staleTime: 60_000,
  });
  const alerts = useQuery({
    queryKey: ["alerts", "firing"],
    queryFn: () => client.alerts("firing"),
    refetchInterval: pollUnlessUnavailable(5000),
    retry: false,
  });
  const selected = chosen ?? members[0]?.name ?? null;
  const track = useQuery({
    queryKey: ["track", selected],
    queryFn: () => client.track(selected as string),
    enabled: selected !== null,
    refetchInterval: 60_000,
  });
  const [timelinePageAsked, setTimelinePage] = useState(0);
  const shown = timelinePage(members.length, timelinePageAsked);
  const timelineSats = members.slice(shown.from, shown.to).map((m) => m.name);
  const [windowStart, setWindowStart] = useState(() => Date.now());
  const timelinePasses = useQueries({
    queries: timelineSats.map((sat) => ({
      queryKey: ["passes", sat],
      queryFn: async () => {
        const list = await client.passes(sat, 24);
        setWindowStart(Date.now());
        return { satellite: sat, passes: list.data };
      },
      refetchInterval: 10 * 60_000,
      staleTime: 10 * 60_000,
    })),
    combine: combinePasses,
  });
  const firing = new Map<string, number>();
  for (const a of alerts.data?.data ?? []) firing.set(a.satellite, (firing.get(a.satellite) ?? 0) + 1);

  return (
    <div className="fleet">
      <h1>Fleet</h1>
      {fleet.isError && <p role="alert">Cannot read the fleet: {String(fleet.error)}</p>}
      <table className="fleet-table">
        <caption>Satellites of the mission, latest telemetry (select one to draw its ground track)</caption>
        <thead>
          <tr>
            <th scope="col">Satellite</th>
            <th scope="col">Phase</th>
            <th scope="col">Mode</th>
            <th scope="col">Battery</th>
            <th scope="col">Storage</th>
            <th scope="col">Alerts</th>
            <th scope="col">Telemetry age</th>
            <th scope="col">Position</th>
            <th scope="col">Track</th>
          </tr>
        </thead>
        <tbody>
          {members.map((m) => (
            <tr key={m.name} className={m.name === selected ? "selected" : undefined}>
              <th scope="row">
                <a href={href("satellite", m.name)}>{m.name}</a>
              </th>
              <td>{m.phase ?? "—"}</td>
              <td data-testid={`mode-${m.name}`}>
                {m.mode ?? "—"}
                {m.fdirLatched ? " (FDIR latched)" : ""}
              </td>
              <td>{valueText(m.batterySocPct, socChannel)}</td>
              <td>{valueText(m.storageUsedPct, storageChannel)}</td>
              <td>{alerts.isError ? "n/a" : (firing.get(m.name) ?? 0)}</td>
              <td>{ageText(m.time, now)}</td>
              <td>{positionText(m.latDeg, m.lonDeg)}</td>
              <td>
                <button
                  type="button"
                  aria-pressed={m.name === selected}
                  onClick={() => setChosen(m.name)}
                >
                  Show track<span className="sr-only"> of {m.name}</span>
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <WorldMap
        fleet={members}
        stations={stations.data?.data ?? []}
        track={track.data ?? null}
        selected={selected}
      />
      <PassTimeline
        stations={(stations.data?.data ?? []).map((s) => s.name)}
        passes={timelinePasses}
        start={windowStart}
        now={now}
      />
      {shown.pages > 1 && (
        <nav className="timeline-pages" aria-label="Satellites on the pass timeline">
          <p className="help" data-testid="timeline-page">
            Passes of satellites {shown.from + 1}–{shown.to} of {members.length} (
            {timelineSats.join(", ")}). Each satellite&apos;s passes are a prediction on the API, so
            the timeline asks for {TIMELINE_SATELLITES} at a time.
          </p>
          <button type="button" disabled={shown.page === 0} onClick={() => setTimelinePage(shown.page - 1)}>
            Previous {TIMELINE_SATELLITES}
          </button>
          <button
            type="button"
            disabled={shown.page >= shown.pages - 1}
            onClick={() => setTimelinePage(shown.page + 1)}
          >
            Next {TIMELINE_SATELLITES}
          </button>
        </nav>
      )}
    </div>
  );
}
