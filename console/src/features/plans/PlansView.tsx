// CommandPlans of the mission: resolved schedule and the state of every step, live.
import { useQuery } from "@tanstack/react-query";
import { useSigned } from "../../api/context";
import { clockText } from "../../lib/time";

export function PlansView() {
  const { client } = useSigned();
  const plans = useQuery({ queryKey: ["plans"], queryFn: () => client.plans(), refetchInterval: 2000 });
  const list = plans.data?.data ?? [];
  return (
    <div className="plans">
      <h1>Command plans</h1>
      {plans.isError && <p role="alert">Cannot read the plans: {String(plans.error)}</p>}
      {plans.isSuccess && list.length === 0 && <p>No CommandPlan in this mission.</p>}
      {list.map((plan) => (
        <section key={plan.name} aria-labelledby={`plan-${plan.name}`} className="plan">
          <h2 id={`plan-${plan.name}`}>
            {plan.name} <span className="badge">{plan.phase ?? "—"}</span>
          </h2>
          <p>
            Satellite {plan.satellite ?? "—"}; starts {plan.startTime ?? "when resolved"}; on failure{" "}
            {plan.onFailure ?? "Abort"}. {plan.message ?? ""}
          </p>
          <table>
            <caption>Schedule of {plan.name}</caption>
            <thead>
              <tr>
                <th scope="col">Step</th>
                <th scope="col">Command</th>
                <th scope="col">Due</th>
                <th scope="col">State</th>
                <th scope="col">Sent</th>
                <th scope="col">Acked</th>
                <th scope="col">Executed</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {(plan.schedule.length ? plan.schedule : plan.steps.map((s) => ({ ...s, scheduledAt: "" }))).map(
                (step) => (
                  <tr key={step.name}>
                    <th scope="row">{step.name}</th>
                    <td>{step.command}</td>
                    <td>{step.scheduledAt ? clockText(step.scheduledAt) : "not resolved"}</td>
                    <td className={`state ${"state" in step ? (step.state ?? "pending") : "pending"}`}>
                      {"state" in step ? (step.state ?? "pending") : "pending"}
                    </td>
                    <td>{"sentAt" in step ? clockText(step.sentAt) : "—"}</td>
                    <td>{"ackedAt" in step ? clockText(step.ackedAt) : "—"}</td>
                    <td>{"executedAt" in step ? clockText(step.executedAt) : "—"}</td>
                    <td>{"message" in step ? (step.message ?? "") : ""}</td>
                  </tr>
                ),
              )}
            </tbody>
          </table>
        </section>
      ))}
    </div>
  );
}
