// The Trellis image has one description, cli/install/image.ts: the Dockerfile and the test bed's image
// mapping (test/cluster/node/images.ts) must both follow it, so a pod on the test bed runs what it would
// run from the real image.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  EXECUTABLES,
  IMAGE_APP_DIR,
  IMAGE_BIN_DIR,
  IMAGE_DEFAULT_COMMAND,
  IMAGE_NATIVE_ADDON,
  IMAGE_REPOSITORY,
  PROXY_UID,
} from "../../../cli/install/image.js";
import { PROXY_NODE_FLAGS } from "../../../proxy/node-flags.js";
import { recipeFor, writeTrellisShims } from "../../cluster/node/images.js";
import { repoRoot } from "../../support/process.js";

const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  bin: Record<string, string>;
};
const buildConfig = JSON.parse(readFileSync(join(repoRoot, "tsconfig.build.json"), "utf8")) as {
  include: string[];
};

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function instructions(): { op: string; args: string }[] {
  const text = readFileSync(join(repoRoot, "Dockerfile"), "utf8").replace(/\\\n/g, " ");
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const [op = "", ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(" ") };
    });
}

/** The instructions of the last stage (the image itself), and the value of each ARG before the first FROM. */
function finalStage() {
  const all = instructions();
  const args = new Map(
    all
      .slice(
        0,
        all.findIndex((i) => i.op === "FROM"),
      )
      .filter((i) => i.op === "ARG")
      .map((i) => i.args.split("=") as [string, string]),
  );
  const lastFrom = all.map((i) => i.op).lastIndexOf("FROM");
  return { args, all, stage: all.slice(lastFrom) };
}

test("the image holds exactly package.json's executables, each with its built entry point", () => {
  assert.deepEqual(
    EXECUTABLES.map((e) => [e.name, `./${e.entry}`]),
    Object.entries(pkg.bin),
  );
  assert.deepEqual(EXECUTABLES.find((e) => e.name === "trellis-proxy")?.nodeFlags, PROXY_NODE_FLAGS);
  assert.ok(EXECUTABLES.some((e) => e.name === IMAGE_DEFAULT_COMMAND));
});

test("each executable's shebang passes node the flags the image description gives it", () => {
  for (const e of EXECUTABLES) {
    const source = e.entry.replace(/^dist\//, "").replace(/\.js$/, ".ts");
    const shebang = readFileSync(join(repoRoot, source), "utf8").split("\n")[0];
    const expected =
      e.nodeFlags.length > 0 ? `#!/usr/bin/env -S node ${e.nodeFlags.join(" ")}` : "#!/usr/bin/env node";
    assert.equal(shebang, expected, source);
  }
});

/** The image a FROM instruction names, its ARG resolved. */
function imageOf(from: { args: string }, args: Map<string, string>): string {
  return from.args.split(/\s+/)[0]?.replace(/^\$\{(\w+)\}$/, (_, name: string) => args.get(name) ?? "") ?? "";
}

test("the Dockerfile: Node 24 on Debian slim, every executable linked onto PATH, the proxy's user, the proxy by default", () => {
  const { args, all, stage } = finalStage();
  const froms = all.filter((i) => i.op === "FROM");
  for (const from of froms) assert.match(imageOf(from, args), /^node:24(\.\d+)*-(bookworm|trixie)(-slim)?$/);
  // Only the build stage (which compiles the native addon) may use the full image.
  for (const from of froms.filter((f) => !/ AS build$/i.test(f.args)))
    assert.match(imageOf(from, args), /^node:24(\.\d+)*-(bookworm|trixie)-slim$/, `FROM ${from.args}`);
  const workdir = stage.filter((i) => i.op === "WORKDIR").at(-1)?.args;
  assert.equal(workdir, IMAGE_APP_DIR);
  const copies = stage.filter((i) => i.op === "COPY").map((i) => i.args.split(/\s+/).at(-1));
  for (const dir of ["dist", "node_modules", "manifests"]) assert.ok(copies.includes(dir), `COPY … ${dir}`);

  const links = new Map<string, string>();
  for (const run of stage.filter((i) => i.op === "RUN"))
    for (const m of run.args.matchAll(/ln -s (\S+) (\S+)/g)) links.set(m[2] as string, m[1] as string);
  assert.deepEqual(
    Object.fromEntries(links),
    Object.fromEntries(EXECUTABLES.map((e) => [`${IMAGE_BIN_DIR}/${e.name}`, `${IMAGE_APP_DIR}/${e.entry}`])),
  );
  assert.equal(stage.filter((i) => i.op === "USER").at(-1)?.args, `${PROXY_UID}:${PROXY_UID}`);
  assert.deepEqual(JSON.parse(stage.filter((i) => i.op === "ENTRYPOINT").at(-1)?.args ?? "null"), [
    IMAGE_DEFAULT_COMMAND,
  ]);
});

test("the Dockerfile's build stage has a C compiler and fails unless it built the proxy's native addon, which the image keeps in dist/", () => {
  const { args, all, stage } = finalStage();
  const start = all.findIndex((i) => i.op === "FROM" && / AS build$/i.test(i.args));
  const build = all.slice(
    start,
    all.findIndex((i, n) => n > start && i.op === "FROM"),
  );
  const base = imageOf(all[start] ?? { args: "" }, args);
  // The full Debian image ships gcc; the slim one does not.
  assert.match(base, /^node:24(\.\d+)*-(bookworm|trixie)$/, base);
  const final = imageOf(stage.find((i) => i.op === "FROM") ?? { args: "" }, args);
  const release = (image: string) => /-(bookworm|trixie)/.exec(image)?.[1];
  assert.equal(release(base), release(final), "the addon is built on the Debian release it runs on");
  assert.ok(build.some((i) => i.op === "ENV" && i.args === "TRELLIS_NATIVE_REQUIRED=1"));
  assert.ok(
    build.some(
      (i) =>
        i.op === "RUN" &&
        i.args.includes("npm run --silent build") &&
        i.args.includes(`test -f ${IMAGE_NATIVE_ADDON}`),
    ),
    `the build stage checks ${IMAGE_NATIVE_ADDON}`,
  );
  assert.ok(IMAGE_NATIVE_ADDON.startsWith("dist/"), "copied into the image with dist/");
  assert.ok(stage.some((i) => i.op === "COPY" && i.args === "--from=build /src/dist dist"));
});

test("the Dockerfile's build stage copies every source folder the build compiles", () => {
  const copied = new Set(
    instructions()
      .filter((i) => i.op === "COPY" && !i.args.startsWith("--from"))
      .map((i) => i.args.split(/\s+/)[0]),
  );
  for (const dir of buildConfig.include) assert.ok(copied.has(dir), `COPY ${dir}`);
});

test("the test bed maps the image to shims that run the same entry points with the same flags", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "trellis-shims-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeTrellisShims(dir);
  for (const e of EXECUTABLES) {
    const shim = readFileSync(join(dir, e.name), "utf8");
    const expected = [process.execPath, ...e.nodeFlags, join(repoRoot, e.entry)]
      .map((a) => `"${a}"`)
      .join(" ");
    assert.equal(shim, `#!/bin/sh\nexec ${expected} "$@"\n`);
  }
  const recipe = recipeFor(`${IMAGE_REPOSITORY}:any-tag`, dir);
  assert.deepEqual(recipe, { entrypoint: [IMAGE_DEFAULT_COMMAND], cmd: [], path: [dir] });
});
