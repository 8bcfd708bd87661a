import { describe, expect, it } from "vitest";
import { ApiError, fieldErrors, pollUnlessUnavailable } from "../api/client";
import { runs } from "../features/satellite/buffer";
import { positionText, wrappedCopies } from "./geo";
import { parseRoute } from "./route";
import { ageText, parseTime } from "./time";
import { nowFraction, spanOf } from "./timeline";

describe("time", () => {
  it("parses nanosecond RFC 3339 times to milliseconds", () => {
    expect(parseTime("2025-06-01T12:00:01.123456789Z")).toBe(Date.UTC(2025, 5, 1, 12, 0, 1, 123));
  });
  it("says how old a sample is", () => {
    const now = Date.UTC(2025, 5, 1, 12, 0, 0);
    expect(ageText("2025-06-01T11:59:55Z", now)).toBe("5 s");
    expect(ageText("2025-06-01T11:30:00Z", now)).toBe("30 min");
    expect(ageText(null, now)).toBe("—");
  });
});

describe("timeline", () => {
  const start = Date.UTC(2025, 5, 1, 0, 0, 0);
  it("places a pass as fractions of the window", () => {
    const span = spanOf("2025-06-01T06:00:00Z", "2025-06-01T12:00:00Z", start, 24);
    expect(span).toEqual({ left: 0.25, width: 0.25 });
  });
  it("clips a pass that started before the window and drops one after it", () => {
    expect(spanOf("2025-05-31T23:00:00Z", "2025-06-01T06:00:00Z", start, 24)).toEqual({ left: 0, width: 0.25 });
    expect(spanOf("2025-06-02T01:00:00Z", "2025-06-02T02:00:00Z", start, 24)).toBeNull();
  });
  it("moves now along the window", () => {
    expect(nowFraction(start + 12 * 3600_000, start, 24)).toBe(0.5);
    expect(nowFraction(start + 48 * 3600_000, start, 24)).toBe(1);
  });
});

describe("map geometry", () => {
  it("draws a ring that reaches past +180 also at the map's west edge", () => {
    const ring: [number, number][] = [
      [60, 170],
      [65, 190],
      [55, 185],
    ];
    const copies = wrappedCopies(ring);
    expect(copies).toHaveLength(2);
    expect(copies[1]?.[1]).toEqual([65, -170]);
    expect(wrappedCopies([[0, 0], [1, 1], [2, 0]])).toHaveLength(1);
  });
  it("writes positions with hemispheres", () => {
    expect(positionText(-12.34, 45.67)).toBe("12.3° S 45.7° E");
    expect(positionText(null, 1)).toBe("—");
  });
});

describe("API errors", () => {
  it("maps FastAPI's 422 locations to form fields", () => {
    const detail = [
      { loc: ["body", "args", "count"], msg: "count: 1000 is not in 1..100" },
      { loc: ["body", "name"], msg: "unknown command" },
      { loc: ["query", "hours"], msg: "too many" },
    ];
    expect(fieldErrors(detail)).toEqual({
      count: "count: 1000 is not in 1..100",
      name: "unknown command",
      hours: "too many",
    });
    expect(fieldErrors("not a list")).toEqual({});
  });
});

describe("state runs", () => {
  it("merges consecutive equal states", () => {
    expect(runs([0, 1, 2, 3], ["SAFE", "SAFE", "NOMINAL", "NOMINAL"], (m) => m)).toEqual([
      { from: 0, to: 2, value: "SAFE" },
      { from: 2, to: 3, value: "NOMINAL" },
    ]);
  });
});

describe("routes", () => {
  it("reads the view and satellite from the hash", () => {
    expect(parseRoute("#/commands/firewatch-1")).toEqual({ view: "commands", satellite: "firewatch-1" });
    expect(parseRoute("")).toEqual({ view: "fleet", satellite: null });
    expect(parseRoute("#/nonsense")).toEqual({ view: "fleet", satellite: null });
  });
});

describe("polling", () => {
  it("slows to once a minute while the API answers 503, and only then", () => {
    const poll = pollUnlessUnavailable(5000);
    expect(poll({ state: { error: null } })).toBe(5000);
    expect(poll({ state: { error: new ApiError(503, "alerts table not reachable") } })).toBe(60_000);
    expect(poll({ state: { error: new ApiError(500, "boom") } })).toBe(5000);
    expect(poll({ state: { error: new Error("network") } })).toBe(5000);
  });
});
