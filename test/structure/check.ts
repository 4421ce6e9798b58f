// The structure check (`npm run check:structure`, the "structure" step of `npm test`): the import rules of
// .dependency-cruiser.cjs over the source folders, and the size rule: no source file over 400 lines
// unless its opening comment says why, on a line that starts with the marker `Over 400 lines:` followed by
// the reason (for example `// Over 400 lines: the status tables read best in one place.`). Generated code
// (control/api/gen) is exempt from the size rule.
//
// Usage: tsx test/structure/check.ts [ROOT]. ROOT (default: this repository) is the tree to check; the
// rules and tsconfig are always this repository's, so a test can check a made-up tree. Prints one line per
// violation (file, rule, what to do) and exits 1 if there is any.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { cruise, type ICruiseOptions } from "dependency-cruiser";
import extractDepcruiseOptions from "dependency-cruiser/config-utl/extract-depcruise-options";
import extractTSConfig from "dependency-cruiser/config-utl/extract-ts-config";

const repo = fileURLToPath(new URL("../..", import.meta.url));

/** The folders that hold source; test/ is checked only as something no source file may import. */
export const SOURCE_FOLDERS = ["lib", "proxy", "control", "cli", "viz"];
export const MAX_LINES = 400;
/** The marker that gives a long file's reason; it starts a line of the file's opening comment. */
export const SIZE_MARKER = "Over 400 lines:";
const SIZE_RULE = "max-400-lines";
const SOURCE_FILE = /\.(ts|tsx|mts|cts|js|mjs|cjs)$/;
const GENERATED = /^control\/api\/gen\//;

/** One broken rule: `file` (relative to the checked root) breaks `rule`; `fix` says what to do. */
export interface Violation {
  file: string;
  rule: string;
  /** What the file does that the rule forbids: the import, the cycle, or its length. */
  detail: string;
  fix: string;
}

let loaded: { options: ICruiseOptions; tsConfig: ReturnType<typeof extractTSConfig> } | undefined;

/** The repository's rules and compiler options, read once per process. */
async function rules(): Promise<NonNullable<typeof loaded>> {
  loaded ??= {
    options: await extractDepcruiseOptions(join(repo, ".dependency-cruiser.cjs")),
    tsConfig: extractTSConfig(join(repo, "tsconfig.json")),
  };
  return loaded;
}

/** The import rules' violations in the source folders under root. */
async function importViolations(root: string, folders: string[]): Promise<Violation[]> {
  const { options, tsConfig } = await rules();
  // baseDir: file names are relative to the checked tree; tsConfig: this repository's, wherever the tree is.
  const cruiseOptions = { ...options, baseDir: root, tsConfig: { fileName: join(repo, "tsconfig.json") } };
  const forbidden = options.ruleSet?.forbidden ?? [];
  const comments = new Map(forbidden.map((rule) => [rule.name, rule.comment ?? ""]));
  const result = await cruise(folders, cruiseOptions, {}, { tsConfig });
  if (typeof result.output === "string") throw new Error("dependency-cruiser returned text, not a result");
  return result.output.summary.violations.map((v) => ({
    file: v.from,
    rule: v.rule.name,
    detail: v.cycle
      ? `cycle ${[v.from, ...v.cycle.map((step) => step.name)].join(" -> ")}`
      : `imports ${v.to}`,
    fix: (comments.get(v.rule.name) ?? "").split("To fix: ")[1] ?? "see the rule in .dependency-cruiser.cjs",
  }));
}

/** Source files below `dir` (a path relative to root), generated code left out. */
function sourceFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (GENERATED.test(`${path}/`)) continue;
    if (entry.isDirectory()) out.push(...sourceFiles(root, path));
    else if (SOURCE_FILE.test(entry.name)) out.push(path);
  }
  return out;
}

/**
 * The lines of a file's opening comment without the comment syntax: after an optional shebang and blank
 * lines, either a run of `//` lines or one block comment.
 */
export function openingComment(text: string): string[] {
  const lines = text.split("\n");
  let i = lines[0]?.startsWith("#!") ? 1 : 0;
  while ((lines[i] ?? "x").trim() === "") i++;
  const out: string[] = [];
  if (lines[i]?.trimStart().startsWith("//")) {
    for (let line = lines[i]; line?.trimStart().startsWith("//"); line = lines[++i]) {
      out.push(
        line
          .trimStart()
          .replace(/^\/\/+/, "")
          .trim(),
      );
    }
  } else if (lines[i]?.trimStart().startsWith("/*")) {
    for (let line = lines[i]; line !== undefined; line = lines[++i]) {
      out.push(
        line
          .replace(/\*\/.*$/, "")
          .replace(/^\s*(\/\*+|\*)/, "")
          .trim(),
      );
      if (line.includes("*/")) break;
    }
  }
  return out;
}

/** Whether the opening comment gives a reason for the file's length. */
export function hasSizeReason(text: string): boolean {
  return openingComment(text).some(
    (line) => line.startsWith(SIZE_MARKER) && line.slice(SIZE_MARKER.length).trim() !== "",
  );
}

/** Files over MAX_LINES lines without a reason in their opening comment. */
function sizeViolations(root: string, folders: string[]): Violation[] {
  const out: Violation[] = [];
  for (const file of folders.flatMap((folder) => sourceFiles(root, folder))) {
    const text = readFileSync(join(root, file), "utf8");
    const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    if (lines <= MAX_LINES || hasSizeReason(text)) continue;
    out.push({
      file,
      rule: SIZE_RULE,
      detail: `${lines} lines`,
      fix: `split it into files of about 100-300 lines, or start a line of its opening comment with "${SIZE_MARKER}" and the reason`,
    });
  }
  return out;
}

/** Every violation of the import and size rules in the tree at root, sorted by file then rule. */
export async function checkStructure(root: string): Promise<Violation[]> {
  const folders = SOURCE_FOLDERS.filter((folder) => existsSync(join(root, folder)));
  const violations = [...(await importViolations(root, folders)), ...sizeViolations(root, folders)];
  return violations.sort((a, b) => a.file.localeCompare(b.file) || a.rule.localeCompare(b.rule));
}

/** One violation as the one line the check prints. */
export function formatViolation(v: Violation): string {
  return `${v.file}: ${v.rule}: ${v.detail}; to fix: ${v.fix}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = resolve(process.argv[2] ?? repo);
  const where = relative(process.cwd(), root) || ".";
  const violations = await checkStructure(root);
  for (const v of violations) process.stdout.write(`${formatViolation(v)}\n`);
  if (violations.length > 0) {
    process.stdout.write(`structure: ${violations.length} violation(s) in ${where}\n`);
    process.exit(1);
  }
  process.stdout.write(`structure: the import and size rules hold in ${where}\n`);
}
