import { AlertsSettings } from "@/components/pages/alerts-settings";

export const metadata = { title: "Alerts · Portico" };

export default function AlertsSettingsPage() {
  return <AlertsSettings />;
}
