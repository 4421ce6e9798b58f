#!/usr/bin/env node
/**
 * trellis-controller: the control plane's executable. One subcommand per service (`identity`,
 * `destination`, `injector`), and `init`, the trellis-init container that applies a meshed pod's
 * iptables rules and exits. This file only builds the command tree, parses, and turns the outcome
 * into an exit code: 0 ok, 1 failure, 2 usage (a bad flag, named by the message). Each subcommand's
 * builder lives with its own module: control/identity, control/destination, control/injector and
 * control/init are the controllers, which never import each other; control/common, control/k8s and
 * control/local hold what they share, and control/api the contracts with the proxy.
 */
import { Command, CommanderError } from "commander";
import { EXIT_FAILURE, EXIT_USAGE } from "../lib/exit-codes.js";
import { destinationCommand } from "./destination/command.js";
import { identityCommand } from "./identity/command.js";
import { initCommand } from "./init/command.js";
import { injectorCommand } from "./injector/command.js";

export function buildProgram(): Command {
  const program = new Command("trellis-controller")
    .description("Trellis control plane services")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  for (const command of [identityCommand(), destinationCommand(), injectorCommand(), initCommand()]) {
    // addCommand does not pass settings down: without this a subcommand's usage error exits 1 by itself.
    command.copyInheritedSettings(program);
    program.addCommand(command);
  }
  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help is not a failure; every other commander error (unknown flag, bad value) is usage.
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
    } else {
      process.stderr.write(`trellis-controller: ${(err as Error).stack ?? err}\n`);
      process.exitCode = EXIT_FAILURE;
    }
  }
  // Servers, watchers and timers are closed by now; exit so a lingering handle cannot keep us up.
  process.exit();
}

await main();
