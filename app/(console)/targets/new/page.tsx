import { NewTarget } from "@/components/pages/targets";

export default function NewTargetPage() {
  return <NewTarget />;
}
