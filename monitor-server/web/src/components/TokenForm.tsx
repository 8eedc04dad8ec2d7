import { useId, useState, type FormEvent } from 'react';

/** Asks for the dashboard token (the server's DASHBOARD_TOKEN). */
export function TokenForm({ onSubmit }: { onSubmit: (token: string) => void }) {
  const [token, setToken] = useState('');
  const id = useId();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const value = token.trim();
    if (value !== '') onSubmit(value);
  };
  return (
    <form className="token-form panel" onSubmit={submit} data-testid="token-form">
      <h2>Dashboard token</h2>
      <p id={`${id}-help`}>
        This server requires a token (the dashboard token, or a read-only one). It is kept for this browser tab only (session storage).
      </p>
      <div className="field-row">
        <label htmlFor={id}>Token</label>
        <input
          id={id}
          name="token"
          type="password"
          autoComplete="current-password"
          spellCheck={false}
          required
          aria-describedby={`${id}-help`}
          value={token}
          onChange={(e) => setToken(e.target.value)}
        />
        <button type="submit">Use token</button>
      </div>
    </form>
  );
}
