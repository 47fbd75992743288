/**
 * SendTargets (RFC 7143 §13.3, Appendix C): which targets an initiator may see,
 * and at which addresses. Pure apart from reading the engine's object model.
 */
import type { Tpg } from "../core/model";
import type { TextPairs } from "./text";

const WILDCARDS = new Set(["0.0.0.0", "[::0]", "[::]", "::", "::0"]);

/** A portal address as SendTargets reports it: IPv6 bracketed, a wildcard replaced by the connection's local address. */
export function targetAddress(portal: string, localAddress: string): string {
  const sep = portal.lastIndexOf(":");
  const host = portal.slice(0, sep);
  const port = portal.slice(sep + 1);
  if (!WILDCARDS.has(host)) return `${host}:${port}`;
  let local = localAddress.startsWith("::ffff:") && localAddress.includes(".") ? localAddress.slice(7) : localAddress;
  if (local.includes(":") && !local.startsWith("[")) local = `[${local}]`;
  return `${local}:${port}`;
}

/**
 * The SendTargets answer: for each target with an enabled TPG that lists itself
 * (tpg_enabled_sendtargets=1) and admits the initiator (demo mode: if demo_mode_discovery=1), TargetName then one
 * TargetAddress=<addr>:<port>,<tag> per portal.
 * `which`: "All" (discovery), a target name, or "" (the session's own target).
 * In a cluster `tpgs` also holds live members' TPGs (Engine.advertisedTpgs): their portals are listed
 * as configured, so any node's SendTargets shows every live path (issue 14 item 2).
 */
export function sendTargets(
  tpgs: Iterable<Tpg>,
  initiatorName: string,
  which: string,
  localAddress: string,
  current?: Tpg,
  remoteAddress?: string,
  servedHere: (tpg: Tpg) => boolean = () => true,
): TextPairs {
  const byTarget = new Map<string, Tpg[]>();
  for (const tpg of tpgs) {
    if (!tpg.enabled || tpg.attributes.tpg_enabled_sendtargets !== 1) continue;
    if (!tpg.discoverableBy(initiatorName)) continue;
    // A TPG whose allowed networks exclude the initiator's address is not shown to it (its login would be refused).
    if (remoteAddress !== undefined && !tpg.admitsAddress(remoteAddress)) continue;
    const iqn = tpg.target.wwn;
    if (which === "" ? current?.target !== tpg.target : which !== "All" && which.toLowerCase() !== iqn) continue;
    const list = byTarget.get(iqn) ?? [];
    list.push(tpg);
    byTarget.set(iqn, list);
  }
  const out: TextPairs = [];
  for (const [iqn, list] of byTarget) {
    out.push(["TargetName", iqn]);
    for (const tpg of list) {
      const here = servedHere(tpg);
      for (const portal of tpg.portals) {
        // Another node's wildcard portal has no address we could name: its own SendTargets lists it.
        if (!here && WILDCARDS.has(portal.slice(0, portal.lastIndexOf(":")))) continue;
        out.push(["TargetAddress", `${targetAddress(portal, localAddress)},${tpg.tag}`]);
      }
    }
  }
  return out;
}
