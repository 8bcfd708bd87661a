// Sign-in: a role's bearer token (from `make demo` or the mission's Secret), checked against
// GET /api/v1/session before it is kept in session storage.
import { useState, type FormEvent } from "react";
import { ApiClient, ApiError } from "../../api/client";
import type { Session } from "../../api/types";

export function SignIn({ onSignedIn }: { onSignedIn: (client: ApiClient, session: Session) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const value = token.trim();
    if (!value) {
      setError("Enter a bearer token.");
      return;
    }
    setBusy(true);
    setError(null);
    const client = new ApiClient(value);
    try {
      onSignedIn(client, await client.session());
    } catch (exc) {
      setError(
        exc instanceof ApiError && exc.status === 401
          ? "The API does not know this token."
          : `Cannot sign in: ${String(exc instanceof Error ? exc.message : exc)}`,
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="signin">
      <h1>MPCS mission control</h1>
      <form onSubmit={(e) => void submit(e)} aria-describedby="signin-help">
        <label htmlFor="token">Bearer token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          aria-invalid={error !== null}
          aria-describedby={error ? "signin-error" : undefined}
        />
        <p id="signin-help" className="help">
          A viewer, operator or admin token of this mission (`make demo` prints one). It is kept
          in this tab only.
        </p>
        {error && (
          <p id="signin-error" role="alert" className="error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}
