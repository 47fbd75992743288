/**
 * envNumber and envSwitch (engine/core/env.ts): numbers and on/off switches from PORTICO_* variables,
 * with a default for unset or empty, and a warning (not a silent NaN or a silent "on") for what is
 * not usable.
 */
import { describe, expect, it, vi } from "vitest";
import { envNumber, envSwitch } from "../../../server/engine/core/env";

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

function readSwitch(value: string | undefined, dflt: boolean) {
  const warnings: string[] = [];
  const v = envSwitch("PORTICO_S", { default: dflt, env: value === undefined ? {} : { PORTICO_S: value }, warn: (m) => warnings.push(m) });
  return { v, warnings };
}

describe("envSwitch", () => {
  it("unset or empty: the default, no warning", () => {
    expect(readSwitch(undefined, true)).toEqual({ v: true, warnings: [] });
    expect(readSwitch(undefined, false)).toEqual({ v: false, warnings: [] });
    expect(readSwitch(" ", false)).toEqual({ v: false, warnings: [] });
  });

  it("0, off, false, no turn it off and 1, on, true, yes on, in any case and with spaces around", () => {
    for (const w of ["0", "off", "false", "no", "OFF", " No "]) expect(readSwitch(w, true)).toEqual({ v: false, warnings: [] });
    for (const w of ["1", "on", "true", "yes", "On", " TRUE "]) expect(readSwitch(w, false)).toEqual({ v: true, warnings: [] });
  });

  it("anything else: the default and a warning naming the variable, the value and the words", () => {
    expect(readSwitch("of", true)).toEqual({ v: true, warnings: ['PORTICO_S="of" is not one of 0, off, false, no, 1, on, true, yes: using on'] });
    expect(readSwitch("2", false)).toEqual({ v: false, warnings: ['PORTICO_S="2" is not one of 0, off, false, no, 1, on, true, yes: using off'] });
    expect(readSwitch("toString", false).v).toBe(false);
  });
});
