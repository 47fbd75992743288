/** A tRPC client of a running appliance, authenticated like the CLI (the runtime file's token). */
import { readFileSync } from "node:fs";
import path from "node:path";
import { createTRPCClient, httpLink } from "@trpc/client";
import superjson from "superjson";
import type { AppRouter } from "../../server/api/root";

export function apiClient(url: string, dataDir: string) {
  const token = (JSON.parse(readFileSync(path.join(dataDir, "portico.runtime.json"), "utf8")) as { token: string }).token;
  return createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${url}/api/trpc`, transformer: superjson, headers: { "x-portico-token": token } })],
  });
}
