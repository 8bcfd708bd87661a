// Live telemetry of one satellite, held in columns for the plots (pure; tested without a browser).
import type { TelemetryMessage } from "../../api/types";
import { parseTime } from "../../lib/time";

export interface PlotSpec {
  title: string;
  unit: string;
  channels: string[]; // "subsystem.channel"
}

/** What the satellite view plots, per subsystem, one unit per plot (units: docs/telemetry.md). */
export const PLOTS: PlotSpec[] = [
  { title: "Power", unit: "W", channels: ["power.solar_power_w", "power.load_power_w"] },
  { title: "Battery", unit: "%", channels: ["power.battery_soc_pct"] },
  {
    title: "Thermal",
    unit: "°C",
    channels: ["thermal.structure_temp_c", "thermal.battery_temp_c", "thermal.payload_temp_c"],
  },
  { title: "ADCS pointing", unit: "deg", channels: ["adcs.pointing_error_deg"] },
  { title: "ADCS wheels", unit: "rpm", channels: ["adcs.wheel_x_rpm", "adcs.wheel_y_rpm", "adcs.wheel_z_rpm"] },
  { title: "Comms", unit: "dBm", channels: ["comms.rssi_dbm"] },
  { title: "OBC", unit: "%", channels: ["obc.cpu_load_pct", "obc.storage_used_pct"] },
  { title: "Orbit", unit: "km", channels: ["orbit.alt_km"] },
];

export const NUMERIC_CHANNELS = PLOTS.flatMap((p) => p.channels);

export interface Run {
  from: number;
  to: number;
  value: string;
}

/** Columns of samples: time in seconds, one array per channel, and the states shown as bands. */
export class TelemetryBuffer {
  readonly capacity: number;
  times: number[] = [];
  values = new Map<string, (number | null)[]>();
  modes: string[] = [];
  fdir: boolean[] = [];
  sunlit: boolean[] = [];
  received = 0;

  constructor(capacity = 3600) {
    this.capacity = capacity;
    for (const c of NUMERIC_CHANNELS) this.values.set(c, []);
  }

  push(message: TelemetryMessage): void {
    const t = parseTime(message.time) / 1000;
    if (Number.isNaN(t)) return;
    const last = this.times[this.times.length - 1];
    if (last !== undefined && t <= last) return; // a replayed or older sample
    this.received += 1;
    this.times.push(t);
    for (const channel of NUMERIC_CHANNELS) {
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
