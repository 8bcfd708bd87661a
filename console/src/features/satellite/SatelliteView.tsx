// Satellite view: live telemetry over the WebSocket, plotted per subsystem with units; a wider
// window adds history from GET …/telemetry; mode, FDIR and eclipse as state bands. Which channels
// are plotted, their grouping and units come from the telemetry catalogue (GET
// /api/v1/telemetry/channels): each subsystem's numeric channels, one plot per unit.
import { useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import type uPlot from "uplot";
import { useCatalog } from "../../api/catalog";
import { useSigned } from "../../api/context";
import type { Series, TelemetryCatalog } from "../../api/types";
import { parseTime } from "../../lib/time";
import { useNow } from "../../lib/useNow";
import { bySubsystem, chunks, numericChannels, plotSpecs, runs } from "./buffer";
import { Plot } from "./Plot";
import { StateBand } from "./StateBand";
import { useTelemetryStream } from "./useTelemetryStream";

const WINDOWS: { label: string; seconds: number }[] = [
  { label: "5 min (live)", seconds: 300 },
  { label: "1 h", seconds: 3600 },
  { label: "6 h", seconds: 6 * 3600 },
  { label: "24 h", seconds: 24 * 3600 },
];

/** History and live samples of `channels` as uPlot columns (history first, then live). */
export function columns(
  channels: string[],
  history: Series[] | undefined,
  liveTimes: number[],
  live: Map<string, (number | null)[]>,
): uPlot.AlignedData {
  const firstLive = liveTimes[0] ?? Infinity;
  const times = new Set<number>();
  const byChannel = new Map<string, Map<number, number | null>>();
  for (const s of history ?? []) {
    const m = new Map<number, number | null>();
    for (const p of s.points) {
      const t = parseTime(p.time) / 1000;
      if (t >= firstLive) continue;
      times.add(t);
      m.set(t, typeof p.value === "number" ? p.value : null);
    }
    byChannel.set(s.channel, m);
  }
  const historyTimes = [...times].sort((a, b) => a - b);
  const xs = [...historyTimes, ...liveTimes];
  const ys = channels.map((c) => [
    ...historyTimes.map((t) => byChannel.get(c)?.get(t) ?? null),
    ...(live.get(c) ?? []),
  ]);
  return [xs, ...ys] as unknown as uPlot.AlignedData;
}

/** The series route takes at most this many channels a request. */
const SERIES_CHANNELS = 20;

export function SatelliteView({ satellite }: { satellite: string }) {
  const { client } = useSigned();
  const catalog = useCatalog(client);
  if (catalog.isError) {
    return <p role="alert">Cannot read the telemetry catalogue: {String(catalog.error)}</p>;
  }
  if (catalog.data === undefined) return <p className="loading">Reading the telemetry catalogue…</p>;
  return <SatelliteTelemetry satellite={satellite} catalog={catalog.data} />;
}

function SatelliteTelemetry({ satellite, catalog }: { satellite: string; catalog: TelemetryCatalog }) {
  const { client } = useSigned();
  const specs = useMemo(() => plotSpecs(catalog), [catalog]);
  const channels = useMemo(() => numericChannels(catalog), [catalog]);
  const [closed, setClosed] = useState<Set<string>>(() => new Set());
  const now = useNow(1000);
  const [windowS, setWindowS] = useState(300);
  const url = useMemo(() => client.streamUrl(satellite), [client, satellite]);
  const { buffer, version, status } = useTelemetryStream(url, channels);
  const detail = useQuery({ queryKey: ["satellite", satellite], queryFn: () => client.satellites() });
  const wide = windowS > 300;
  const history = useQuery({
    queryKey: ["history", satellite, windowS],
    queryFn: async () => {
      const every = `${Math.max(1, Math.round(windowS / 300))}s`;
      const parts = await Promise.all(
        chunks(channels, SERIES_CHANNELS).map((some) => client.series(satellite, some, `-${windowS}s`, every)),
      );
      return { data: parts.flatMap((p) => p.data), count: parts.reduce((n, p) => n + p.count, 0) };
    },
    enabled: wide,
    staleTime: 30_000,
  });
  const range: [number, number] = [now / 1000 - windowS, now / 1000];
  // Recomputed when the stream says new samples arrived (version), not on every clock tick.
  const plots = useMemo(
    () =>
      bySubsystem(specs).map((group) => ({
        ...group,
        plots: closed.has(group.subsystem)
          ? [] // a folded subsystem's plots are neither built nor drawn
          : group.plots.map((p) => ({
              ...p,
              data: columns(p.channels, wide ? history.data?.data : undefined, buffer.times, buffer.values),
            })),
      })),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [version, wide, history.data, buffer, specs, closed],
  );
  const bands = useMemo(
    () => ({
      mode: runs(buffer.times, buffer.modes, (m) => m),
      fdir: runs(buffer.times, buffer.fdir, (f) => (f ? "latched" : "clear")),
      eclipse: runs(buffer.times, buffer.sunlit, (s) => (s ? "sunlit" : "eclipse")),
    }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [version, buffer],
  );
  const phase = detail.data?.data.find((s) => s.name === satellite)?.phase;
  const liveFrom = buffer.times[0];

  return (
    <div className="satellite">
      <h1>
        {satellite} <span className="help">phase {phase ?? "—"}</span>
      </h1>
      <p className="stream-status" data-testid="stream-status">
        Live stream: {status}, {buffer.received} samples received
      </p>
      <fieldset className="windows">
        <legend>Window</legend>
        {WINDOWS.map((w) => (
          <label key={w.seconds}>
            <input
              type="radio"
              name="window"
              value={w.seconds}
              checked={windowS === w.seconds}
              onChange={() => setWindowS(w.seconds)}
            />
            {w.label}
          </label>
        ))}
        {wide && history.isFetching && <span className="help"> loading history…</span>}
        {wide && history.isError && <span role="alert"> history unavailable: {String(history.error)}</span>}
      </fieldset>
      <div className="bands">
        <StateBand label="Mode" runs={bands.mode} from={range[0]} to={range[1]} />
        <StateBand label="FDIR" runs={bands.fdir} from={range[0]} to={range[1]} />
        <StateBand label="Eclipse" runs={bands.eclipse} from={range[0]} to={range[1]} />
        {wide && liveFrom !== undefined && (
          <p className="help">States are shown for the live part (since {new Date(liveFrom * 1000).toISOString().slice(11, 19)}Z).</p>
        )}
      </div>
      {plots.map((group) => (
        <details
          key={group.subsystem}
          className="subsystem"
          open={!closed.has(group.subsystem)}
          onToggle={(event) => {
            const open = event.currentTarget.open;
            setClosed((was) => {
              if (open !== was.has(group.subsystem)) return was;
              const next = new Set(was);
              if (open) next.delete(group.subsystem);
              else next.add(group.subsystem);
              return next;
            });
          }}
        >
          <summary>{group.subsystem}</summary>
          <div className="plots">
            {group.plots.map((p) => (
              <Plot
                key={p.key}
                title={p.title}
                unit={p.unit}
                channels={p.channels}
                data={p.data}
                eclipses={bands.eclipse}
                range={range}
              />
            ))}
          </div>
        </details>
      ))}
    </div>
  );
}
