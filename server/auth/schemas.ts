/** Console input schemas for admin access (pure zod: the forms and the API use the same ones). */
import { z } from "zod";

export const usernameSchema = z
  .string()
  .trim()
  .min(1, "required")
  .max(32, "at most 32 characters")
  .regex(/^[a-z_][a-z0-9_.-]*$/, "lowercase letters, digits, '.', '-' or '_', starting with a letter");

export const newPasswordSchema = z
  .string()
  .min(10, "at least 10 characters")
  .max(256, "at most 256 characters")
  .refine((v) => v.trim().length === v.length, "no spaces at the start or end");

export const loginSchema = z.object({
  username: z.string().trim().min(1, "required"),
  password: z.string().min(1, "required"),
});

export const adminAccountSchema = z
  .object({ username: usernameSchema, password: newPasswordSchema, confirm: z.string() })
  .refine((v) => v.password === v.confirm, { message: "the passwords do not match", path: ["confirm"] });

export const changePasswordSchema = z
  .object({ current: z.string().min(1, "required"), password: newPasswordSchema, confirm: z.string() })
  .refine((v) => v.password === v.confirm, { message: "the passwords do not match", path: ["confirm"] })
  .refine((v) => v.password !== v.current, { message: "choose a password different from the current one", path: ["password"] });
