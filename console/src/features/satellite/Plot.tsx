// One uPlot chart of a subsystem's channels (one unit), eclipse shaded behind the lines.
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import { unitText } from "../../api/catalog";
import type { Run } from "./buffer";

const STROKES = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a"];

export function Plot({
  title,
  unit,
  channels,
  data,
  eclipses,
  range,
}: {
  title: string;
  unit: string;
  channels: string[];
  data: uPlot.AlignedData;
  eclipses: Run[];
  range: [number, number];
}) {
  const holder = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shade = useRef<Run[]>(eclipses);
  shade.current = eclipses;

  useEffect(() => {
    if (holder.current === null) return;
    const options: uPlot.Options = {
      width: Math.max(300, holder.current.clientWidth || 600),
      height: 160,
      legend: { show: true },
      scales: { x: { time: true } },
      axes: [{}, { label: unitText(unit), size: 60 }],
      series: [
        {},
        ...channels.map((c, i) => ({ label: c.split(".")[1], stroke: STROKES[i % STROKES.length], width: 1.5 })),
      ],
      hooks: {
        drawClear: [
          (u: uPlot) => {
            const ctx = u.ctx;
            ctx.save();
            ctx.fillStyle = "rgba(55, 71, 79, 0.15)";
            for (const run of shade.current) {
              if (run.value !== "eclipse") continue;
              const x0 = u.valToPos(run.from, "x", true);
              const x1 = u.valToPos(run.to, "x", true);
              ctx.fillRect(x0, u.bbox.top, Math.max(1, x1 - x0), u.bbox.height);
            }
            ctx.restore();
          },
        ],
      },
    };
    const p = new uPlot(options, [[], ...channels.map(() => [])] as unknown as uPlot.AlignedData, holder.current);
    plot.current = p;
    return () => {
      p.destroy();
      plot.current = null;
    };
  }, [channels, unit]);

  useEffect(() => {
    const p = plot.current;
    if (p === null) return;
    p.batch(() => {
      p.setData(data, false);
      p.setScale("x", { min: range[0], max: range[1] });
    });
  }, [data, range]);

  return (
    <figure className="plot">
      <figcaption>
        {title}
        {unitText(unit) ? ` (${unitText(unit)})` : ""}
      </figcaption>
      <div
        ref={holder}
        role="img"
        aria-label={`${title}: ${channels.join(", ")}${unitText(unit) ? ` in ${unitText(unit)}` : " (dimensionless)"}`}
      />
    </figure>
  );
}
