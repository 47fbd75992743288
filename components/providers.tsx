"use client";
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { createTRPCClient, httpBatchLink, httpLink, splitLink } from "@trpc/client";
import { useState, type ReactNode } from "react";
import superjson from "superjson";
import type { AppRouter } from "@/server/api/root";
import { setupCodeHeaders } from "./setup-code";
import { TRPCProvider } from "./trpc";

/** A session that ended (expired, logged out elsewhere, password changed) sends the browser to the login page. */
function onAuthError(err: unknown) {
  const code = (err as { data?: { code?: string } })?.data?.code;
  if (code !== "UNAUTHORIZED" || typeof window === "undefined") return;
  const here = window.location.pathname;
  if (here === "/login" || here === "/onboarding") return;
  window.location.assign(`/login?next=${encodeURIComponent(here + window.location.search)}`);
}

function makeQueryClient() {
  return new QueryClient({
    queryCache: new QueryCache({ onError: onAuthError }),
    mutationCache: new MutationCache({ onError: onAuthError }),
    defaultOptions: { queries: { staleTime: 1_000, retry: (n, err) => (err as { data?: { code?: string } })?.data?.code !== "UNAUTHORIZED" && n < 1, refetchOnWindowFocus: true } },
  });
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
        {children}
      </TRPCProvider>
    </QueryClientProvider>
  );
}
