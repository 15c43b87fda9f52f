// The signer of startTestWarden in a process of its own: the real composition root
// (startWarden, roles ["signer"], this process's environment) with, when the parent follows a
// test clock, a domain clock the parent sets over the IPC channel (test/support/test-clock.ts).
// Run as `node --import tsx test/support/signer-main.ts`; stops on SIGTERM like src/main.ts.
import { startWarden } from "../../src/main";
import type { ClockAck, ClockMessage } from "./test-clock";

// WARDEN_TEST_CLOCK: the clock's value at spawn; absent, the signer runs on the wall clock.
const start = process.env.WARDEN_TEST_CLOCK;
let current = start === undefined ? undefined : Number(start);
if (process.send) {
  process.on("message", (m: ClockMessage) => {
    if (m?.type !== "warden-test-clock") return;
    current = m.now;
    const ack: ClockAck = { type: "warden-test-clock-ack", seq: m.seq };
    process.send?.(ack);
  });
}

const warden = await startWarden({
  roles: ["signer"],
  now: () => current ?? Date.now(),
}).catch((err: unknown) => {
  console.error("the signer did not start:", err);
  process.exit(1);
});
const stop = (reason: string) => {
  if (warden.shutdown.started) return;
  void warden.shutdown.run(reason).then((ok) => process.exit(ok ? 0 : 1));
};
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));
// The parent gone (its channel closed), the signer goes too.
process.on("disconnect", () => stop("parent gone"));
