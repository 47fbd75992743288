import { Suspense } from "react";
import { OnboardingWizard } from "@/components/onboarding/wizard";
import { LoadingState } from "@/components/ui";

export const metadata = { title: "Set up · Portico" };

export default function OnboardingPage() {
  return (
    <main className="mx-auto max-w-3xl px-4 py-8">
      <header className="mb-6">
        <p className="text-sm font-medium text-sky-700 dark:text-sky-400">Portico</p>
        <h1 className="text-2xl font-semibold tracking-tight">Set up this appliance</h1>
      </header>
      <Suspense fallback={<LoadingState />}>
        <OnboardingWizard />
      </Suspense>
    </main>
  );
}
