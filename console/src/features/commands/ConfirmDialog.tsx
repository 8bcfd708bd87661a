// The confirmation a critical command needs: a modal that restates the command in full.
import { useEffect, useRef } from "react";

export function ConfirmDialog({
  title,
  statement,
  confirmLabel,
  onConfirm,
  onCancel,
}: {
  title: string;
  statement: string;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    cancel.current?.focus(); // the safe choice has the focus
  }, []);
  return (
    <div className="backdrop">
      <div
        role="alertdialog"
        aria-modal="true"
        aria-labelledby="confirm-title"
        aria-describedby="confirm-statement"
        className="dialog"
        onKeyDown={(e) => {
          if (e.key === "Escape") onCancel();
        }}
      >
        <h2 id="confirm-title">{title}</h2>
        <p id="confirm-statement">{statement}</p>
        <div className="dialog-buttons">
          <button type="button" ref={cancel} onClick={onCancel}>
            Cancel
          </button>
          <button type="button" className="danger" onClick={onConfirm}>
            {confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}
