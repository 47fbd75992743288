/**
 * The floor of a login on Node's net.Socket: a TCP server that answers a Login Request with one
 * canned final Login Response (no key negotiation, no session, no event log), answers the Logout
 * and closes, as Portico does (one write each, close at once). What a login + logout costs a
 * Node process before any iSCSI work: bench/login-cost.ts `--floor` runs it beside the appliance.
 *
 *   node bench/login-floor.mjs PORT        (prints READY when listening on 127.0.0.1:PORT)
 */
import net from "node:net";

const KEYS = Buffer.from(
  "HeaderDigest=None\0DataDigest=None\0ImmediateData=Yes\0InitialR2T=Yes\0MaxRecvDataSegmentLength=262144\0" +
    "FirstBurstLength=65536\0MaxBurstLength=262144\0TargetPortalGroupTag=1\0",
);
const PADDED = (KEYS.length + 3) & ~3;
let tsih = 1;

/** Answers one PDU (RFC 7143 §11.13 Login Response, §11.15 Logout Response); true when the connection should close. */
function answer(socket, bhs) {
  const op = bhs[0] & 0x3f;
  const cmdSN = bhs.readUInt32BE(24);
  const expStatSN = bhs.readUInt32BE(28);
  const r = Buffer.alloc(op === 0x03 ? 48 + PADDED : 48);
  if (op === 0x03) {
    r[0] = 0x23;
    r[1] = 0x80 | (1 << 2) | 3; // T, CSG operational, NSG full feature
    r.writeUIntBE(KEYS.length, 5, 3);
    bhs.copy(r, 8, 8, 14); // ISID
    r.writeUInt16BE((tsih = (tsih % 0xffff) + 1), 14);
    KEYS.copy(r, 48);
  } else if (op === 0x06) {
    r[0] = 0x26;
    r[1] = 0x80;
  } else {
    return false;
  }
  bhs.copy(r, 16, 16, 20); // ITT
  r.writeUInt32BE(expStatSN, 24); // StatSN
  r.writeUInt32BE(cmdSN, 28); // ExpCmdSN
  r.writeUInt32BE(cmdSN + 31, 32); // MaxCmdSN
  socket.write(r);
  return op === 0x06;
}

const port = Number(process.argv[2]);
const server = net.createServer({ noDelay: true }, (socket) => {
  void socket.remoteAddress; // getpeername, as every target does for its ACLs and logs
  let buf = Buffer.alloc(0);
  socket.on("data", (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= 48) {
      const total = 48 + ((buf.readUIntBE(5, 3) + 3) & ~3);
      if (buf.length < total) break;
      const bhs = buf.subarray(0, 48);
      buf = buf.subarray(total);
      if (answer(socket, bhs)) {
        process.nextTick(() => socket.destroy());
        return;
      }
    }
  });
  socket.on("error", () => socket.destroy());
});
server.listen(port, "127.0.0.1", () => console.log("READY"));
