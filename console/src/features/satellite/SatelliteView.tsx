// Satellite view: live telemetry over the WebSocket, plotted per subsystem with units; a wider
// window adds history from GET …/telemetry; mode, FDIR and eclipse as state bands.
import { useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import type uPlot from "uplot";
import { useSigned } from "../../api/context";
import type { Series } from "../../api/types";
import { parseTime } from "../../lib/time";
import { useNow } from "../../lib/useNow";
import { NUMERIC_CHANNELS, PLOTS, runs } from "./buffer";
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

export function SatelliteView({ satellite }: { satellite: string }) {
  const { client } = useSigned();
  const now = useNow(1000);
  const [windowS, setWindowS] = useState(300);
  const url = useMemo(() => client.streamUrl(satellite), [client, satellite]);
  const { buffer, version, status } = useTelemetryStream(url);
  const detail = useQuery({ queryKey: ["satellite", satellite], queryFn: () => client.satellites() });
  const wide = windowS > 300;
  const history = useQuery({
    queryKey: ["history", satellite, windowS],
    queryFn: () =>
      client.series(satellite, NUMERIC_CHANNELS, `-${windowS}s`, `${Math.max(1, Math.round(windowS / 300))}s`),
    enabled: wide,
    staleTime: 30_000,
  });
  const range: [number, number] = [now / 1000 - windowS, now / 1000];
  // Recomputed when the stream says new samples arrived (version), not on every clock tick.
  const plots = useMemo(
    () =>
      PLOTS.map((p) => ({
        ...p,
        data: columns(p.channels, wide ? history.data?.data : undefined, buffer.times, buffer.values),
      })),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [version, wide, history.data, buffer],
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
      <div className="plots">
        {plots.map((p) => (
          <Plot
            key={p.title}
            title={p.title}
            unit={p.unit}
            channels={p.channels}
            data={p.data}
            eclipses={bands.eclipse}
            range={range}
          />
        ))}
      </div>
    </div>
  );
}
