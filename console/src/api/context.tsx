// The signed-in client and session, for every view (React context; server state is react-query's).
import { createContext, useContext } from "react";
import type { ApiClient } from "./client";
import type { Session } from "./types";

export interface Signed {
  client: ApiClient;
  session: Session;
}

export const SignedContext = createContext<Signed | null>(null);

export function useSigned(): Signed {
  const signed = useContext(SignedContext);
  if (signed === null) throw new Error("useSigned outside a signed-in console");
  return signed;
}
