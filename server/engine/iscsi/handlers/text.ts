/**
 * Text Request / Text Response in full feature phase (RFC 7143 §11.10, §11.11): SendTargets
 * and renegotiation, with both directions of continuation — an initiator request spread over
 * several PDUs (C bit) and an answer too long for one PDU (our TTT, echoed back).
 */
import type { Connection } from "../connection";
import { sendTargets } from "../discovery";
import { RESERVED_TAG, RejectReason, TextRequest, TextResponse, type Pdu } from "../pdu";
import { decodeText, encodeText, type TextPairs } from "../text";

/** Largest text request we gather across continued PDUs. */
const MAX_TEXT_REQUEST = 64 * 1024;

/** Where one Text Request's answer goes: its ITT and LUN, echoed in every Text Response. */
interface TextExchange {
  itt: number;
  lun: number;
}

export function handleText(c: Connection, pdu: Pdu): void {
  const s = c.session!;
  const h = TextRequest.decode(pdu.bhs);
  const data = Buffer.from(pdu.data);
  s.sequence(h.cmdSN, pdu.immediate, () => {
    if (!pdu.immediate) s.credit();
    text(c, h.itt, h.ttt, h.cont, h.lun, data, pdu.bhs);
  });
}

function text(c: Connection, itt: number, ttt: number, cont: boolean, lun: number, data: Buffer, bhs: Buffer): void {
  const s = c.session!;
  const x: TextExchange = { itt, lun };

  // Continuing a long answer: the initiator echoes our TTT with an empty request (RFC 7143 §11.10.4).
  if (ttt !== RESERVED_TAG && c.textPending && c.textPending.ttt === ttt) {
    return sendTextChunk(c, x, c.textPending.rest);
  }
  c.textPending = undefined;
  // The initiator's request continues (C bit): gather, and ask for more with an empty answer.
  if (cont) {
    const g = c.textGather && (ttt === c.textGather.ttt) ? c.textGather : { ttt: s.ttt(), parts: [], size: 0 };
    g.parts.push(data);
    g.size += data.length;
    if (g.size > MAX_TEXT_REQUEST) return c.protocolFailure(RejectReason.PROTOCOL_ERROR, bhs, "Text request too long");
    c.textGather = g;
    return reply(c, x, Buffer.alloc(0), false, g.ttt);
  }
  let request = data;
  if (c.textGather && ttt === c.textGather.ttt) request = Buffer.concat([...c.textGather.parts, data]);
  c.textGather = undefined;

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
  if (declared) c.params = { ...c.params, maxXmitDataSegmentLength: s.negotiation.xmitLength() };
  sendTextChunk(c, x, encodeText(out));
}

/** Sends what fits in one PDU; the rest waits for the initiator to echo the TTT. */
function sendTextChunk(c: Connection, x: TextExchange, payload: Buffer): void {
  const max = c.params.maxXmitDataSegmentLength;
  if (payload.length <= max) {
    c.textPending = undefined;
    return reply(c, x, payload, true, RESERVED_TAG);
  }
  const ttt = c.session!.ttt();
  c.textPending = { ttt, rest: payload.subarray(max) };
  reply(c, x, payload.subarray(0, max), false, ttt);
}

function reply(c: Connection, x: TextExchange, payload: Buffer, final: boolean, ttt: number): void {
  const s = c.session!;
  c.send(TextResponse, {
    final, cont: !final, lun: x.lun < 0 ? 0 : x.lun, itt: x.itt, ttt, statSN: c.nextStatSN(), expCmdSN: s.expCmdSN, maxCmdSN: s.maxCmdSN,
  }, payload);
}
