// One command's form: fields typed from the dictionary, the API's 422 messages at their field,
// a confirmation dialog for critical commands, controls disabled (with the reason) for a role
// that may not send it.
import { useState, type FormEvent } from "react";
import { ApiError, type SendCommand } from "../../api/client";
import type { ArgumentSpec, Command, CommandSpec } from "../../api/types";
import { ConfirmDialog } from "./ConfirmDialog";
import { initialValues, restate, toArgs, type FormValues } from "./form";

export interface CommandFormProps {
  spec: CommandSpec;
  satellite: string;
  refusal: string | null;
  send: (command: SendCommand) => Promise<Command>;
  onSent: (command: Command) => void;
}

function Field({
  arg,
  id,
  value,
  error,
  disabled,
  onChange,
}: {
  arg: ArgumentSpec;
  id: string;
  value: string;
  error: string | undefined;
  disabled: boolean;
  onChange: (value: string) => void;
}) {
  const help = `${arg.description} Accepted: ${arg.accepted}.${arg.required ? "" : " Optional."}`;
  const describedBy = `${id}-help${error ? ` ${id}-error` : ""}`;
  const common = {
    id,
    name: arg.name,
    disabled,
    "aria-invalid": error !== undefined,
    "aria-describedby": describedBy,
  };
  let input;
  if (arg.choices.length > 0) {
    input = (
      <select {...common} value={value} onChange={(e) => onChange(e.target.value)}>
        {(!arg.required || value === "") && <option value="">{arg.required ? "— choose —" : "(default)"}</option>}
        {arg.choices.map((c) => (
          <option key={c} value={c}>
            {c}
          </option>
        ))}
      </select>
    );
  } else {
    input = (
      <input
        {...common}
        type="text"
        inputMode={arg.type === "int" || arg.type === "float" ? "decimal" : undefined}
        value={value}
        size={arg.type === "tle_line" ? 72 : 12}
        onChange={(e) => onChange(e.target.value)}
      />
    );
  }
  return (
    <div className={`field${error ? " invalid" : ""}`}>
      <label htmlFor={id}>
        {arg.name}
        {arg.unit ? ` (${arg.unit})` : ""}
        {arg.required ? " *" : ""}
      </label>
      {input}
      <span id={`${id}-help`} className="help">
        {help}
      </span>
      {error && (
        <span id={`${id}-error`} className="error" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

export function CommandForm({ spec, satellite, refusal, send, onSent }: CommandFormProps) {
  const [values, setValues] = useState<FormValues>(() => initialValues(spec));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<Record<string, unknown> | null>(null);
  const [busy, setBusy] = useState(false);
  const critical = spec.criticality === "critical";
  const disabled = refusal !== null || busy;

  async function submit(args: Record<string, unknown>, confirm: boolean) {
    setBusy(true);
    setErrors({});
    setGeneral(null);
    try {
      onSent(await send({ name: spec.name, args, ...(confirm ? { confirm: true } : {}) }));
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 422) {
        const byField = exc.fieldErrors;
        setErrors(byField);
        const unplaced = Object.entries(byField).filter(([k]) => !spec.args.some((a) => a.name === k));
        setGeneral(unplaced.length ? unplaced.map(([k, m]) => `${k}: ${m}`).join("; ") : null);
      } else {
        setGeneral(exc instanceof Error ? exc.message : String(exc));
      }
    } finally {
      setBusy(false);
    }
  }

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    const args = toArgs(spec, values);
    if (critical) setConfirming(args);
    else void submit(args, false);
  }

  const formId = `form-${spec.name}`;
  return (
    <form id={formId} className="command-form" onSubmit={onSubmit} noValidate aria-labelledby={`${formId}-title`}>
      <h2 id={`${formId}-title`}>
        {spec.name} <span className={`badge ${spec.criticality}`}>{spec.criticality}</span>
      </h2>
      <p>{spec.description}</p>
      <p className="help">
        {spec.effect} Allowed in: {spec.allowedModes.join(", ")}.
      </p>
      {spec.args.map((arg) => (
        <Field
          key={arg.name}
          arg={arg}
          id={`${formId}-${arg.name}`}
          value={values[arg.name] ?? ""}
          error={errors[arg.name]}
          disabled={disabled}
          onChange={(v) => setValues((old) => ({ ...old, [arg.name]: v }))}
        />
      ))}
      {general && (
        <p className="error" role="alert">
          {general}
        </p>
      )}
      <button type="submit" disabled={disabled} aria-describedby={refusal ? `${formId}-refusal` : undefined}>
        {critical ? `Send ${spec.name}…` : `Send ${spec.name}`}
      </button>
      {refusal && (
        <p id={`${formId}-refusal`} className="refusal" data-testid="refusal">
          {refusal}
        </p>
      )}
      {confirming && (
        <ConfirmDialog
          title={`Send the critical command ${spec.name}?`}
          statement={`You are about to send ${restate(spec, satellite, confirming)}. ${spec.effect}`}
          confirmLabel={`Confirm and send ${spec.name}`}
          onCancel={() => setConfirming(null)}
          onConfirm={() => {
            const args = confirming;
            setConfirming(null);
            void submit(args, true);
          }}
        />
      )}
    </form>
  );
}
