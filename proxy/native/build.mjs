#!/usr/bin/env node
// Builds the proxy's native addon (original_dst.c, see its opening comment) into
// dist/proxy/native/original_dst.node, as the last step of `npm run build`. It compiles with the C
// compiler on PATH ($CC, else cc, gcc or clang) against the headers that ship with the running Node
// (<prefix>/include/node): nothing is downloaded. The result is kept in ~/.cache/trellis/native/, keyed
// by the source, the Node version and architecture and the compiler, so a rebuild with nothing changed
// copies it.
//
// Without Linux, a compiler or Node's headers the proxy runs without the addon (it logs why and routes
// HTTP by Host only); the build then says so and succeeds, unless TRELLIS_NATIVE_REQUIRED=1 or CI=true,
// where it fails: the image and CI must not ship a proxy that silently lacks it.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const source = join(here, "original_dst.c");
/** Where the proxy's loader (proxy/transport/original-dst.ts) looks for it. */
const output = join(root, "dist", "proxy", "native", "original_dst.node");
const required = process.env.TRELLIS_NATIVE_REQUIRED === "1" || process.env.CI === "true";

function giveUp(why) {
  const what = `trellis: the proxy's original-destination addon was not built: ${why}`;
  if (required) {
    process.stderr.write(`${what}\n(TRELLIS_NATIVE_REQUIRED=1 or CI=true: this fails the build)\n`);
    process.exit(1);
  }
  process.stderr.write(
    `${what}\nThe proxy will run without it: HTTP is routed by Host, opaque TCP only through configured binds.\n`,
  );
  process.exit(0);
}

if (process.platform !== "linux") giveUp(`SO_ORIGINAL_DST is Linux's, this is ${process.platform}`);

const include = join(dirname(process.execPath), "..", "include", "node");
if (!existsSync(join(include, "node_api.h")))
  giveUp(`Node's headers are not at ${include} (node_api.h); install the Node package that ships them`);

const compilers = process.env.CC ? [process.env.CC] : ["cc", "gcc", "clang"];
const compiler = compilers.find((c) => spawnSync(c, ["--version"], { stdio: "ignore" }).status === 0);
if (!compiler) giveUp(`no C compiler on PATH (tried ${compilers.join(", ")}; Debian: apt-get install gcc)`);

const version = spawnSync(compiler, ["--version"], { encoding: "utf8" }).stdout.split("\n")[0];
const key = createHash("sha256")
  .update(readFileSync(source))
  .update(readFileSync(join(include, "node_api.h")))
  .update(`${process.version} ${process.arch} ${compiler} ${version}`)
  .digest("hex")
  .slice(0, 16);
const cacheDir = join(homedir(), ".cache", "trellis", "native");
const cached = join(cacheDir, `original_dst-${key}.node`);

mkdirSync(dirname(output), { recursive: true });
if (!existsSync(cached)) {
  mkdirSync(cacheDir, { recursive: true });
  const partial = `${cached}.${process.pid}.tmp`;
  const cc = spawnSync(
    compiler,
    ["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-I", include, "-o", partial, source],
    { encoding: "utf8" },
  );
  if (cc.status !== 0) {
    rmSync(partial, { force: true });
    // A compile error is a bug in the source, not a missing tool: always fatal.
    process.stderr.write(`trellis: ${compiler} failed on ${source}:\n${cc.stderr}`);
    process.exit(1);
  }
  renameSync(partial, cached);
}
// Copied under another name and renamed: a proxy starting meanwhile never loads half a file.
copyFileSync(cached, `${output}.tmp`);
renameSync(`${output}.tmp`, output);
