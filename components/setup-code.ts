"use client";
/**
 * The onboarding setup code this browser entered (server/auth/setup-code.ts): kept for
 * the tab's session and sent with every API request until onboarding is done.
 */
const KEY = "portico.setupCode";
export const SETUP_CODE_HEADER = "x-portico-setup-code";

export function getSetupCode(): string | undefined {
  if (typeof window === "undefined") return undefined;
  try {
    return sessionStorage.getItem(KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

export function setSetupCode(code: string | undefined): void {
  try {
    if (code) sessionStorage.setItem(KEY, code);
    else sessionStorage.removeItem(KEY);
  } catch {
    /* storage refused: the code is asked for again */
  }
}

/** Headers for the tRPC link: the code while one is kept. */
export function setupCodeHeaders(): Record<string, string> {
  const code = getSetupCode();
  return code ? { [SETUP_CODE_HEADER]: code } : {};
}
