"use client";
import { MutationCache, QueryCache, QueryClient, QueryClientProvider, useQueryClient } from "@tanstack/react-query";
import { createTRPCClient, httpBatchLink, httpLink, splitLink } from "@trpc/client";
import { useEffect, useState, type ReactNode } from "react";
import superjson from "superjson";
import { z } from "zod";
import type { AppRouter } from "@/server/api/root";
import { setupCodeHeaders } from "./setup-code";
import { TRPCProvider } from "./trpc";

// The console's Content-Security-Policy has no 'unsafe-eval' (server/http/policy.ts): zod must not
// try to compile its parsers with new Function (the probe alone is reported as a CSP violation).
z.config({ jitless: true });

/** A session that ended (expired, logged out elsewhere, password changed) sends the browser to the login page. */
function onAuthError(err: unknown) {
  const code = (err as { data?: { code?: string } })?.data?.code;
  if (code !== "UNAUTHORIZED" || typeof window === "undefined") return;
  const here = window.location.pathname;
  if (here === "/login" || here === "/onboarding") return;
  window.location.assign(`/login?next=${encodeURIComponent(here + window.location.search)}`);
}

/**
 * The appliance did not answer at all (stopped, restarting, network down): no tRPC error body,
 * only the browser's fetch failure ("Failed to fetch", "NetworkError…", "Load failed") or a
 * proxy's 502/503/504.
 */
export function unreachable(err: unknown): boolean {
  const e = err as { data?: { httpStatus?: number } | null; message?: string } | null;
  if (!e) return false;
  if (e.data?.httpStatus && [502, 503, 504].includes(e.data.httpStatus)) return true;
  return !e.data && /failed to fetch|fetch failed|networkerror|load failed|network request failed/i.test(e.message ?? "");
}

function makeQueryClient() {
  return new QueryClient({
    queryCache: new QueryCache({ onError: onAuthError }),
    mutationCache: new MutationCache({ onError: onAuthError }),
    defaultOptions: {
      queries: {
        staleTime: 1_000,
        // While the appliance is unreachable a query keeps retrying instead of failing: the page
        // keeps its last data (under the reconnecting banner) rather than turning into "Failed to fetch".
        retry: (n, err) => unreachable(err) || ((err as { data?: { code?: string } })?.data?.code !== "UNAUTHORIZED" && n < 1),
        retryDelay: (n) => Math.min(500 * 2 ** n, 5_000),
        refetchOnWindowFocus: true,
      },
    },
  });
}

/** "Reconnecting…" over every page while queries fail to reach the appliance. */
function ReconnectingBanner() {
  const qc = useQueryClient();
  const [down, setDown] = useState(false);
  useEffect(() => {
    const check = () => setDown(qc.getQueryCache().getAll().some((q) => q.state.fetchFailureCount > 0 && unreachable(q.state.fetchFailureReason)));
    check();
    return qc.getQueryCache().subscribe(check);
  }, [qc]);
  if (!down) return null;
  return (
    <div role="status" data-testid="reconnecting" className="fixed inset-x-0 top-0 z-50 bg-amber-100 px-4 py-2 text-center text-sm text-amber-900 shadow dark:bg-amber-900 dark:text-amber-100">
      The appliance is not answering — reconnecting… The page shows the last data it received.
    </div>
  );
}

export function Providers({ children }: { children: ReactNode }) {
  const [queryClient] = useState(makeQueryClient);
  const [trpcClient] = useState(() =>
    createTRPCClient<AppRouter>({
      links: [
        splitLink({
          // The server refuses auth.login in a batch (one guess per request) and caps batches at 32 calls.
          condition: (op) => op.path === "auth.login",
          true: httpLink({ url: "/api/trpc", transformer: superjson, headers: setupCodeHeaders }),
          false: httpBatchLink({ url: "/api/trpc", transformer: superjson, headers: setupCodeHeaders, maxItems: 16 }),
        }),
      ],
    }),
  );
  return (
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
        <ReconnectingBanner />
        {children}
      </TRPCProvider>
    </QueryClientProvider>
  );
}
