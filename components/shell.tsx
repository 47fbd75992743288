"use client";
/** The console's frame: navigation (a top bar that folds into a menu on phones), the appliance name, sign-out. */
import { useMutation, useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useEffect, useState, type ReactNode } from "react";
import { useTRPC } from "./trpc";

const NAV = [
  { href: "/", label: "Overview" },
  { href: "/storage", label: "Storage" },
  { href: "/targets", label: "Targets" },
  { href: "/sessions", label: "Sessions" }, { href: "/luns", label: "LUNs" }, { href: "/events", label: "Events" },
  { href: "/cluster", label: "Cluster" },
  { href: "/settings", label: "Settings" },
];

export function Shell({ children }: { children: ReactNode }) {
  const trpc = useTRPC();
  const pathname = usePathname();
  const router = useRouter();
  const [menu, setMenu] = useState(false);
  const info = useQuery(trpc.host.info.queryOptions());
  const logout = useMutation(trpc.auth.logout.mutationOptions({ onSuccess: () => router.replace("/login") }));
  useEffect(() => setMenu(false), [pathname]);
  useEffect(() => {
    if (info.data) document.title = `${info.data.appliance.name} · Portico`;
  }, [info.data]);
  const active = (href: string) => (href === "/" ? pathname === "/" : pathname.startsWith(href));
  return (
    <div className="min-h-screen">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:top-2 focus:left-2 focus:rounded focus:bg-white focus:px-3 focus:py-2 focus:text-sm">
        Skip to content
      </a>
      <header className="border-b border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900">
        <div className="mx-auto flex max-w-6xl items-center gap-4 px-4 py-3">
          <Link href="/" className="flex min-w-0 items-baseline gap-2">
            <span className="font-semibold text-sky-800 dark:text-sky-300">Portico</span>
            <span className="truncate text-sm text-slate-600 dark:text-slate-400" data-testid="appliance-name">
              {info.data?.appliance.name}
            </span>
          </Link>
          <nav aria-label="Main" className="ml-2 hidden lg:block">
            <ul className="flex gap-1">
              {NAV.map((n) => (
                <li key={n.href}>
                  <Link
                    href={n.href}
                    aria-current={active(n.href) ? "page" : undefined}
                    className={`rounded-md px-2.5 py-2 text-sm font-medium ${active(n.href) ? "bg-sky-50 text-sky-800 dark:bg-sky-950 dark:text-sky-300" : "text-slate-700 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800"}`}
                  >
                    {n.label}
                  </Link>
                </li>
              ))}
            </ul>
          </nav>
          <div className="ml-auto flex items-center gap-2">
            <span className="hidden text-sm text-slate-600 sm:inline dark:text-slate-400">{info.data?.username}</span>
            <button
              type="button"
              onClick={() => logout.mutate()}
              className="rounded-md px-3 py-2 text-sm font-medium text-slate-700 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800"
            >
              Sign out
            </button>
            <button
              type="button"
              className="rounded-md border border-slate-300 px-3 py-2 text-sm lg:hidden dark:border-slate-700"
              aria-expanded={menu}
              aria-controls="mobile-nav"
              onClick={() => setMenu((m) => !m)}
            >
              Menu
            </button>
          </div>
        </div>
        {menu && (
          <nav id="mobile-nav" aria-label="Main" className="border-t border-slate-200 px-4 py-2 lg:hidden dark:border-slate-800">
            <ul>
              {NAV.map((n) => (
                <li key={n.href}>
                  <Link href={n.href} aria-current={active(n.href) ? "page" : undefined} className="block rounded px-2 py-2 text-sm font-medium">
                    {n.label}
                  </Link>
                </li>
              ))}
            </ul>
          </nav>
        )}
      </header>
      <main id="main" className="mx-auto max-w-6xl px-4 py-6">
        {children}
      </main>
    </div>
  );
}
