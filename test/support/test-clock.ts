// A domain clock a test moves, seen by the in-process roles and by a signer in a process of its
// own (test/support/signer-main.ts): each move is awaited until every process has it.

export interface TestClock {
  /** What the in-process roles read (StartOptions.now). */
  now(): number;
  /** Moves the clock to `ms`; resolves once every attached process runs at it. */
  set(ms: number): Promise<void>;
  /** Moves the clock on by `ms`. */
  advance(ms: number): Promise<void>;
  /** A process that follows the clock (the harness's signer); returns its detach. */
  attach(follower: (ms: number) => Promise<void>): () => void;
}

export function createTestClock(start: number): TestClock {
  let current = start;
  const followers = new Set<(ms: number) => Promise<void>>();
  const set = async (ms: number) => {
    current = ms;
    await Promise.all([...followers].map((f) => f(ms)));
  };
  return {
    now: () => current,
    set,
    advance: (ms) => set(current + ms),
    attach(follower) {
      followers.add(follower);
      return () => followers.delete(follower);
    },
  };
}

/** The messages of the clock over a child's IPC channel (parent → child, and its ack). */
export interface ClockMessage {
  type: "warden-test-clock";
  seq: number;
  now: number;
}
export interface ClockAck {
  type: "warden-test-clock-ack";
  seq: number;
}
