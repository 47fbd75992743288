/**
 * Mode parameters (SPC-4 §7.5, SBC-3 §6.4): the pages LIO's disk emulation
 * reports, a block descriptor, and the few fields MODE SELECT may change
 * (D_SENSE and SWP in the control page). Pure builders.
 */

export const ModePage = {
  RW_ERROR_RECOVERY: 0x01,
  CACHING: 0x08,
  CONTROL: 0x0a,
  INFORMATIONAL_EXCEPTIONS: 0x1c,
  ALL: 0x3f,
} as const;

/** Mode state a MODE SELECT may change, per logical unit. */
export interface ModeState {
  /** Control page D_SENSE: descriptor-format sense data (SPC-4 §7.5.8). */
  dSense: boolean;
  /** Control page SWP: software write protect (SBC-3 §6.4.8 / SPC-4 §7.5.8). */
  swp: boolean;
}

export interface ModeContext {
  state: ModeState;
  writeCache: boolean;
  /** UA_INTLCK_CTRL (emulate_ua_intlck_ctrl). */
  uaIntlckCtrl: number;
  tas: boolean;
  /** emulate_rest_reord: QUEUE ALGORITHM MODIFIER 0 (restricted) instead of 1 (unrestricted). */
  restrictedReordering: boolean;
}

/** Page control: current, changeable, default (saved is refused by the caller). */
export type PageControl = 0 | 1 | 2;

function rwErrorRecovery(_pc: PageControl): Buffer {
  const p = Buffer.alloc(12);
  p[0] = 0x01;
  p[1] = 0x0a;
  return p;
}

function caching(pc: PageControl, ctx: ModeContext): Buffer {
  const p = Buffer.alloc(20);
  p[0] = 0x08;
  p[1] = 0x12;
  if (pc === 1) return p; // nothing changeable: WCE is a property of the backstore
  if (ctx.writeCache) p[2] |= 0x04; // WCE
  p[12] = 0x20; // DRA: read-ahead is the backstore's business
  return p;
}

function control(pc: PageControl, ctx: ModeContext): Buffer {
  const p = Buffer.alloc(12);
  p[0] = 0x0a;
  p[1] = 0x0a;
  if (pc === 1) {
    p[2] = 0x04; // D_SENSE is changeable
    p[4] = 0x08; // SWP is changeable
    return p;
  }
  const s = pc === 2 ? { dSense: false, swp: false } : ctx.state;
  p[2] = 0x02 | (s.dSense ? 0x04 : 0); // GLTSD: no implicit log saving
  p[3] = ctx.restrictedReordering ? 0x00 : 0x10; // QUEUE ALGORITHM MODIFIER
  p[4] = ((ctx.uaIntlckCtrl & 3) << 4) | (s.swp ? 0x08 : 0);
  p[5] = ctx.tas ? 0x40 : 0x00;
  p.writeUInt16BE(0xffff, 8); // BUSY TIMEOUT PERIOD: unlimited
  p.writeUInt16BE(30, 10); // EXTENDED SELF-TEST COMPLETION TIME
  return p;
}

function informationalExceptions(_pc: PageControl): Buffer {
  const p = Buffer.alloc(12);
  p[0] = 0x1c;
  p[1] = 0x0a;
  return p;
}

const PAGES: Record<number, (pc: PageControl, ctx: ModeContext) => Buffer> = {
  [ModePage.RW_ERROR_RECOVERY]: rwErrorRecovery,
  [ModePage.CACHING]: caching,
  [ModePage.CONTROL]: control,
  [ModePage.INFORMATIONAL_EXCEPTIONS]: informationalExceptions,
};

/** The pages for a page code (3Fh = all, ascending), or undefined for an unsupported page. */
export function modePages(pageCode: number, subpage: number, pc: PageControl, ctx: ModeContext): Buffer | undefined {
  // Subpage 00h is the page itself; FFh asks for every subpage, and these pages have none (SPC-4 §7.5.6).
  if (subpage !== 0x00 && subpage !== 0xff) return undefined;
  if (pageCode === ModePage.ALL) return Buffer.concat(Object.keys(PAGES).map((k) => PAGES[Number(k)](pc, ctx)));
  const page = PAGES[pageCode];
  return page && page(pc, ctx);
}

export interface ModeSenseParams {
  ten: boolean;
  dbd: boolean;
  llbaa: boolean;
  writeProtect: boolean;
  dpofua: boolean;
  blocks: number;
  blockSize: number;
  pages: Buffer;
}

/** Mode parameter header + block descriptor + pages (SPC-4 §7.5.4, SBC-3 §6.4.2). */
export function modeSenseData(p: ModeSenseParams): Buffer {
  const deviceSpecific = (p.writeProtect ? 0x80 : 0) | (p.dpofua ? 0x10 : 0);
  let bd = Buffer.alloc(0);
  if (!p.dbd) {
    if (p.ten && p.llbaa) {
      bd = Buffer.alloc(16);
      bd.writeBigUInt64BE(BigInt(p.blocks), 0);
      bd.writeUInt32BE(p.blockSize, 12);
    } else {
      bd = Buffer.alloc(8);
      bd.writeUInt32BE(p.blocks > 0xffffffff ? 0xffffffff : p.blocks, 0);
      bd.writeUIntBE(p.blockSize, 5, 3);
    }
  }
  if (p.ten) {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(6 + bd.length + p.pages.length, 0);
    h[3] = deviceSpecific;
    h[4] = bd.length === 16 ? 0x01 : 0x00; // LONGLBA
    h.writeUInt16BE(bd.length, 6);
    return Buffer.concat([h, bd, p.pages]);
  }
  const h = Buffer.alloc(4);
  h[0] = Math.min(0xff, 3 + bd.length + p.pages.length);
  h[2] = deviceSpecific;
  h[3] = bd.length;
  return Buffer.concat([h, bd, p.pages]);
}
