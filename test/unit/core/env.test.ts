/**
 * envNumber (engine/core/env.ts): numbers from PORTICO_* variables, with a default for unset or
 * empty, and a warning (not a silent NaN) for what is not usable.
 */
import { describe, expect, it, vi } from "vitest";
import { envNumber } from "../../../server/engine/core/env";

function read(value: string | undefined, o: { min?: number; max?: number; integer?: boolean; words?: Record<string, number>; default?: number | undefined } = {}) {
  const warnings: string[] = [];
  const v = envNumber("PORTICO_X", { default: "default" in o ? o.default : 7, ...o, env: value === undefined ? {} : { PORTICO_X: value }, warn: (m) => warnings.push(m) });
  return { v, warnings };
}

describe("envNumber", () => {
  it("unset or empty: the default, no warning", () => {
    expect(read(undefined)).toEqual({ v: 7, warnings: [] });
    expect(read("  ")).toEqual({ v: 7, warnings: [] });
    expect(read(undefined, { default: undefined })).toEqual({ v: undefined, warnings: [] });
  });

  it("a number in range is taken as it is (spaces around it are not an error)", () => {
    expect(read(" 42 ")).toEqual({ v: 42, warnings: [] });
    expect(read("0.5")).toEqual({ v: 0.5, warnings: [] });
    expect(read("0", { min: 0 })).toEqual({ v: 0, warnings: [] });
    expect(read("65536", { min: 0, max: 65536, integer: true })).toEqual({ v: 65536, warnings: [] });
  });

  it("garbage, a fraction where a whole number is wanted, or out of range: the default and a warning naming the variable and the value", () => {
    expect(read("fast")).toEqual({ v: 7, warnings: ['PORTICO_X="fast" is not a number: using 7'] });
    expect(read("NaN")).toEqual({ v: 7, warnings: ['PORTICO_X="NaN" is not a number: using 7'] });
    expect(read("1.5", { integer: true })).toEqual({ v: 7, warnings: ['PORTICO_X="1.5" is not a whole number: using 7'] });
    expect(read("-1", { min: 0 })).toEqual({ v: 7, warnings: ['PORTICO_X="-1" is below 0: using 7'] });
    expect(read("9", { max: 8 })).toEqual({ v: 7, warnings: ['PORTICO_X="9" is above 8: using 7'] });
    expect(read("0", { min: 1, default: undefined })).toEqual({ v: undefined, warnings: ['PORTICO_X="0" is below 1: using the default'] });
  });

  it("words stand for numbers, in any case", () => {
    expect(read("OFF", { words: { off: 0 } })).toEqual({ v: 0, warnings: [] });
    expect(read("of", { words: { off: 0 } }).warnings).toEqual(['PORTICO_X="of" is not a number or off: using 7']);
  });

  it("without a warn function, says it on stderr once per variable and value (some are read per connection)", () => {
    const write = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      for (let i = 0; i < 3; i++) expect(envNumber("PORTICO_ONCE", { default: 1, env: { PORTICO_ONCE: "x" } })).toBe(1);
      expect(envNumber("PORTICO_ONCE", { default: 1, env: { PORTICO_ONCE: "y" } })).toBe(1);
      expect(write.mock.calls.map((c) => c[0])).toEqual(['portico: WARNING: PORTICO_ONCE="x" is not a number: using 1\n', 'portico: WARNING: PORTICO_ONCE="y" is not a number: using 1\n']);
    } finally {
      write.mockRestore();
    }
  });
});
