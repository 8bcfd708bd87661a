import { describe, expect, it } from "vitest";
import { channelOf, unitText, valueText } from "./catalog";
import type { TelemetryCatalog } from "./types";

const CATALOG: TelemetryCatalog = {
  schemaVersion: 1,
  subsystems: ["power"],
  modes: ["SAFE"],
  data: [
    {
      key: "power.battery_soc_pct",
      subsystem: "power",
      name: "battery_soc_pct",
      type: "float",
      unit: "%",
      minimum: 0,
      maximum: 100,
      description: "Battery state of charge.",
    },
  ],
  count: 1,
};

describe("units from the catalogue", () => {
  it("shows a value with its channel's unit", () => {
    const soc = channelOf(CATALOG, "power.battery_soc_pct");
    expect(valueText(64, soc)).toBe("64.0 %");
    expect(valueText(null, soc)).toBe("—");
  });

  it("shows no unit for a dimensionless channel or before the catalogue is read", () => {
    expect(unitText("1")).toBe("");
    expect(channelOf(undefined, "power.battery_soc_pct")).toBeUndefined();
    expect(valueText(64, undefined)).toBe("64.0");
  });
});
