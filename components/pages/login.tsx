"use client";
import { useMutation } from "@tanstack/react-query";
import { useRouter, useSearchParams } from "next/navigation";
import { loginSchema } from "@/server/auth/schemas";
import { safeNext } from "@/server/console/safe-next";
import { serverErrors, useForm } from "../form";
import { useTRPC } from "../trpc";
import { Alert, Button, Card, Field, TextInput } from "../ui";


export function LoginForm() {
  const trpc = useTRPC();
  const router = useRouter();
  const params = useSearchParams();
  const f = useForm({ username: "admin", password: "" });
  const login = useMutation(trpc.auth.login.mutationOptions());
  return (
    <div className="w-full max-w-sm">
      <p className="mb-1 text-center text-sm font-medium text-sky-700 dark:text-sky-400">Portico</p>
      <h1 className="mb-6 text-center text-2xl font-semibold tracking-tight">Sign in</h1>
      <Card>
        <form
          className="space-y-4"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            const input = f.check(loginSchema, f.values);
            if (!input) return;
            login.mutate(input, {
              onSuccess: () => router.replace(safeNext(params.get("next"), window.location.origin)),
              onError: (err) => f.setErrors(serverErrors(err)),
            });
          }}
        >
          <Field label="User name" error={f.errors.username}>
            {(p) => <TextInput {...p} autoComplete="username" value={f.values.username} onChange={(e) => f.set("username", e.target.value)} />}
          </Field>
          <Field label="Password" error={f.errors.password}>
            {(p) => <TextInput {...p} type="password" autoComplete="current-password" autoFocus value={f.values.password} onChange={(e) => f.set("password", e.target.value)} />}
          </Field>
          {f.errors.form && <Alert tone="bad">{f.errors.form}</Alert>}
          <Button type="submit" tone="primary" className="w-full" busy={login.isPending}>
            Sign in
          </Button>
        </form>
      </Card>
    </div>
  );
}
