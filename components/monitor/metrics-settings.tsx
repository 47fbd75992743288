"use client";
/**
 * Settings › Metrics: the token for GET /metrics from other hosts (Prometheus'
 * `authorization: { credentials: … }`). The token is shown once, when generated.
 * Test ids: metrics-settings, metrics-token-state, metrics-generate, metrics-clear, metrics-token.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC } from "@/components/trpc";
import { Badge, Button, Card, ConfirmDialog, QueryStatus } from "@/components/ui";

export function MetricsSettings() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const settings = useQuery(trpc.monitor.metricsSettings.queryOptions());
  const [shown, setShown] = useState<string | null>(null);
  const [confirmClear, setConfirmClear] = useState(false);
  const set = useMutation(
    trpc.monitor.setMetricsToken.mutationOptions({
      onSuccess: (r) => {
        setShown(r.token);
        setConfirmClear(false);
        void qc.invalidateQueries({ queryKey: trpc.monitor.metricsSettings.queryKey() });
      },
    }),
  );
  const origin = typeof window === "undefined" ? "http://appliance:3000" : window.location.origin;
  return (
    <Card title="Prometheus metrics" id="metrics-settings">
      {!settings.isSuccess ? (
        <QueryStatus query={settings} />
      ) : (
        <div className="space-y-3 text-sm">
          <p>
            <code>GET {origin}/metrics</code> serves IO counters per target, TPG, LUN and storage object in the Prometheus text format. It answers
            requests from this machine (localhost) without a token; other hosts need the token below as a bearer token.
          </p>
          <p data-testid="metrics-token-state">
            Token: {settings.data.tokenSet ? <Badge tone="ok">set</Badge> : <Badge>not set — localhost only</Badge>} · IO counting:{" "}
            {settings.data.statsEnabled ? <Badge tone="ok">on</Badge> : <Badge tone="warn">off (PORTICO_STATS=off)</Badge>}
          </p>
          {shown && (
            <div className="rounded-md border border-amber-300 bg-amber-50 p-3 text-amber-950" role="status">
              <p className="font-medium">Copy the token now: it is not shown again.</p>
              <pre className="mt-2 overflow-x-auto rounded bg-slate-900 p-2 text-xs text-slate-100" data-testid="metrics-token">{shown}</pre>
              <pre className="mt-2 overflow-x-auto rounded bg-slate-900 p-2 text-xs text-slate-100">{`scrape_configs:
  - job_name: portico
    authorization:
      credentials: ${shown}${
        origin.startsWith("https:")
          ? `
    scheme: https
    tls_config:
      # the appliance's certificate (Settings › HTTPS); with the self-signed one,
      # copy tls/self-signed.crt from its data directory, or use insecure_skip_verify: true
      ca_file: /etc/prometheus/portico.crt`
          : ""
      }
    static_configs:
      - targets: ["${origin.replace(/^https?:\/\//, "")}"]`}</pre>
            </div>
          )}
          {set.error && <p role="alert" className="text-red-700">{set.error.message}</p>}
          <div className="flex gap-2">
            <Button onClick={() => set.mutate({ action: "generate" })} disabled={set.isPending} data-testid="metrics-generate">
              {settings.data.tokenSet ? "Replace token" : "Generate token"}
            </Button>
            {settings.data.tokenSet && (
              <Button onClick={() => setConfirmClear(true)} data-testid="metrics-clear">
                Remove token
              </Button>
            )}
          </div>
        </div>
      )}
      <ConfirmDialog
        open={confirmClear}
        title="Remove the metrics token?"
        confirmLabel="Remove token"
        busy={set.isPending}
        onClose={() => setConfirmClear(false)}
        onConfirm={() => {
          setShown(null);
          set.mutate({ action: "clear" });
        }}
      >
        <p data-testid="confirm-dialog">Prometheus servers on other hosts will get 403 until a new token is set. Scrapes from localhost keep working.</p>
      </ConfirmDialog>
    </Card>
  );
}
