/**
 * The logical units of this process, for EXTENDED COPY: a target descriptor names
 * its copy target by the NAA IEEE Registered Extended designator VPD 0x83 reports
 * (SPC-4 §6.4.5.4), and the copy manager resolves it here. ScsiDisk registers itself
 * on construction and unregisters on close(); a storage object re-created with a new
 * device (e.g. a new block size) replaces its earlier entry, as the entries are keyed
 * by the storage object (DeviceInfo).
 *
 * Lookups are further limited by the caller to the LUs the issuing I_T nexus can
 * address (as Linux since the CVE-2020-28374 fix: "only initiator-accessible
 * backstores are considered during CSCD descriptor lookup").
 */
import { naaDesignator } from "./inquiry";
import type { DeviceInfo } from "./types";

export interface RegisteredDevice {
  readonly info: DeviceInfo;
}

const devices = new Map<DeviceInfo, RegisteredDevice>();

export function registerDevice(d: RegisteredDevice): void {
  devices.set(d.info, d);
}

export function unregisterDevice(d: RegisteredDevice): void {
  if (devices.get(d.info) === d) devices.delete(d.info);
}

/** Devices whose NAA designator (16 bytes, computed from the live wwn) equals `naa`. */
export function devicesByNaa(naa: Buffer): RegisteredDevice[] {
  const out: RegisteredDevice[] = [];
  for (const d of devices.values()) if (naaDesignator(d.info.wwn).equals(naa)) out.push(d);
  return out;
}

/** Number of registered devices (tests). */
export function registeredDeviceCount(): number {
  return devices.size;
}
