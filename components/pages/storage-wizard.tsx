"use client";
/**
 * New storage object: type → details → review. Validated by the API's schema
 * (createStorageObjectSchema), then by the server's checks (names in use, missing
 * directory or device, the fileio path rules, free space) before anything is created.
 * A fileio path defaults from the name (`<storage directory>/<name>.img`, storage.fileDefaults);
 * a sparse size beyond the free space shows an over-commit checkbox with the error.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { createStorageObjectSchema } from "@/server/api/schemas/storage";
import { BlockDeviceOptions, engineCodeOf, formatBytes, serverErrors, sizeToBytes, SizeInput, zodErrors, type Errors, type SizeValue } from "../form";
import { useTRPC } from "../trpc";
import { Alert, Badge, Button, Card, Checkbox, Field, LoadingState, PageHeader, RadioCards, Select, Steps, TextInput } from "../ui";

type Plugin = "ramdisk" | "fileio" | "block" | "rbd";

/** tcmu-runner's user:rbd config string, writing conf= and id= only when not the defaults. */
function rbdConfig(pool: string, image: string, conf: string, id: string): string {
  return `rbd/${pool.trim()}/${image.trim()}${conf.trim() && conf.trim() !== "/etc/ceph/ceph.conf" ? `;conf=${conf.trim()}` : ""}${id.trim() && id.trim() !== "admin" ? `;id=${id.trim()}` : ""}`;
}

