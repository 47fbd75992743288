import { Suspense } from "react";
import { TargetDetail } from "@/components/pages/target-detail";
import { LoadingState } from "@/components/ui";

export default function TargetPage() {
  return (
    <Suspense fallback={<LoadingState />}>
      <TargetDetail />
    </Suspense>
  );
}
