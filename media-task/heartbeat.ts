/**
 * The task's one clock for its once-a-second checks (RTP inactivity, each destination's stall watch). On the
 * measured 2-vCPU VM, each time an idle node process wakes costs it one to two milliseconds of CPU whatever the
 * callback does, so the checks share one wake-up instead of each keeping its own interval.
 */
const HEARTBEAT_MS = 1_000;

const beats = new Set<() => void>();
let timer: NodeJS.Timeout | undefined;

/** Runs `beat` on every heartbeat until the returned function is called. */
export function onHeartbeat(beat: () => void): () => void {
  beats.add(beat);
  timer ??= setInterval(() => {
    for (const each of [...beats]) each();
  }, HEARTBEAT_MS);
  return () => {
    beats.delete(beat);
    if (beats.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}
