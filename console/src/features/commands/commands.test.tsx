import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { ApiError } from "../../api/client";
import type { Command, CommandSpec } from "../../api/types";
import { CommandForm } from "./CommandForm";
import { refusal, restate, toArgs } from "./form";

const SET_MODE: CommandSpec = {
  name: "SET_MODE",
  description: "Change the operating mode.",
  criticality: "caution",
  allowedModes: ["SAFE", "NOMINAL"],
  effect: "Mode changes.",
  args: [
    {
      name: "mode",
      type: "enum",
      description: "Target mode.",
      unit: "",
      accepted: "one of SAFE, NOMINAL",
      required: true,
      default: null,
      minimum: null,
      maximum: null,
      choices: ["SAFE", "NOMINAL"],
    },
  ],
};

const CAPTURE: CommandSpec = {
  name: "CAPTURE_IMAGE",
  description: "Take images.",
  criticality: "routine",
  allowedModes: ["PAYLOAD"],
  effect: "Images.",
  args: [
    {
      name: "count",
      type: "int",
      description: "Number of images.",
      unit: "images",
      accepted: "int in 1..100 images",
      required: false,
      default: 1,
      minimum: 1,
      maximum: 100,
      choices: [],
    },
  ],
};

const RESET: CommandSpec = {
  ...SET_MODE,
  name: "RESET_SUBSYSTEM",
  criticality: "critical",
  effect: "Power-cycles it.",
  args: [{ ...SET_MODE.args[0]!, name: "subsystem", choices: ["obc", "adcs"] }],
};

const sent: Command = {
  id: "c1",
  satellite: "sat-1",
  name: "X",
  args: {},
  issuedBy: "admin",
  issuedAt: "2025-06-01T12:00:00Z",
  validUntil: null,
  plan: null,
  step: null,
  state: "sent",
  history: [],
};

describe("form helpers", () => {
  it("types the fields and leaves empty optional ones to the API's defaults", () => {
    expect(toArgs(CAPTURE, { count: "8" })).toEqual({ count: 8 });
    expect(toArgs(CAPTURE, { count: "" })).toEqual({});
    expect(toArgs(CAPTURE, { count: "many" })).toEqual({ count: "many" });
  });
  it("restates a command with units", () => {
    expect(restate(CAPTURE, "sat-1", { count: 8 })).toBe("CAPTURE_IMAGE to sat-1 with count = 8 images");
  });
  it("says why a role may not send", () => {
    expect(refusal(SET_MODE, "viewer", false, false)).toMatch(/needs the operator role/);
    expect(refusal(RESET, "operator", true, false)).toMatch(/critical command.*admin role/);
    expect(refusal(RESET, "admin", true, true)).toBeNull();
  });
});

describe("CommandForm", () => {
  it("sends a caution command with its typed arguments", async () => {
    const send = vi.fn().mockResolvedValue(sent);
    const onSent = vi.fn();
    render(<CommandForm spec={SET_MODE} satellite="sat-1" refusal={null} send={send} onSent={onSent} />);
    await userEvent.selectOptions(screen.getByLabelText(/mode/), "NOMINAL");
    await userEvent.click(screen.getByRole("button", { name: "Send SET_MODE" }));
    expect(send).toHaveBeenCalledWith({ name: "SET_MODE", args: { mode: "NOMINAL" } });
    await waitFor(() => expect(onSent).toHaveBeenCalledWith(sent));
  });

  it("shows the API's 422 message at the field it names", async () => {
    const send = vi.fn().mockRejectedValue(
      new ApiError(422, [{ loc: ["body", "args", "count"], msg: "count: 1000 is not an int in 1..100" }]),
    );
    render(<CommandForm spec={CAPTURE} satellite="sat-1" refusal={null} send={send} onSent={vi.fn()} />);
    const field = screen.getByLabelText(/count/);
    await userEvent.clear(field);
    await userEvent.type(field, "1000");
    await userEvent.click(screen.getByRole("button", { name: "Send CAPTURE_IMAGE" }));
    expect(await screen.findByText("count: 1000 is not an int in 1..100")).toBeInTheDocument();
    expect(field).toHaveAttribute("aria-invalid", "true");
    expect(field.getAttribute("aria-describedby")).toContain("error");
  });

  it("sends a critical command only after the dialog that restates it", async () => {
    const send = vi.fn().mockResolvedValue(sent);
    render(<CommandForm spec={RESET} satellite="sat-1" refusal={null} send={send} onSent={vi.fn()} />);
    await userEvent.selectOptions(screen.getByLabelText(/subsystem/), "obc");
    await userEvent.click(screen.getByRole("button", { name: "Send RESET_SUBSYSTEM…" }));
    const dialog = screen.getByRole("alertdialog");
    expect(dialog).toHaveTextContent("RESET_SUBSYSTEM to sat-1 with subsystem = obc");
    expect(send).not.toHaveBeenCalled();
    await userEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("alertdialog")).toBeNull();
    expect(send).not.toHaveBeenCalled();
    await userEvent.click(screen.getByRole("button", { name: "Send RESET_SUBSYSTEM…" }));
    await userEvent.click(screen.getByRole("button", { name: "Confirm and send RESET_SUBSYSTEM" }));
    expect(send).toHaveBeenCalledWith({ name: "RESET_SUBSYSTEM", args: { subsystem: "obc" }, confirm: true });
  });

  it("disables what the role may not use and says why", () => {
    const reason = "The viewer role may not send commands; it needs the operator role.";
    render(<CommandForm spec={SET_MODE} satellite="sat-1" refusal={reason} send={vi.fn()} onSent={vi.fn()} />);
    const button = screen.getByRole("button", { name: "Send SET_MODE" });
    expect(button).toBeDisabled();
    expect(button).toHaveAccessibleDescription(reason);
    expect(screen.getByLabelText(/mode/)).toBeDisabled();
  });
});
