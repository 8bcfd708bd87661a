// A state band: the runs of one state (mode, FDIR, eclipse) along the plots' time axis.
import type { Run } from "./buffer";

const COLOURS: Record<string, string> = {
  SAFE: "#c0392b",
  NOMINAL: "#2e7d32",
  PAYLOAD: "#1565c0",
  DOWNLINK: "#6a1b9a",
  latched: "#c0392b",
  clear: "#cfd8dc",
  eclipse: "#37474f",
  sunlit: "#ffe082",
};

export function StateBand({ label, runs, from, to }: { label: string; runs: Run[]; from: number; to: number }) {
  const span = Math.max(1e-9, to - from);
  const latest = runs[runs.length - 1]?.value ?? "—";
  return (
    <div className="band">
      <span className="band-label">
        {label}: <strong data-testid={`band-${label}`}>{latest}</strong>
      </span>
      <svg className="band-strip" viewBox="0 0 1000 10" preserveAspectRatio="none" aria-hidden="true">
        {runs.map((r) => {
          const x = ((Math.max(r.from, from) - from) / span) * 1000;
          const w = ((Math.min(r.to, to) - Math.max(r.from, from)) / span) * 1000;
          if (w <= 0) return null;
          return (
            <rect key={`${r.from}-${r.value}`} x={x} width={Math.max(w, 1)} y={0} height={10} fill={COLOURS[r.value] ?? "#90a4ae"}>
              <title>{r.value}</title>
            </rect>
          );
        })}
      </svg>
    </div>
  );
}
