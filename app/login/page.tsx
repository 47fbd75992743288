import { Suspense } from "react";
import { LoginForm } from "@/components/pages/login";
import { LoadingState } from "@/components/ui";

export const metadata = { title: "Sign in · Portico" };

export default function LoginPage() {
  return (
    <main className="flex min-h-screen items-start justify-center px-4 pt-[12vh]">
      <Suspense fallback={<LoadingState />}>
        <LoginForm />
      </Suspense>
    </main>
  );
}
