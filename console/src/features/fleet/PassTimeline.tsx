// Pass timeline: one row per ground station, each pass a bar over the next 24 h, "now" moving.
import { memo } from "react";
import type { Pass } from "../../api/types";
import { clockText } from "../../lib/time";
import { nowFraction, spanOf } from "../../lib/timeline";

export interface SatellitePasses {
  satellite: string;
  passes: Pass[];
}

export function PassTimeline({
  stations,
  passes,
  start,
  now,
  hours = 24,
}: {
  stations: string[];
  passes: SatellitePasses[];
  start: number;
  now: number;
  hours?: number;
}) {
  const ticks = Array.from({ length: hours / 3 + 1 }, (_, i) => i * 3);
  return (
    <section className="timeline" aria-labelledby="timeline-title">
      <h2 id="timeline-title">Passes, next {hours} h</h2>
      <div className="timeline-axis" aria-hidden="true">
        {ticks.map((h) => (
          <span key={h} style={{ left: `${(h / hours) * 100}%` }}>
            {new Date(start + h * 3600_000).toISOString().slice(11, 16)}Z
          </span>
        ))}
      </div>
      <Rows stations={stations} passes={passes} start={start} hours={hours} />
      <div
        className="timeline-now"
        data-testid="timeline-now"
        style={{ left: `calc(8rem + (100% - 8rem) * ${nowFraction(now, start, hours)})` }}
        aria-hidden="true"
      />
    </section>
  );
}

/** The stations' rows of pass bars: re-rendered when the passes change, not as "now" moves. */
const Rows = memo(function Rows({
  stations,
  passes,
  start,
  hours,
}: {
  stations: string[];
  passes: SatellitePasses[];
  start: number;
  hours: number;
}) {
  return (
    <>
      {stations.map((station) => (
        <div className="timeline-row" key={station}>
          <span className="timeline-station">{station}</span>
          <ul className="timeline-track" aria-label={`Passes over ${station}`}>
            {passes.flatMap(({ satellite, passes: list }) =>
              list
                .filter((p) => p.station === station)
                .map((p) => {
                  const span = spanOf(p.aos, p.los, start, hours);
                  if (span === null) return null;
                  const text = `${satellite} over ${station} ${clockText(p.aos)}–${clockText(p.los)}, max ${p.maxElevationDeg.toFixed(0)}°`;
                  return (
                    <li
                      key={`${satellite}-${p.aos}`}
                      className="pass"
                      style={{ left: `${span.left * 100}%`, width: `max(3px, ${span.width * 100}%)` }}
                      title={text}
                    >
                      <span className="sr-only">{text}</span>
                    </li>
                  );
                }),
            )}
          </ul>
        </div>
      ))}
    </>
  );
});
