// Alerts: what fires, with value and threshold; an operator acknowledges.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { pollUnlessUnavailable } from "../../api/client";
import { useSigned } from "../../api/context";
import { clockText } from "../../lib/time";

export function AlertsView() {
  const { client, session } = useSigned();
  const queries = useQueryClient();
  const [status, setStatus] = useState("firing");
  const alerts = useQuery({
    queryKey: ["alerts", status],
    queryFn: () => client.alerts(status),
    refetchInterval: pollUnlessUnavailable(3000),
    retry: false,
  });
  const acknowledge = useMutation({
    mutationFn: (id: string) => client.acknowledge(id),
    onSettled: () => queries.invalidateQueries({ queryKey: ["alerts"] }),
  });
  const reason = session.mayCommand ? null : `The ${session.role} role may not acknowledge alerts; it needs the operator role.`;
  const list = alerts.data?.data ?? [];
  return (
    <div className="alerts">
      <h1>Alerts</h1>
      <label htmlFor="alert-status">Show</label>
      <select id="alert-status" value={status} onChange={(e) => setStatus(e.target.value)}>
        <option value="firing">firing</option>
        <option value="resolved">resolved</option>
        <option value="all">all</option>
      </select>
      {reason && <p className="refusal">{reason}</p>}
      {alerts.isError && <p role="alert">Cannot read the alerts: {String(alerts.error)}</p>}
      {acknowledge.isError && <p role="alert">{String(acknowledge.error)}</p>}
      {alerts.isSuccess && list.length === 0 && <p>No {status === "all" ? "" : status} alerts.</p>}
      {list.length > 0 && (
        <table>
          <caption>Alerts ({status}), newest first</caption>
          <thead>
            <tr>
              <th scope="col">Satellite</th>
              <th scope="col">Rule</th>
              <th scope="col">Severity</th>
              <th scope="col">Channel</th>
              <th scope="col">Value</th>
              <th scope="col">Threshold</th>
              <th scope="col">Fired</th>
              <th scope="col">Status</th>
              <th scope="col">Acknowledged</th>
            </tr>
          </thead>
          <tbody>
            {list.map((a) => (
              <tr key={a.id}>
                <td>{a.satellite}</td>
                <td>{a.rule}</td>
                <td>{a.severity ?? "—"}</td>
                <td>{a.channel ?? "—"}</td>
                <td>
                  {a.value ?? "—"} {a.unit ?? ""}
                </td>
                <td>
                  {a.threshold ?? "—"} {a.unit ?? ""}
                </td>
                <td>{clockText(a.firedAt)}</td>
                <td>{a.status}</td>
                <td>
                  {a.acknowledgedBy ? (
                    `${a.acknowledgedBy} at ${clockText(a.acknowledgedAt)}`
                  ) : (
                    <button
                      type="button"
                      disabled={reason !== null || acknowledge.isPending}
                      title={reason ?? undefined}
                      onClick={() => acknowledge.mutate(a.id)}
                    >
                      Acknowledge<span className="sr-only"> {a.rule} of {a.satellite}</span>
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
