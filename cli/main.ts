#!/usr/bin/env node
/**
 * meshctl: the Trellis command line. This file only builds the command tree, parses, and turns the
 * outcome into an exit code (0 ok, 1 failure, 2 usage); each command lives in cli/commands/.
 */
import { Command, CommanderError } from "commander";
import { checkCommand } from "./commands/check.js";
import { demoCommand } from "./commands/demo.js";
import { diagnosticsCommand } from "./commands/diagnostics.js";
import { injectCommand } from "./commands/inject.js";
import { installCommand } from "./commands/install.js";
import { uninjectCommand } from "./commands/uninject.js";
import { uninstallCommand } from "./commands/uninstall.js";
import { vizCommand } from "./commands/viz.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, InputError, UsageError } from "./errors.js";
import { VERSION } from "./version.js";

export function buildProgram(): Command {
  const program = new Command("meshctl")
    .description(
      "Trellis: a lightweight service mesh for Kubernetes (automatic mTLS, golden metrics, safe canaries)",
    )
    .version(VERSION, "--version")
    // One line per error, the hint on the same line, so scripts and tests can read it as one.
    .configureOutput({
      outputError: (str, write) => write(`${str.trimEnd()} (run with --help for usage)\n`),
    })
    .exitOverride();
  // addCommand does not pass exitOverride and output settings down: copy them so a bad flag exits 2.
  for (const command of [
    demoCommand(),
    installCommand(),
    uninstallCommand(),
    checkCommand(),
    injectCommand(),
    uninjectCommand(),
    vizCommand(),
    diagnosticsCommand(),
  ])
    program.addCommand(inherit(command, program));
  return program;
}

/** Copies the program's settings down a command and its subcommands (`viz stat`). */
function inherit(command: Command, parent: Command): Command {
  command.copyInheritedSettings(parent);
  for (const sub of command.commands) inherit(sub, command);
  return command;
}

async function main(): Promise<void> {
  // A reader that stops early (`meshctl install | head`) is not a failure: stop writing, quietly.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(EXIT_OK);
    throw err;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not failures; every other commander error is a usage error.
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    if (err instanceof UsageError || err instanceof InputError) {
      process.stderr.write(`meshctl: ${oneLine(err.message)}\n`);
      process.exitCode = err instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
      return;
    }
    process.stderr.write(`meshctl: ${(err as Error).stack ?? err}\n`);
    process.exitCode = EXIT_FAILURE;
  }
  // Children and timers are gone by now; exit explicitly so a lingering handle cannot keep us up.
  process.exit();
}

function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, " ").trim();
}

await main();
