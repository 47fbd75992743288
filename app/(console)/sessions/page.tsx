import { SessionsPage } from "@/components/monitor/sessions";

export default function Sessions() {
  return <SessionsPage />;
}
