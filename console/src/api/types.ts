// Shapes of the command API's answers the console reads (docs/api.md; camelCase on the wire).

export type Role = "viewer" | "operator" | "admin";

export interface Session {
  role: Role;
  mission: string;
  namespace: string;
  mayCommand: boolean;
  mayCommandCritical: boolean;
}

export interface List<T> {
  data: T[];
  count: number;
}

export interface NextPass {
  station: string;
  aos: string;
  los: string;
  maxElevationDeg: number;
}

export interface SatelliteSummary {
  name: string;
  mission: string;
  noradId: number | null;
  phase: string | null;
  telemetryIntervalSeconds: number | null;
  simulatorEnabled: boolean;
  nextPass: NextPass | null;
  lastTelemetryTime: string | null;
}

export interface FleetMember {
  name: string;
  phase: string | null;
  mode: string | null;
  time: string | null;
  latDeg: number | null;
  lonDeg: number | null;
  altKm: number | null;
  batterySocPct: number | null;
  storageUsedPct: number | null;
  fdirLatched: boolean | null;
  inContact: boolean | null;
}

export interface GroundStation {
  name: string;
  latitudeDeg: number;
  longitudeDeg: number;
  altitudeM: number;
  minElevationDeg: number;
  band: string | null;
  visibility: [number, number][];
}

export interface TrackPoint {
  time: string;
  latDeg: number;
  lonDeg: number;
  altKm: number;
  sunlit: boolean;
}

export interface Track {
  satellite: string;
  start: string;
  stop: string;
  stepS: number;
  points: TrackPoint[];
  segments: [number, number][][];
  now: TrackPoint;
}

export interface Pass {
  station: string;
  aos: string;
  tca: string;
  los: string;
  maxElevationDeg: number;
  durationS: number;
  clipped: boolean;
}

export type ChannelValue = number | boolean | string;

/** A telemetry message as on Kafka (docs/telemetry.md). */
export interface TelemetryMessage {
  version: number;
  satellite: string;
  time: string;
  seq: number;
  mode: string;
  [subsystem: string]: unknown;
}

export interface SeriesPoint {
  time: string;
  value: ChannelValue | null;
}

export interface Series {
  channel: string;
  unit: string;
  fn: string;
  points: SeriesPoint[];
}

export interface ArgumentSpec {
  name: string;
  type: string;
  description: string;
  unit: string;
  accepted: string;
  required: boolean;
  default: unknown;
  minimum: number | null;
  maximum: number | null;
  choices: string[];
}

export interface CommandSpec {
  name: string;
  description: string;
  criticality: "routine" | "caution" | "critical";
  allowedModes: string[];
  effect: string;
  args: ArgumentSpec[];
}

export interface CommandEvent {
  state: string;
  time: string;
  reason: string | null;
  spacecraftTime: string | null;
}

export interface Command {
  id: string;
  satellite: string;
  name: string;
  args: Record<string, unknown>;
  issuedBy: string;
  issuedAt: string;
  validUntil: string | null;
  plan: string | null;
  step: string | null;
  state: string;
  history: CommandEvent[];
}

export interface PlanStep {
  name: string;
  command: string;
  scheduledAt: string;
  state?: string;
  sentAt?: string;
  ackedAt?: string;
  executedAt?: string;
  commandId?: string;
  message?: string;
}

export interface Plan {
  name: string;
  satellite: string | null;
  phase: string | null;
  startTime: string | null;
  message: string | null;
  onFailure: string | null;
  schedule: PlanStep[];
  steps: { name: string; command: string; args?: Record<string, unknown> }[];
}

export interface Alert {
  id: string;
  satellite: string;
  rule: string;
  status: string;
  severity: string | null;
  channel: string | null;
  value: number | null;
  threshold: number | null;
  unit: string | null;
  firedAt: string | null;
  resolvedAt: string | null;
  acknowledgedBy: string | null;
  acknowledgedAt: string | null;
}

/** One channel of the telemetry catalogue (GET /api/v1/telemetry/channels, docs/telemetry.md). */
export interface TelemetryChannel {
  key: string; // "subsystem.name"
  subsystem: string;
  name: string;
  type: "float" | "int" | "bool" | "str";
  unit: string; // "1": dimensionless; "" for bool and str
  minimum: number | null;
  maximum: number | null;
  description: string;
}

/** The telemetry catalogue: every channel in wire order, the subsystems and the modes. */
export interface TelemetryCatalog {
  schemaVersion: number;
  subsystems: string[];
  modes: string[];
  data: TelemetryChannel[];
  count: number;
}
