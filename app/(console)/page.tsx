import { Overview } from "@/components/pages/overview";

export default function OverviewPage() {
  return <Overview />;
}
