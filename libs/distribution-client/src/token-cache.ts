/** Lifetime of a token whose answer has no usable `expires_in`, in seconds (the spec's default). */
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 60;
/** Longest margin before a token's expiry at which it is no longer used, in ms. */
export const MAX_TOKEN_MARGIN_MS = 10_000;

/** Bearer tokens of one upstream, by scope, each until its expiry minus a margin. */
export interface TokenCache {
  /** The token for scope, unless missing or within its margin of expiry. */
  get(scope: string): string | undefined;
  /**
   * Keeps token for scope for expiresInSeconds (default 60 when undefined,
   * not a positive number, or absurd) minus a margin of a tenth of it, at
   * most {@link MAX_TOKEN_MARGIN_MS}.
   */
  set(scope: string, token: string, expiresInSeconds: unknown): void;
  /** Forgets the token for scope (the upstream refused it). */
  delete(scope: string): void;
}

/** An in-memory {@link TokenCache}; now() is the clock (Date.now by default). */
export function createTokenCache(now: () => number = Date.now): TokenCache {
  const tokens = new Map<string, { token: string; usableUntil: number }>();
  return {
    get(scope) {
      const entry = tokens.get(scope);
      if (entry === undefined) return undefined;
      if (now() >= entry.usableUntil) {
        tokens.delete(scope);
        return undefined;
      }
      return entry.token;
    },
    set(scope, token, expiresInSeconds) {
      const seconds =
        typeof expiresInSeconds === 'number' && Number.isFinite(expiresInSeconds) && expiresInSeconds > 0 && expiresInSeconds < 366 * 86_400
          ? expiresInSeconds
          : DEFAULT_TOKEN_LIFETIME_SECONDS;
      const lifetime = seconds * 1000;
      tokens.set(scope, { token, usableUntil: now() + lifetime - Math.min(MAX_TOKEN_MARGIN_MS, lifetime / 10) });
    },
    delete(scope) {
      tokens.delete(scope);
    },
  };
}
