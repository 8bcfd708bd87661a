// The telemetry catalogue (GET /api/v1/telemetry/channels), read once after sign-in and kept for
// the session: channels, units and ranges come from the API, the console restates none of them.
import { useQuery } from "@tanstack/react-query";
import type { ApiClient } from "./client";
import type { TelemetryCatalog, TelemetryChannel } from "./types";

export const CATALOG_KEY = ["telemetry-catalog"] as const;

/** The catalogue query: fetched once per session (it only changes with a new build). */
export function catalogQuery(client: ApiClient) {
  return {
    queryKey: CATALOG_KEY,
    queryFn: () => client.channels(),
    staleTime: Infinity,
    gcTime: Infinity,
  };
}

export function useCatalog(client: ApiClient) {
  return useQuery(catalogQuery(client));
}

/** A channel by "subsystem.name", or undefined when the catalogue lacks it (or is not read yet). */
export function channelOf(
  catalog: TelemetryCatalog | undefined,
  key: string,
): TelemetryChannel | undefined {
  return catalog?.data.find((c) => c.key === key);
}

/** A unit as shown after a value: "" for dimensionless ("1") and unit-less channels. */
export function unitText(unit: string | undefined): string {
  return unit === undefined || unit === "1" ? "" : unit;
}

/** A value with its channel's unit, e.g. "64.0 %"; "—" for none. */
export function valueText(value: number | null, channel: TelemetryChannel | undefined, digits = 1): string {
  if (value === null) return "—";
  const unit = unitText(channel?.unit);
  return unit ? `${value.toFixed(digits)} ${unit}` : value.toFixed(digits);
}
