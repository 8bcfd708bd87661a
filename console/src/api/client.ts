// The one typed client of the command API: bearer token on every call, errors as ApiError.
//
// A 422 answer is FastAPI's `{detail: [{loc, msg}]}`; `ApiError.fieldErrors` maps each error to
// the form field it names (`["body", "args", "mode"]` → `mode`), so a form shows the API's own
// message next to the field at fault.

import type {
  Alert,
  Command,
  CommandSpec,
  FleetMember,
  GroundStation,
  List,
  Pass,
  Plan,
  SatelliteSummary,
  Series,
  Session,
  TelemetryCatalog,
  Track,
} from "./types";

export interface ValidationItem {
  loc: (string | number)[];
  msg: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly detail: unknown;

  constructor(status: number, detail: unknown) {
    super(ApiError.describe(status, detail));
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }

  static describe(status: number, detail: unknown): string {
    if (typeof detail === "string") return `${status}: ${detail}`;
    if (Array.isArray(detail)) {
      return `${status}: ${detail
        .map((d: ValidationItem) => `${(d.loc ?? []).join(".")}: ${d.msg}`)
        .join("; ")}`;
    }
    return `${status}: the API answered with an error`;
  }

  /** Field name → message for a 422 (the last `loc` part past "body"/"args"/"query"). */
  get fieldErrors(): Record<string, string> {
    return fieldErrors(this.detail);
  }
}

/** Milliseconds between polls of a resource the API may not serve here: `ms`, but once a minute
 * while it answers 503 (e.g. no alerts table reachable), so an unconfigured service is not asked
 * — and a console error logged — every few seconds. For TanStack Query's `refetchInterval`. */
export function pollUnlessUnavailable(ms: number) {
  return (query: { state: { error: unknown } }): number =>
    query.state.error instanceof ApiError && query.state.error.status === 503 ? 60_000 : ms;
}

export function fieldErrors(detail: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(detail)) return out;
  for (const item of detail as ValidationItem[]) {
    const loc = (item.loc ?? []).filter((p) => !["body", "query", "path"].includes(String(p)));
    let key: string;
    if (loc[0] === "args" && loc.length > 1) key = String(loc[1]);
    else key = loc.length > 0 ? String(loc[0]) : "_";
    out[key] = out[key] ? `${out[key]}; ${item.msg}` : item.msg;
  }
  return out;
}

export interface SendCommand {
  name: string;
  args: Record<string, unknown>;
  confirm?: boolean;
}

export class ApiClient {
  readonly token: string;
  readonly base: string;

  constructor(token: string, base = "") {
    this.token = token;
    this.base = base;
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = text;
    }
    if (!response.ok) {
      const detail =
        parsed && typeof parsed === "object" && "detail" in parsed
          ? (parsed as { detail: unknown }).detail
          : parsed;
      throw new ApiError(response.status, detail);
    }
    return parsed as T;
  }

  session(): Promise<Session> {
    return this.request("GET", "/api/v1/session");
  }
  satellites(): Promise<List<SatelliteSummary>> {
    return this.request("GET", "/api/v1/satellites");
  }
  fleet(): Promise<List<FleetMember>> {
    return this.request("GET", "/api/v1/fleet");
  }
  groundStations(altitudeKm: number): Promise<List<GroundStation>> {
    return this.request("GET", `/api/v1/groundstations?altitudeKm=${altitudeKm.toFixed(0)}`);
  }
  track(sat: string): Promise<Track> {
    return this.request("GET", `/api/v1/satellites/${encodeURIComponent(sat)}/track?stepS=30`);
  }
  passes(sat: string, hours = 24): Promise<List<Pass>> {
    return this.request("GET", `/api/v1/satellites/${encodeURIComponent(sat)}/passes?hours=${hours}`);
  }
  series(sat: string, channels: string[], start: string, every?: string): Promise<List<Series>> {
    const query = new URLSearchParams();
    for (const c of channels) query.append("channel", c);
    query.set("start", start);
    if (every) query.set("every", every);
    query.set("fn", "last");
    return this.request(
      "GET",
      `/api/v1/satellites/${encodeURIComponent(sat)}/telemetry?${query.toString()}`,
    );
  }
  /** The telemetry catalogue; fixed per build (the API sends an ETag and Cache-Control). */
  channels(): Promise<TelemetryCatalog> {
    return this.request("GET", "/api/v1/telemetry/channels");
  }
  dictionary(): Promise<List<CommandSpec>> {
    return this.request("GET", "/api/v1/commands/dictionary");
  }
  sendCommand(sat: string, command: SendCommand): Promise<Command> {
    return this.request("POST", `/api/v1/satellites/${encodeURIComponent(sat)}/commands`, command);
  }
  command(id: string, waitS = 0): Promise<Command> {
    return this.request("GET", `/api/v1/commands/${id}${waitS > 0 ? `?wait=${waitS}` : ""}`);
  }
  commands(sat: string, limit = 20): Promise<List<Command>> {
    return this.request(
      "GET",
      `/api/v1/commands?satellite=${encodeURIComponent(sat)}&limit=${limit}`,
    );
  }
  plans(): Promise<List<Plan>> {
    return this.request("GET", "/api/v1/plans");
  }
  alerts(status = "firing"): Promise<List<Alert>> {
    return this.request("GET", `/api/v1/alerts?status=${status}`);
  }
  acknowledge(id: string): Promise<Alert> {
    return this.request("POST", `/api/v1/alerts/${encodeURIComponent(id)}/acknowledge`);
  }

  /** The WebSocket URL of a satellite's live telemetry (token as ?token=, browsers set no header). */
  streamUrl(sat: string): string {
    const loc = window.location;
    const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${loc.host}${this.base}/api/v1/satellites/${encodeURIComponent(
      sat,
    )}/telemetry/stream?token=${encodeURIComponent(this.token)}`;
  }
}
