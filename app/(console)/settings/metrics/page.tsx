import { MetricsSettings } from "@/components/monitor/metrics-settings";

export default function MetricsSettingsPage() {
  return (
    <div className="max-w-3xl">
      <h1 className="mb-6 text-2xl font-semibold tracking-tight">Settings · Metrics</h1>
      <MetricsSettings />
    </div>
  );
}
