import { describe, expect, it } from "vitest";
import { timelinePage } from "./FleetView";

describe("the pass timeline pages through the fleet", () => {
  it("shows one page for a small fleet", () => {
    expect(timelinePage(5, 0, 12)).toEqual({ page: 0, pages: 1, from: 0, to: 5 });
    expect(timelinePage(0, 3, 12)).toEqual({ page: 0, pages: 1, from: 0, to: 0 });
  });

  it("pages a large fleet, the last page holding the rest", () => {
    expect(timelinePage(100, 1, 12)).toEqual({ page: 1, pages: 9, from: 12, to: 24 });
    expect(timelinePage(100, 8, 12)).toEqual({ page: 8, pages: 9, from: 96, to: 100 });
  });

  it("clamps a page the fleet no longer has (it shrank)", () => {
    expect(timelinePage(20, 5, 12)).toEqual({ page: 1, pages: 2, from: 12, to: 20 });
    expect(timelinePage(20, -1, 12).page).toBe(0);
  });
});
