/**
 * `npm run cluster:down`: stops the test bed that `cluster:up` started. Asks its daemon to stop
 * (SIGTERM: pods, network, then the control plane); if it does not within 60 s, kills the daemon and
 * the PIDs recorded in the state file, then removes the network of every slot whose owner is gone.
 */
import { rmSync } from "node:fs";
import { pidAlive, signalGroup, waitUntil } from "./harness/procs.js";
import { cleanupSlot, deadSlots, slotFile } from "./node/network.js";
import { readState, STATE_FILE } from "./state.js";

const state = readState();
if (!state) {
  process.stderr.write("no test bed is running (no state file)\n");
} else {
  if (pidAlive(state.daemonPid)) {
    process.kill(state.daemonPid, "SIGTERM");
    try {
      await waitUntil("the test bed daemon to stop", async () => !pidAlive(state.daemonPid), {
        timeoutMs: 60_000,
        intervalMs: 200,
      });
    } catch {
      process.stderr.write(`daemon ${state.daemonPid} did not stop; killing it and its processes\n`);
      signalGroup(state.daemonPid, "SIGKILL");
    }
  }
  for (const pid of state.pids) if (pidAlive(pid)) signalGroup(pid, "SIGKILL");
  rmSync(STATE_FILE, { force: true });
  process.stderr.write(`stopped the test bed of ${state.startedAt}\n`);
}
for (const slot of deadSlots()) {
  await cleanupSlot(slot);
  rmSync(slotFile(slot), { force: true });
}
