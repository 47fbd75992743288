import { Settings } from "@/components/pages/settings";

export default function SettingsPage() {
  return <Settings />;
}
