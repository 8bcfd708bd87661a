// A command's form, generated from its dictionary entry (GET /api/v1/commands/dictionary): the
// fields' starting values, the typed arguments a filled form sends, and the sentence that
// restates a command before it is sent. Range checks stay with the API (its 422 names the field).
import type { ArgumentSpec, CommandSpec } from "../../api/types";

export type FormValues = Record<string, string>;

export function initialValues(spec: CommandSpec): FormValues {
  const values: FormValues = {};
  for (const arg of spec.args) {
    values[arg.name] = arg.default === null || arg.default === undefined ? "" : String(arg.default);
  }
  return values;
}

/** One field's text as the argument's type; text that is not a number is sent as is (the API says why). */
export function coerce(arg: ArgumentSpec, text: string): unknown {
  const trimmed = text.trim();
  if (arg.type === "int" && /^[-+]?\d+$/.test(trimmed)) return Number.parseInt(trimmed, 10);
  if (arg.type === "float" && trimmed !== "" && Number.isFinite(Number(trimmed))) return Number(trimmed);
  if (arg.type === "bool") return trimmed === "true";
  return arg.type === "tle_line" ? text : trimmed;
}

/** The arguments of a filled form: empty optional fields are left out (the API fills defaults). */
export function toArgs(spec: CommandSpec, values: FormValues): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const arg of spec.args) {
    const text = values[arg.name] ?? "";
    if (text.trim() === "" && !arg.required) continue;
    args[arg.name] = coerce(arg, text);
  }
  return args;
}

/** "RESET_SUBSYSTEM to firewatch-1 with subsystem = obc" */
export function restate(spec: CommandSpec, satellite: string, args: Record<string, unknown>): string {
  const parts = Object.entries(args).map(([name, value]) => {
    const unit = spec.args.find((a) => a.name === name)?.unit;
    return `${name} = ${String(value)}${unit ? ` ${unit}` : ""}`;
  });
  return `${spec.name} to ${satellite}${parts.length ? ` with ${parts.join(", ")}` : " (no arguments)"}`;
}

/** Why the signed-in role may not send `spec`, or null when it may. */
export function refusal(
  spec: CommandSpec,
  role: string,
  mayCommand: boolean,
  mayCommandCritical: boolean,
): string | null {
  if (!mayCommand) return `The ${role} role may not send commands; it needs the operator role.`;
  if (spec.criticality === "critical" && !mayCommandCritical) {
    return `${spec.name} is a critical command; the ${role} role may not send it, it needs the admin role.`;
  }
  return null;
}
