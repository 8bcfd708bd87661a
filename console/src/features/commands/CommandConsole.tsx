// Command console of one satellite: pick a command of the dictionary, fill its generated form,
// follow the state history of what was sent (sent → accepted → executed / failed / rejected).
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useSigned } from "../../api/context";
import type { Command } from "../../api/types";
import { clockText } from "../../lib/time";
import { CommandForm } from "./CommandForm";
import { refusal } from "./form";

const FINAL = new Set(["executed", "failed", "rejected"]);

export function CommandHistory({ commands }: { commands: Command[] }) {
  return (
    <table className="history">
      <caption>Recent commands of this satellite, newest first (live)</caption>
      <thead>
        <tr>
          <th scope="col">Issued</th>
          <th scope="col">Command</th>
          <th scope="col">By</th>
          <th scope="col">State</th>
          <th scope="col">History</th>
        </tr>
      </thead>
      <tbody>
        {commands.map((c) => (
          <tr key={c.id} data-testid={`command-${c.id}`}>
            <td>{clockText(c.issuedAt)}</td>
            <td>
              {c.name}
              {c.plan ? ` (plan ${c.plan}/${c.step ?? ""})` : ""}
            </td>
            <td>{c.issuedBy}</td>
            <td className={`state ${c.state}`} data-testid="command-state">
              {c.state}
            </td>
            <td>
              {c.history.map((e, i) => (
                <span key={`${e.state}-${i}`} title={e.reason ?? undefined}>
                  {i > 0 ? " → " : ""}
                  {e.state} {clockText(e.time)}
                  {e.reason ? ` (${e.reason})` : ""}
                </span>
              ))}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function CommandConsole({ satellite }: { satellite: string }) {
  const { client, session } = useSigned();
  const queries = useQueryClient();
  const dictionary = useQuery({
    queryKey: ["dictionary"],
    queryFn: () => client.dictionary(),
    staleTime: Infinity,
  });
  const [name, setName] = useState("PING");
  const [lastSent, setLastSent] = useState<string | null>(null);
  const recent = useQuery({
    queryKey: ["commands", satellite],
    queryFn: () => client.commands(satellite, 20),
    refetchInterval: 1000,
  });
  // The command just sent: long-poll its final state, so the row changes as soon as it does.
  const followed = useQuery({
    queryKey: ["command", lastSent],
    queryFn: () => client.command(lastSent as string, 10),
    enabled: lastSent !== null,
    refetchInterval: (q) => (q.state.data && FINAL.has(q.state.data.state) ? false : 200),
  });
  const specs = dictionary.data?.data ?? [];
  const spec = specs.find((s) => s.name === name) ?? specs[0];
  const rows = (recent.data?.data ?? []).map((c) =>
    followed.data && c.id === followed.data.id ? followed.data : c,
  );
  if (followed.data && !rows.some((c) => c.id === followed.data.id)) rows.unshift(followed.data);

  return (
    <div className="commands">
      <h1>Commands · {satellite}</h1>
      {dictionary.isError && <p role="alert">Cannot read the command dictionary: {String(dictionary.error)}</p>}
      <label htmlFor="command-name">Command</label>
      <select id="command-name" value={spec?.name ?? ""} onChange={(e) => setName(e.target.value)}>
        {specs.map((s) => (
          <option key={s.name} value={s.name}>
            {s.name} ({s.criticality})
          </option>
        ))}
      </select>
      {spec && (
        <CommandForm
          key={`${satellite}-${spec.name}`}
          spec={spec}
          satellite={satellite}
          refusal={refusal(spec, session.role, session.mayCommand, session.mayCommandCritical)}
          send={(command) => client.sendCommand(satellite, command)}
          onSent={(command) => {
            setLastSent(command.id);
            void queries.invalidateQueries({ queryKey: ["commands", satellite] });
          }}
        />
      )}
      <CommandHistory commands={rows} />
    </div>
  );
}
