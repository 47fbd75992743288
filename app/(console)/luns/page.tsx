import { LunsPage } from "@/components/monitor/luns";

export default function Luns() {
  return <LunsPage />;
}
