import { Suspense } from "react";
import { OnboardingWizard } from "@/components/onboarding/wizard";
import { NewTarget } from "@/components/pages/targets";
import { LoadingState, PageHeader } from "@/components/ui";

export const metadata = { title: "New target · Portico" };

/** New target: the onboarding flow (storage, target and portal, access, review, create, connect); `?empty=1` makes an empty target. */
export default async function NewTargetPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const sp = await searchParams;
  if (sp.empty) return <NewTarget />;
  return (
    <div className="max-w-3xl">
      <PageHeader title="New target" description="Storage, a portal and who may connect, created together or not at all; then how to connect." />
      <Suspense fallback={<LoadingState />}>
        <OnboardingWizard mode="target" />
      </Suspense>
    </div>
  );
}
