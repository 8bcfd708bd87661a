// The console's frame: sign-in, then the header (mission, role, sign out), navigation and a view.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { useCatalog } from "./api/catalog";
import { ApiClient } from "./api/client";
import { SignedContext, type Signed } from "./api/context";
import { forgetToken, storedToken, storeToken } from "./api/session";
import type { Session } from "./api/types";
import { AlertsView } from "./features/alerts/AlertsView";
import { CommandConsole } from "./features/commands/CommandConsole";
import { FleetView } from "./features/fleet/FleetView";
import { PlansView } from "./features/plans/PlansView";
import { SatelliteView } from "./features/satellite/SatelliteView";
import { SignIn } from "./features/session/SignIn";
import { href, useRoute, type View } from "./lib/route";

const NAV: { view: View; label: string }[] = [
  { view: "fleet", label: "Fleet" },
  { view: "satellite", label: "Satellite" },
  { view: "commands", label: "Commands" },
  { view: "plans", label: "Plans" },
  { view: "alerts", label: "Alerts" },
];

export function App() {
  const [token, setToken] = useState<string | null>(() => storedToken());
  const [session, setSession] = useState<Session | null>(null);
  const queries = useQueryClient();
  const client = useMemo(() => (token ? new ApiClient(token) : null), [token]);

  // A token from an earlier page load: ask the API again who it is.
  const restored = useQuery({
    queryKey: ["session", token],
    queryFn: () => (client as ApiClient).session(),
    enabled: client !== null && session === null,
    retry: false,
  });

  function signOut() {
    forgetToken();
    setToken(null);
    setSession(null);
    queries.clear();
  }

  const current = session ?? restored.data ?? null;
  if (client === null || (current === null && restored.isError)) {
    return (
      <SignIn
        onSignedIn={(c, s) => {
          storeToken(c.token);
          setToken(c.token);
          setSession(s);
        }}
      />
    );
  }
  if (current === null) return <p className="loading">Signing in…</p>;
  return <Signedin signed={{ client, session: current }} onSignOut={signOut} />;
}

function Signedin({ signed, onSignOut }: { signed: Signed; onSignOut: () => void }) {
  const route = useRoute();
  const { session } = signed;
  const fleet = useQuery({
    queryKey: ["satellites"],
    queryFn: () => signed.client.satellites(),
    refetchInterval: 10_000,
  });
  // The telemetry catalogue, read once after sign-in: the views take channels and units from it.
  useCatalog(signed.client);
  const satellite = route.satellite ?? fleet.data?.data[0]?.name ?? null;
  return (
    <SignedContext.Provider value={signed}>
      <header className="top">
        <span className="brand">MPCS · mission {session.mission}</span>
        <nav aria-label="Views">
          {NAV.map((item) => (
            <a
              key={item.view}
              href={href(item.view, item.view === "satellite" || item.view === "commands" ? satellite : null)}
              aria-current={route.view === item.view ? "page" : undefined}
            >
              {item.label}
            </a>
          ))}
        </nav>
        <span className="role" data-testid="role">
          Signed in as <strong>{session.role}</strong>
        </span>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main>
        {route.view === "fleet" && <FleetView />}
        {route.view === "satellite" && satellite && <SatelliteView satellite={satellite} />}
        {route.view === "commands" && satellite && <CommandConsole satellite={satellite} />}
        {route.view === "plans" && <PlansView />}
        {route.view === "alerts" && <AlertsView />}
        {(route.view === "satellite" || route.view === "commands") && !satellite && (
          <p>No satellite in this mission yet.</p>
        )}
      </main>
    </SignedContext.Provider>
  );
}
