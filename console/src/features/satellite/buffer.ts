// Live telemetry of one satellite, held in columns for the plots (pure; tested without a browser).
import type { TelemetryCatalog, TelemetryMessage } from "../../api/types";
import { parseTime } from "../../lib/time";

export interface PlotSpec {
  key: string; // "subsystem|unit", unique
  subsystem: string;
  title: string;
  unit: string;
  channels: string[]; // "subsystem.channel"
}

/** The numeric channels of the catalogue ("subsystem.name", wire order): what can be plotted. */
export function numericChannels(catalog: TelemetryCatalog): string[] {
  return catalog.data.filter((c) => c.type === "float" || c.type === "int").map((c) => c.key);
}

/**
 * What the satellite view plots, derived from the catalogue: per subsystem (catalogue order), its
 * numeric channels grouped by unit, one plot per (subsystem, unit), in the order the units first
 * appear. The title names the channels, the unit is the catalogue's.
 */
export function plotSpecs(catalog: TelemetryCatalog): PlotSpec[] {
  const out: PlotSpec[] = [];
  const byKey = new Map<string, PlotSpec>();
  const numeric = new Set(numericChannels(catalog));
  const order = [...catalog.subsystems, ...catalog.data.map((c) => c.subsystem)];
  for (const subsystem of new Set(order)) {
    for (const c of catalog.data) {
      if (c.subsystem !== subsystem || !numeric.has(c.key)) continue;
      const key = `${subsystem}|${c.unit}`;
      let spec = byKey.get(key);
      if (spec === undefined) {
        spec = { key, subsystem, title: "", unit: c.unit, channels: [] };
        byKey.set(key, spec);
        out.push(spec);
      }
      spec.channels.push(c.key);
    }
  }
  for (const spec of out) spec.title = spec.channels.map((c) => c.split(".")[1]).join(", ");
  return out;
}

/** Plots grouped by subsystem, in the plots' order. */
export function bySubsystem(plots: PlotSpec[]): { subsystem: string; plots: PlotSpec[] }[] {
  const groups: { subsystem: string; plots: PlotSpec[] }[] = [];
  for (const p of plots) {
    const last = groups[groups.length - 1];
    if (last && last.subsystem === p.subsystem) last.plots.push(p);
    else groups.push({ subsystem: p.subsystem, plots: [p] });
  }
  return groups;
}

/** `items` in chunks of at most `size` (the series route takes at most 20 channels a request). */
export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export interface Run {
  from: number;
  to: number;
  value: string;
}

/** Columns of samples: time in seconds, one array per channel, and the states shown as bands. */
export class TelemetryBuffer {
  readonly capacity: number;
  readonly channels: string[];
  times: number[] = [];
  values = new Map<string, (number | null)[]>();
  modes: string[] = [];
  fdir: boolean[] = [];
  sunlit: boolean[] = [];
  received = 0;

  /** `channels`: the numeric channels kept ("subsystem.name", from the catalogue). */
  constructor(channels: string[], capacity = 3600) {
    this.capacity = capacity;
    this.channels = channels;
    for (const c of channels) this.values.set(c, []);
  }

  push(message: TelemetryMessage): void {
    const t = parseTime(message.time) / 1000;
    if (Number.isNaN(t)) return;
    const last = this.times[this.times.length - 1];
    if (last !== undefined && t <= last) return; // a replayed or older sample
    this.received += 1;
    this.times.push(t);
    for (const channel of this.channels) {
      const [sub, name] = channel.split(".") as [string, string];
      const group = message[sub] as Record<string, unknown> | undefined;
      const value = group?.[name];
      this.values.get(channel)?.push(typeof value === "number" ? value : null);
    }
    const obc = message.obc as Record<string, unknown> | undefined;
    const orbit = message.orbit as Record<string, unknown> | undefined;
    this.modes.push(message.mode);
    this.fdir.push(obc?.fdir_latched === true);
    this.sunlit.push(orbit?.sunlit !== false);
    if (this.times.length > this.capacity) this.trim(this.times.length - this.capacity);
  }

  private trim(count: number): void {
    this.times.splice(0, count);
    for (const column of this.values.values()) column.splice(0, count);
    this.modes.splice(0, count);
    this.fdir.splice(0, count);
    this.sunlit.splice(0, count);
  }
}

/** Consecutive samples with the same state as runs [from, to) in the samples' time. */
export function runs<T>(times: number[], states: T[], label: (s: T) => string): Run[] {
  const out: Run[] = [];
  for (let i = 0; i < times.length; i++) {
    const value = label(states[i] as T);
    const t = times[i] as number;
    const next = times[i + 1] ?? t;
    const current = out[out.length - 1];
    if (current && current.value === value) current.to = next;
    else out.push({ from: t, to: next, value });
  }
  return out;
}
