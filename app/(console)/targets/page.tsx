import { TargetList } from "@/components/pages/targets";

export default function TargetsPage() {
  return <TargetList />;
}