export function StorageWizard() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const router = useRouter();
  const [step, setStep] = useState(1);
  const [plugin, setPlugin] = useState<Plugin>("fileio");
  const [name, setName] = useState("");
  const [typedDev, setDev] = useState<string | undefined>(undefined);
  const [overcommit, setOvercommit] = useState(false);
  const [offerOvercommit, setOfferOvercommit] = useState(false);
  const [fileMode, setFileMode] = useState<"new" | "existing">("new");
  const [size, setSize] = useState<SizeValue>({ amount: "1", unit: "GiB" });
  const [writeBack, setWriteBack] = useState(false);
  // Ceph RBD: cluster (ceph.conf, client id), pool, an existing image or a new one.
  const [conf, setConf] = useState("/etc/ceph/ceph.conf");
  const [clientId, setClientId] = useState("admin");
  const [cluster, setCluster] = useState<{ conf: string; id: string } | undefined>(undefined);
  const [pool, setPool] = useState("");
  const [imageMode, setImageMode] = useState<"existing" | "new">("existing");
  const [image, setImage] = useState("");
  const [errors, setErrors] = useState<Errors>({});
  const fileDefaults = useQuery({ ...trpc.storage.fileDefaults.queryOptions(), enabled: plugin === "fileio" });
  // fileio: until the path is edited it follows the name; block: the picked device.
  const defaultDev = fileDefaults.data?.dir ? `${fileDefaults.data.dir}/${name.trim() || "<name>"}.img` : "";
  const dev = typedDev ?? (plugin === "fileio" ? defaultDev : "");
  const devices = useQuery({ ...trpc.host.blockDevices.queryOptions(), enabled: plugin === "block" });
  const rbdStatus = useQuery(trpc.rbd.status.queryOptions());
  const clusterInfo = useQuery({ ...trpc.rbd.cluster.queryOptions(cluster ?? { conf: "", id: "" }), enabled: plugin === "rbd" && cluster !== undefined, retry: false });
  const images = useQuery({
    ...trpc.rbd.images.queryOptions({ ...(cluster ?? { conf: "", id: "" }), pool }),
    enabled: plugin === "rbd" && cluster !== undefined && pool !== "" && imageMode === "existing",
    retry: false,
  });
  const check = useMutation(trpc.onboarding.checkStorage.mutationOptions());
  const create = useMutation(trpc.storage.create.mutationOptions());

  const input = () => {
    if (plugin === "ramdisk") return { plugin, name: name.trim(), size: sizeToBytes(size) };
    if (plugin === "fileio") {
      const newFile = fileMode === "new";
      return { plugin, name: name.trim(), dev: dev.trim(), size: newFile ? sizeToBytes(size) : undefined, writeBack, ...(newFile && overcommit ? { overcommit: true } : {}) };
    }
    if (plugin === "rbd") {
      return { plugin, name: name.trim(), config: rbdConfig(pool, image, conf, clientId), createImageSize: imageMode === "new" ? sizeToBytes(size) : undefined };
    }
    return { plugin, name: name.trim(), dev, writeBack };
  };
  const clear = (k: string) => setErrors((e) => Object.fromEntries(Object.entries(e).filter(([x]) => x !== k && x !== "form")));

  const refused = (err: unknown, e: Errors) => {
    if (engineCodeOf(err) === "overcommit") setOfferOvercommit(true);
    setErrors(e);
  };

  const next = async () => {
    if (step === 1) {
      if (plugin === "rbd" && !rbdStatus.data?.available) return setErrors({ form: `Ceph RBD cannot be used here: ${rbdStatus.data?.reason ?? "checking…"}` });
      return setStep(2);
    }
    if (step === 2) {
      const v = input();
      if (v.plugin === "rbd" && !pool) return setErrors({ pool: "pick a pool" });
      if (v.plugin === "rbd" && !image.trim()) return setErrors({ image: imageMode === "new" ? "name the new image" : "pick an image" });
      const r = createStorageObjectSchema.safeParse(v);
      if (!r.success) return setErrors(zodErrors(r.error));
      if (v.plugin === "fileio" && v.size !== undefined && v.size < 1024 * 1024) return setErrors({ size: "at least 1 MiB" });
      if (v.plugin === "rbd") {
        // Ceph itself is the check: the image is opened (or created) when the object is made.
        setErrors({});
        return setStep(3);
      }
      try {
        await check.mutateAsync({ kind: v.plugin, name: v.name, dev: "dev" in v ? v.dev : undefined, size: "size" in v ? v.size : undefined, ...("overcommit" in v ? { overcommit: v.overcommit } : {}) } as never);
      } catch (err) {
        const e = serverErrors(err);
        return refused(err, Object.fromEntries(Object.entries(e).map(([k, m]) => [k.replace(/^storage\./, ""), m])));
      }
      setErrors({});
      return setStep(3);
    }
    try {
      const so = await create.mutateAsync(input() as never);
      await qc.invalidateQueries();
      router.push(`/storage/${so.plugin}/${encodeURIComponent(so.name)}`);
    } catch (err) {
      const e = serverErrors(err);
      refused(err, e);
      if (Object.keys(e).some((k) => k !== "form")) setStep(2);
    }
  };

  const v = input();
  return (
    <>
      <PageHeader title="New storage object" />
      <Steps steps={["Type", "Details", "Review"]} current={step} />
      <Card>
        <form
          noValidate
          className="space-y-4"
          onSubmit={(e) => {
            e.preventDefault();
            void next();
          }}
        >
          {step === 1 && (
            <RadioCards
              legend="Backstore type"
              name="plugin"
              value={plugin}
              onChange={setPlugin}
              options={[
                { value: "fileio", title: "File (fileio)", description: "An image file on this machine: new (sparse) or existing." },
                { value: "block", title: "Block device", description: "A disk or partition of this machine, exported whole." },
                { value: "ramdisk", title: "RAM disk", description: "Memory only: fast and emptied when the appliance stops." },
                {
                  value: "rbd",
                  title: "Ceph RBD",
                  description: rbdStatus.data?.available === false ? `Not available here: ${rbdStatus.data.reason}` : "An image of a Ceph cluster (librbd): existing, or new of a given size.",
                  disabled: rbdStatus.data?.available === false,
                },
              ]}
            />
          )}
          {step === 2 && (
            <>
              <Field label="Name" hint="Up to 64 characters, no spaces or '/'." error={errors.name}>
                {(p) => <TextInput {...p} value={name} onChange={(e) => (setName(e.target.value), clear("name"))} />}
              </Field>
              {plugin === "fileio" && (
                <>
                  <RadioCards
                    legend="File"
                    name="fileMode"
                    value={fileMode}
                    onChange={(m) => (setFileMode(m), clear("size"))}
                    options={[
                      { value: "new", title: "Create a new file", description: "Sparse: space is used as data is written." },
                      { value: "existing", title: "Use an existing file", description: "The file's size is the disk's size." },
                    ]}
                  />
                  <Field
                    label="File path"
                    hint={
                      <>
                        Absolute; the directory must exist. Defaults to <span className="font-mono">{defaultDev || "<storage directory>/<name>.img"}</span>. Never in system
                        directories or the appliance&apos;s data directory{fileDefaults.data?.storageRoots.length ? <>; only inside the storage roots ({fileDefaults.data.storageRoots.join(", ")})</> : null}.
                      </>
                    }
                    error={errors.dev}
                  >
                    {(p) => <TextInput {...p} className="font-mono" value={dev} onChange={(e) => (setDev(e.target.value), clear("dev"))} />}
                  </Field>
                </>
              )}
              {plugin === "block" && (
                <Field label="Device" hint="Mounted devices and devices already exported cannot be picked." error={errors.dev}>
                  {(p) =>
                    devices.isPending ? (
                      <LoadingState label="Reading /sys/class/block…" />
                    ) : (
                      <Select {...p} value={dev} onChange={(e) => (setDev(e.target.value), clear("dev"))}>
                        <BlockDeviceOptions devices={devices.data ?? []} />
                      </Select>
                    )
                  }
                </Field>
              )}
              {plugin === "rbd" && (
                <>
                  <div className="grid gap-4 sm:grid-cols-[1fr_12rem]">
                    <Field label="Ceph configuration" hint="ceph.conf naming the monitors (mon_host); its keyring is found as the rbd CLI finds it." error={errors.conf}>
                      {(p) => <TextInput {...p} className="font-mono" value={conf} onChange={(e) => (setConf(e.target.value), setCluster(undefined), clear("conf"))} />}
                    </Field>
                    <Field label="Client id" hint="Without client." error={errors.id}>
                      {(p) => <TextInput {...p} className="font-mono" value={clientId} onChange={(e) => (setClientId(e.target.value), setCluster(undefined), clear("id"))} />}
                    </Field>
                  </div>
                  <Button onClick={() => (setPool(""), setCluster({ conf: conf.trim(), id: clientId.trim() || "admin" }))} busy={clusterInfo.isFetching} data-testid="rbd-connect">
                    {cluster ? "Reconnect" : "Connect to the cluster"}
                  </Button>
                  {cluster && clusterInfo.isPending && <LoadingState label="Asking the monitors…" />}
                  {clusterInfo.error && <Alert tone="bad">{clusterInfo.error.message}</Alert>}
                  {clusterInfo.data && (
                    <div data-testid="rbd-cluster" className="space-y-1 text-sm">
                      <p>
                        Cluster health: <Badge tone={clusterInfo.data.health === "HEALTH_OK" ? "ok" : clusterInfo.data.health === "HEALTH_WARN" ? "warn" : "bad"}>{clusterInfo.data.health}</Badge>{" "}
                        {formatBytes(clusterInfo.data.usedBytes)} used of {formatBytes(clusterInfo.data.totalBytes)}
                      </p>
                      {clusterInfo.data.healthChecks.length > 0 && <p className="text-slate-600">{clusterInfo.data.healthChecks.join("; ")}</p>}
                    </div>
                  )}
                  {clusterInfo.data && (
                    <Field label="Pool" error={errors.pool}>
                      {(p) => (
                        <Select {...p} value={pool} onChange={(e) => (setPool(e.target.value), setImage(""), clear("pool"))}>
                          <option value="">Choose a pool…</option>
                          {clusterInfo.data.pools.map((pl) => (
                            <option key={pl.name} value={pl.name}>
                              {pl.name} — {formatBytes(pl.usedBytes)} used, {pl.objects} objects
                            </option>
                          ))}
                        </Select>
                      )}
                    </Field>
                  )}
                  {pool && (
                    <>
                      <RadioCards
                        legend="Image"
                        name="imageMode"
                        value={imageMode}
                        onChange={(m) => (setImageMode(m), setImage(""), clear("image"))}
                        options={[
                          { value: "existing", title: "An existing image", description: "As rbd create or another gateway left it; its size is the disk's size." },
                          { value: "new", title: "Create a new image", description: "Thin: the cluster's space is used as data is written." },
                        ]}
                      />
                      {imageMode === "existing" ? (
                        <Field label="Image" error={errors.image}>
                          {(p) =>
                            images.isPending ? (
                              <LoadingState label="Listing images…" />
                            ) : images.error ? (
                              <Alert tone="bad">{images.error.message}</Alert>
                            ) : (
                              <Select {...p} value={image} onChange={(e) => (setImage(e.target.value), clear("image"))}>
                                <option value="">{(images.data ?? []).length ? "Choose an image…" : "No images in this pool"}</option>
                                {(images.data ?? []).map((im) => (
                                  <option key={im} value={im}>
                                    {im}
                                  </option>
                                ))}
                              </Select>
                            )
                          }
                        </Field>
                      ) : (
                        <Field label="New image name" error={errors.image}>
                          {(p) => <TextInput {...p} className="font-mono" value={image} onChange={(e) => (setImage(e.target.value), clear("image"))} />}
                        </Field>
                      )}
                    </>
                  )}
                  {errors.config && <Alert tone="bad">{errors.config}</Alert>}
                </>
              )}
              {(plugin === "ramdisk" || (plugin === "fileio" && fileMode === "new") || (plugin === "rbd" && imageMode === "new" && pool !== "")) && (
                <Field label="Size" error={errors.size}>
                  {(p) => <SizeInput id={p.id} invalid={p["aria-invalid"]} describedBy={p["aria-describedby"]} value={size} onChange={(s) => (setSize(s), clear("size"))} />}
                </Field>
              )}
              {plugin === "fileio" && fileMode === "new" && offerOvercommit && (
                <Checkbox
                  label="Over-commit: create the sparse file larger than the free space"
                  hint="Initiator writes fail with no space once the file system is full."
                  checked={overcommit}
                  onChange={(c) => (setOvercommit(c), clear("size"))}
                />
              )}
              {plugin !== "ramdisk" && plugin !== "rbd" && (
                <Checkbox
                  label="Write-back cache"
                  hint="Faster, but writes not yet flushed are lost on power loss. Off: every acknowledged write is on disk."
                  checked={writeBack}
                  onChange={setWriteBack}
                />
              )}
            </>
          )}
          {step === 3 && (
            <dl className="grid grid-cols-[8rem_1fr] gap-2 text-sm" data-testid="review">
              <dt className="text-slate-600">Type</dt>
              <dd>{plugin}</dd>
              <dt className="text-slate-600">Name</dt>
              <dd>{v.name}</dd>
              {"dev" in v && (
                <>
                  <dt className="text-slate-600">Backing</dt>
                  <dd className="font-mono break-all">{v.dev}</dd>
                </>
              )}
              {"config" in v && (
                <>
                  <dt className="text-slate-600">RBD image</dt>
                  <dd className="font-mono break-all">{v.config}</dd>
                </>
              )}
              <dt className="text-slate-600">Size</dt>
              <dd>
                {"size" in v && v.size
                  ? formatBytes(v.size)
                  : "createImageSize" in v && v.createImageSize
                    ? `${formatBytes(v.createImageSize)} (new image)`
                    : "as the existing file, device or image"}
                {"overcommit" in v && v.overcommit ? " (over-committed)" : ""}
              </dd>
            </dl>
          )}
          {errors.form && <Alert tone="bad">{errors.form}</Alert>}
          <div className="flex justify-between gap-2 pt-2">
            {step > 1 ? <Button onClick={() => setStep(step - 1)}>Back</Button> : <Button onClick={() => router.push("/storage")}>Cancel</Button>}
            <Button type="submit" tone="primary" busy={check.isPending || create.isPending} data-testid="wizard-next">
              {step === 3 ? "Create" : "Next"}
            </Button>
          </div>
        </form>
      </Card>
    </>
  );
}
