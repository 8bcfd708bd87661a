// Hash routes (#/fleet, #/satellite/<name>, #/commands/<name>, #/plans, #/alerts): the API serves
// one index.html at /, so the route lives in the fragment.
import { useEffect, useState } from "react";

export type View = "fleet" | "satellite" | "commands" | "plans" | "alerts";

export interface Route {
  view: View;
  satellite: string | null;
}

const VIEWS: View[] = ["fleet", "satellite", "commands", "plans", "alerts"];

export function parseRoute(hash: string): Route {
  const [view, satellite] = hash.replace(/^#\/?/, "").split("/");
  const known = VIEWS.find((v) => v === view);
  return {
    view: known ?? "fleet",
    satellite: satellite ? decodeURIComponent(satellite) : null,
  };
}

export function href(view: View, satellite?: string | null): string {
  return satellite ? `#/${view}/${encodeURIComponent(satellite)}` : `#/${view}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return route;
}
