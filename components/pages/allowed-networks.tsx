"use client";
/**
 * A TPG's allowed networks (CIDR), on the target's ACLs tab: logins from other addresses
 * are refused with Authorization Failure and logged as login_failed. Test ids: allowed-networks, save-networks.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { setTpgAllowedNetworksSchema } from "@/server/api/schemas/targets";
import { serverErrors, zodErrors, type Errors } from "../form";
import { useTRPC } from "../trpc";
import { Badge, Button, Card, Field, SavedNote } from "../ui";

const split = (text: string) => text.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);

export function AllowedNetworksCard({ wwn, tag, networks }: { wwn: string; tag: number; networks: string[] }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [text, setText] = useState<string | null>(null);
  const [errors, setErrors] = useState<Errors>({});
  const [saved, setSaved] = useState(false);
  const save = useMutation(trpc.targets.tpgs.setAllowedNetworks.mutationOptions());
  const value = text ?? networks.join("\n");
  return (
    <Card title="Allowed networks" id="allowed-networks" className="mt-4">
      <form
        noValidate
        className="space-y-3"
        onSubmit={(e) => {
          e.preventDefault();
          const r = setTpgAllowedNetworksSchema.safeParse({ wwn, tag, networks: split(value) });
          if (!r.success) {
            const z = zodErrors(r.error);
            return setErrors({ allowedNetworks: Object.values(z)[0] });
          }
          save.mutate(r.data, {
            onSuccess: async () => {
              setText(null);
              setSaved(true);
              await qc.invalidateQueries();
            },
            onError: (err) => setErrors(serverErrors(err)),
          });
        }}
      >
        <p className="text-sm text-slate-600 dark:text-slate-400">
          {networks.length ? (
            <>Logins to tpg{tag} are accepted only from {networks.map((n) => <Badge key={n}>{n}</Badge>)}; others get Authorization Failure and a <i>login failed</i> event.</>
          ) : (
            "Logins are accepted from any address. Add networks to refuse all others."
          )}
        </p>
        <Field label="Networks" hint="One per line, like 192.168.10.0/24 or fd00::/64; empty allows any address." error={errors.allowedNetworks ?? errors.networks ?? errors.form}>
          {(p) => (
            <textarea
              {...p}
              rows={3}
              className="block w-full rounded-md border border-slate-300 bg-white px-3 py-2 font-mono text-sm shadow-sm aria-[invalid=true]:border-red-600 dark:border-slate-700 dark:bg-slate-950"
              value={value}
              onChange={(e) => (setText(e.target.value), setSaved(false), setErrors({}))}
            />
          )}
        </Field>
        <div className="flex items-center gap-3">
          <Button type="submit" busy={save.isPending} data-testid="save-networks">
            Save networks
          </Button>
          <SavedNote show={saved} />
        </div>
      </form>
    </Card>
  );
}
