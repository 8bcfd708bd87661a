// Fleet view: every satellite's mode, battery, storage, alerts and telemetry age; the world map;
// the pass timeline per ground station.
import { useQueries, useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { useSigned } from "../../api/context";
import { positionText } from "../../lib/geo";
import { href } from "../../lib/route";
import { ageText } from "../../lib/time";
import { useNow } from "../../lib/useNow";
import { PassTimeline, type SatellitePasses } from "./PassTimeline";
import { WorldMap } from "./WorldMap";

/** Passes are predicted per satellite; the timeline asks for at most this many satellites. */
export const TIMELINE_SATELLITES = 12;

/** One array for the timeline; a function of the module, so react-query re-runs it only when a
 * prediction changes (and the memoized timeline rows re-render only then). */
function combinePasses(results: { data?: SatellitePasses }[]): SatellitePasses[] {
  return results.flatMap((q) => (q.data ? [q.data] : []));
}

function percent(value: number | null): string {
  return value === null ? "—" : `${value.toFixed(1)} %`;
}

export function FleetView() {
  const { client } = useSigned();
  // Ages and the timeline's "now" move every 5 s: a 100-satellite table re-laid out every second
  // cost the page a tenth of its main thread (bench/console_load.py).
  const now = useNow(5000);
  const [chosen, setChosen] = useState<string | null>(null);
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
    refetchInterval: 5000,
    retry: false,
  });
  const selected = chosen ?? members[0]?.name ?? null;
  const track = useQuery({
    queryKey: ["track", selected],
    queryFn: () => client.track(selected as string),
    enabled: selected !== null,
    refetchInterval: 60_000,
  });
  const timelineSats = members.slice(0, TIMELINE_SATELLITES).map((m) => m.name);
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
              <td>{percent(m.batterySocPct)}</td>
              <td>{percent(m.storageUsedPct)}</td>
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
      {members.length > TIMELINE_SATELLITES && (
        <p className="help">
          The timeline shows the passes of the first {TIMELINE_SATELLITES} satellites (each is a
          prediction on the API).
        </p>
      )}
    </div>
  );
}
