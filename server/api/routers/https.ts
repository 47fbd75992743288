/**
 * The console's HTTPS certificate (status, upload, back to self-signed) and who may reach
 * it (allowed host names, trusted proxies): server/http/front-door.ts does the work.
 */
import { TRPCError } from "@trpc/server";
import { FieldError } from "../../console/errors";
import { CertificateError } from "../../http/certificate";
import type { HttpsControl } from "../../http/front-door";
import { accessSettingsSchema, certificateUploadSchema } from "../schemas/https";
import { procedure, router, type Context } from "../trpc";

function control(ctx: Context): HttpsControl {
  if (!ctx.https) throw new TRPCError({ code: "PRECONDITION_FAILED", message: "the console's HTTP server is not running in this process" });
  return ctx.https;
}

export const httpsRouter = router({
  /** Whether HTTPS is on, the certificate served (fingerprint, names, validity), HSTS, and the access settings. */
  status: procedure.query(({ ctx }) => control(ctx).status()),

  /** Installs a real certificate and key; new connections get it at once, and HSTS is sent from then on. */
  installCertificate: procedure.input(certificateUploadSchema).mutation(({ ctx, input }) => {
    try {
      return control(ctx).installCertificate(input.cert, input.secretKey);
    } catch (err) {
      if (err instanceof CertificateError) throw new FieldError(err.message, err.field === "key" ? "secretKey" : "cert");
      throw new TRPCError({ code: "BAD_REQUEST", message: (err as Error).message });
    }
  }),

  /** Removes the uploaded certificate: the self-signed one is served again (and HSTS stops). */
  useSelfSigned: procedure.mutation(({ ctx }) => {
    try {
      return control(ctx).useSelfSigned();
    } catch (err) {
      throw new TRPCError({ code: "BAD_REQUEST", message: (err as Error).message });
    }
  }),

  /** Extra host names the console answers to, and the reverse proxies whose X-Forwarded-* it believes. */
  setAccess: procedure.input(accessSettingsSchema).mutation(({ ctx, input }) => control(ctx).setAccess(input)),
});
