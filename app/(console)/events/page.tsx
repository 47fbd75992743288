import { EventsPage } from "@/components/monitor/events";

export default function Events() {
  return <EventsPage />;
}
