import { describe, expect, it } from "vitest";
import type { TelemetryCatalog, TelemetryChannel } from "../../api/types";
import { bySubsystem, chunks, numericChannels, plotSpecs, TelemetryBuffer } from "./buffer";

function channel(key: string, type: TelemetryChannel["type"], unit: string): TelemetryChannel {
  const [subsystem, name] = key.split(".") as [string, string];
  return { key, subsystem, name, type, unit, minimum: null, maximum: null, description: "" };
}

const CATALOG: TelemetryCatalog = {
  schemaVersion: 1,
  subsystems: ["orbit", "power", "thermal"],
  modes: ["SAFE", "NOMINAL"],
  data: [
    channel("orbit.alt_km", "float", "km"),
    channel("orbit.sunlit", "bool", ""),
    channel("orbit.illumination", "float", "1"),
    channel("power.solar_power_w", "float", "W"),
    channel("power.battery_soc_pct", "float", "%"),
    channel("power.load_power_w", "float", "W"),
    channel("thermal.battery_temp_c", "float", "°C"),
    channel("thermal.heater_on", "bool", ""),
    channel("thermal.mode", "str", ""),
    channel("thermal.trips", "int", "1"),
  ],
  count: 10,
};

describe("plots from the telemetry catalogue", () => {
  it("plots the numeric channels only, in wire order", () => {
    expect(numericChannels(CATALOG)).toEqual([
      "orbit.alt_km",
      "orbit.illumination",
      "power.solar_power_w",
      "power.battery_soc_pct",
      "power.load_power_w",
      "thermal.battery_temp_c",
      "thermal.trips",
    ]);
  });

  it("makes one plot per subsystem and unit, units in first-seen order", () => {
    const specs = plotSpecs(CATALOG);
    expect(specs.map((s) => [s.subsystem, s.unit, s.channels])).toEqual([
      ["orbit", "km", ["orbit.alt_km"]],
      ["orbit", "1", ["orbit.illumination"]],
      ["power", "W", ["power.solar_power_w", "power.load_power_w"]],
      ["power", "%", ["power.battery_soc_pct"]],
      ["thermal", "°C", ["thermal.battery_temp_c"]],
      ["thermal", "1", ["thermal.trips"]],
    ]);
    expect(specs.find((s) => s.key === "power|W")?.title).toBe("solar_power_w, load_power_w");
    expect(new Set(specs.map((s) => s.key)).size).toBe(specs.length);
  });

  it("follows the catalogue's subsystem order and keeps a subsystem it does not list", () => {
    const reordered = { ...CATALOG, subsystems: ["thermal", "power"] };
    expect([...new Set(plotSpecs(reordered).map((s) => s.subsystem))]).toEqual([
      "thermal",
      "power",
      "orbit",
    ]);
  });

  it("groups plots by subsystem for the view's sections", () => {
    const groups = bySubsystem(plotSpecs(CATALOG));
    expect(groups.map((g) => [g.subsystem, g.plots.length])).toEqual([
      ["orbit", 2],
      ["power", 2],
      ["thermal", 2],
    ]);
  });

  it("asks for history in chunks the series route takes", () => {
    expect(chunks([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunks([], 20)).toEqual([]);
  });

  it("buffers the catalogue's numeric channels of each message", () => {
    const buffer = new TelemetryBuffer(numericChannels(CATALOG));
    buffer.push({
      version: 1,
      satellite: "sat-a",
      time: "2025-03-01T12:00:00.000000000Z",
      seq: 1,
      mode: "NOMINAL",
      orbit: { alt_km: 520.5, sunlit: true, illumination: 1 },
      power: { solar_power_w: 40, battery_soc_pct: 80, load_power_w: "bad" },
      thermal: { battery_temp_c: 12, trips: 0 },
    });
    expect(buffer.values.get("orbit.alt_km")).toEqual([520.5]);
    expect(buffer.values.get("power.load_power_w")).toEqual([null]);
    expect(buffer.values.has("orbit.sunlit")).toBe(false);
    expect(buffer.sunlit).toEqual([true]);
  });
});
