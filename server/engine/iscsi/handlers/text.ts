/**
 * Text Request / Text Response in full feature phase (RFC 7143 §11.10, §11.11): SendTargets
 * and renegotiation, with both directions of continuation — an initiator request spread over
 * several PDUs (C bit) and an answer too long for one PDU (our TTT, echoed back).
 */
import { sendTargets } from "../discovery";
import { RESERVED_TAG, RejectReason, TextRequest, TextResponse, type TextRequestHeader } from "../pdu";
import { StatSNUse } from "../session";
import { decodeText, encodeText, type TextPairs } from "../text";
import type { OrderedHandler } from "./dispatch";
import type { ConnectionPort } from "./port";

/** Largest text request we gather across continued PDUs. */
const MAX_TEXT_REQUEST = 64 * 1024;

/** Where one Text Request's answer goes: its ITT and LUN, echoed in every Text Response. */
interface TextExchange {
  itt: number;
  lun: number;
}

/** A connection's text exchanges in progress (both directions of continuation), kept by this handler. */
interface TextState {
  /** Text response continuation (RFC 7143 §11.10.2): the rest of an answer too big for one PDU. */
  pending: { ttt: number; rest: Buffer } | undefined;
  /** Text request continuation (C bit): the parts of an initiator request gathered so far. */
  gather: { ttt: number; parts: Buffer[]; size: number } | undefined;
}

const states = new WeakMap<ConnectionPort, TextState>();

function stateOf(c: ConnectionPort): TextState {
  let st = states.get(c);
  if (!st) states.set(c, (st = { pending: undefined, gather: undefined }));
  return st;
}

interface TextRequestPdu {
  h: TextRequestHeader;
  /** A copy: the request may wait its turn in the CmdSN window, past the receive chunk. */
  data: Buffer;
  bhs: Buffer;
}

export const textHandler: OrderedHandler<TextRequestPdu> = {
  ordered: true,
  creditOnRelease: true,
  arrive: (_c, _s, pdu) => ({ h: TextRequest.decode(pdu.bhs), data: Buffer.from(pdu.data), bhs: Buffer.from(pdu.bhs) }),
  release: (c, _s, { h, data, bhs }) => text(c, h.itt, h.ttt, h.cont, h.lun, data, bhs),
};

function text(c: ConnectionPort, itt: number, ttt: number, cont: boolean, lun: number, data: Buffer, bhs: Buffer): void {
  const s = c.session!;
  const x: TextExchange = { itt, lun };
  const st = stateOf(c);

  // Continuing a long answer: the initiator echoes our TTT with an empty request (RFC 7143 §11.10.4).
  if (ttt !== RESERVED_TAG && st.pending && st.pending.ttt === ttt) {
    return sendTextChunk(c, st, x, st.pending.rest);
  }
  st.pending = undefined;
  // The initiator's request continues (C bit): gather, and ask for more with an empty answer.
  if (cont) {
    const g = st.gather && (ttt === st.gather.ttt) ? st.gather : { ttt: s.ttt(), parts: [], size: 0 };
    g.parts.push(data);
    g.size += data.length;
    if (g.size > MAX_TEXT_REQUEST) return c.protocolFailure(RejectReason.PROTOCOL_ERROR, bhs, "Text request too long");
    st.gather = g;
    return reply(c, x, Buffer.alloc(0), false, g.ttt);
  }
  let request = data;
  if (st.gather && ttt === st.gather.ttt) request = Buffer.concat([...st.gather.parts, data]);
  st.gather = undefined;

  const decoded = decodeText(request);
  if (!decoded.ok) return c.reject(RejectReason.PROTOCOL_ERROR, bhs);
  const out: TextPairs = [];
  const rest: TextPairs = [];
  for (const [k, v] of decoded.pairs) {
    if (k === "SendTargets") {
      const engine = c.host.engine;
      out.push(...sendTargets(engine.advertisedTpgs(), s.initiatorName, v === "All" && s.type !== "Discovery" ? "" : v, c.localAddress, s.tpg, c.remoteAddress, (tpg) => engine.servesHere(tpg)));
    } else {
      rest.push([k, v]);
    }
  }
  const neg = s.negotiation.respond(rest, { phase: "ffp", discovery: s.type === "Discovery", target: s.tpg?.parameters ?? {} });
  out.push(...neg.responses);
  // A renegotiated MaxRecvDataSegmentLength takes effect for what we send next.
  const declared = s.negotiation.declared.get("MaxRecvDataSegmentLength");
  if (declared) c.setMaxXmitDataSegmentLength(s.negotiation.xmitLength());
  sendTextChunk(c, st, x, encodeText(out));
}

/** Sends what fits in one PDU; the rest waits for the initiator to echo the TTT. */
function sendTextChunk(c: ConnectionPort, st: TextState, x: TextExchange, payload: Buffer): void {
  const max = c.params.maxXmitDataSegmentLength;
  if (payload.length <= max) {
    st.pending = undefined;
    return reply(c, x, payload, true, RESERVED_TAG);
  }
  const ttt = c.session!.ttt();
  st.pending = { ttt, rest: payload.subarray(max) };
  reply(c, x, payload.subarray(0, max), false, ttt);
}

function reply(c: ConnectionPort, x: TextExchange, payload: Buffer, final: boolean, ttt: number): void {
  c.send(TextResponse, { final, cont: !final, lun: x.lun < 0 ? 0 : x.lun, itt: x.itt, ttt }, payload, StatSNUse.ADVANCE);
}
