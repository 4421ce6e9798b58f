/**
 * The inputs of `meshctl inject` and `uninject` as documents: files, directories (their .yaml, .yml
 * and .json files, recursively, in name order) and `-` for stdin, parsed with yaml's Document API.
 * A transformed object is written back into its document node by node, so comments, key order and
 * document separators survive wherever the object did not change; JSON input is printed as JSON.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Document, isMap, isScalar, isSeq, type Node, parseAllDocuments } from "yaml";
import { InputError } from "../errors.js";

/** One input: its name for messages (`-` is stdin) and its text. */
export interface Source {
  name: string;
  text: string;
}

const EXTENSIONS = /\.(ya?ml|json)$/i;

/** Reads every input in order; a directory gives its files, `-` reads stdin once. */
export function readSources(paths: string[], stdin: () => string): Source[] {
  const out: Source[] = [];
  for (const path of paths) {
    if (path === "-") {
      out.push({ name: "<stdin>", text: stdin() });
      continue;
    }
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch (err) {
      throw new InputError(
        `${path}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (err as Error).message}`,
      );
    }
    if (isDir)
      for (const file of filesUnder(path)) out.push({ name: file, text: readFileSync(file, "utf8") });
    else out.push({ name: path, text: readFileSync(path, "utf8") });
  }
  return out;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (EXTENSIONS.test(entry.name)) out.push(path);
  }
  return out;
}

/** A parsed source: JSON sources print as JSON. */
export interface Parsed {
  source: Source;
  json: boolean;
  docs: Document.Parsed[];
}

/** Parses a source; throws InputError naming the file, line and column of the first error. */
export function parseSource(source: Source): Parsed {
  const docs = parseAllDocuments(source.text);
  if (!Array.isArray(docs)) return { source, json: false, docs: [] };
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      const where = pos ? `:${pos.line}:${pos.col}` : "";
      const message = (err.message.split(" at line ")[0] ?? err.message).trim();
      throw new InputError(`${source.name}${where}: invalid YAML: ${message}`);
    }
  }
  return { source, json: /^\s*[{[]/.test(source.text), docs };
}

/** Applies `transform` to each non-empty document and prints the source back. */
export function transformSource(parsed: Parsed, transform: (object: unknown) => unknown): string {
  if (parsed.json) {
    return parsed.docs
      .filter((d) => d.contents !== null)
      .map((d) => `${JSON.stringify(transform(d.toJS()), null, 2)}\n`)
      .join("");
  }
  // Flow collections are printed the way the source writes its first one: `{a: b}` or `{ a: b }`.
  const padding = /:[ \t]*[{[]([ \t]?)/.exec(parsed.source.text)?.[1] !== "";
  return parsed.docs
    .map((doc) => {
      if (doc.contents === null) return String(doc);
      const result = transform(doc.toJS());
      doc.contents = sync(doc, doc.contents, result) as typeof doc.contents;
      return doc.toString({ flowCollectionPadding: padding });
    })
    .join("");
}

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === "object" && v !== null && !Array.isArray(v);

/** The node for `value`, reusing `node` (and its comments) wherever it already holds that value. */
function sync(doc: Document, node: unknown, value: unknown): unknown {
  if (isMap(node) && isPlain(value)) {
    for (const pair of [...node.items]) {
      const key = isScalar(pair.key) ? pair.key.value : pair.key;
      if (typeof key !== "string" || !(key in value)) node.delete(pair.key);
    }
    for (const [key, v] of Object.entries(value)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === key);
      if (pair) pair.value = sync(doc, pair.value, v) as Node;
      else node.set(doc.createNode(key), doc.createNode(v, { aliasDuplicateObjects: false }));
    }
    return node;
  }
  if (isSeq(node) && Array.isArray(value)) {
    const old = [...node.items];
    const used = new Set<unknown>();
    const named = (n: unknown) => (isMap(n) ? n.get("name") : undefined);
    node.items = value.map((v, i) => {
      // Items with a name (containers, volumes) are matched by name, so a prepended sidecar does not
      // shift every comment onto the wrong container.
      const name = isPlain(v) && typeof v.name === "string" ? v.name : undefined;
      let match = name !== undefined ? old.find((n) => !used.has(n) && named(n) === name) : undefined;
      if (match === undefined && name === undefined && !used.has(old[i])) match = old[i];
      if (match === undefined) return doc.createNode(v, { aliasDuplicateObjects: false });
      used.add(match);
      return sync(doc, match, v);
    });
    return node;
  }
  if (isScalar(node) && !isPlain(value) && !Array.isArray(value) && node.value === value) return node;
  return doc.createNode(value, { aliasDuplicateObjects: false });
}

/** Several sources in one stream: a document separator between them where one is missing. */
export function joinOutputs(outputs: string[]): string {
  // JSON is YAML: a JSON source after another is one more document of the stream.
  return outputs
    .filter((o) => o.trim() !== "")
    .map((o, i) => (i === 0 || /^---/.test(o) ? o : `---\n${o}`))
    .join("");
}
