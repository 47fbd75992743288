import { Dashboard } from "@/components/dashboard";

export default function HomePage() {
  return (
    <main className="mx-auto max-w-6xl px-4 py-6">
      <header className="mb-6 flex items-baseline justify-between">
        <h1 className="text-2xl font-semibold tracking-tight">Portico</h1>
        <p className="text-sm text-slate-500">iSCSI target · LIO object model</p>
      </header>
      <Dashboard />
    </main>
  );
}
