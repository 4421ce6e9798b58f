/**
 * The Trellis container image: one image holding every executable of package.json's `bin`. This
 * module is the one place that names its repository, where the executables live inside it, the Node
 * flags each runs with, the default command and the users. The Dockerfile at the repository's root
 * follows it (test/cli/install/image.test.ts checks that), the test bed maps the image to this
 * checkout's build with it (test/cluster/node/images.ts), and `meshctl install` renders it.
 */
import pkg from "../../package.json" with { type: "json" };
import { PROXY_NODE_FLAGS } from "../../proxy/node-flags.js";
import { ADDON_PATH } from "../../proxy/transport/original-dst.js";

/** The registry `meshctl install` pulls from unless `--registry` says otherwise. */
export const IMAGE_REGISTRY = "ghcr.io/trellis-mesh";
/** The image's name within its registry. */
export const IMAGE_NAME = "trellis";
/** The image without a tag: any tag of it is Trellis. */
export const IMAGE_REPOSITORY = `${IMAGE_REGISTRY}/${IMAGE_NAME}`;

/** Where the image holds the build (`dist/`), its dependencies and `manifests/`. */
export const IMAGE_APP_DIR = "/opt/trellis";
/**
 * The proxy's native addon (SO_ORIGINAL_DST), relative to {@link IMAGE_APP_DIR}: the image's build
 * stage compiles it into dist/ and fails without it; the proxy loads it from beside its bundle.
 */
export const IMAGE_NATIVE_ADDON = ADDON_PATH;

/** Where the executables are linked, on the image's PATH. */
export const IMAGE_BIN_DIR = "/usr/local/bin";

/** The sidecar's UID: the injector's iptables rules let this user's traffic through (DESIGN.md). */
export const PROXY_UID = 2102;
/** The controllers' UID, apart from the proxy's so a pod's iptables never mistake one for the other. */
export const CONTROLLER_UID = 2103;

/** What runs when a container gives no command: the sidecar, as the injector adds it. */
export const IMAGE_DEFAULT_COMMAND = "trellis-proxy";

/** One executable of the image. */
export interface Executable {
  /** Its name on PATH, as in package.json's `bin`. */
  name: string;
  /** Its built entry point, relative to the repository (and to {@link IMAGE_APP_DIR} in the image). */
  entry: string;
  /** The V8 flags it runs with: what its shebang passes to node. */
  nodeFlags: readonly string[];
}

const NODE_FLAGS: Record<string, readonly string[]> = { "trellis-proxy": PROXY_NODE_FLAGS };

/** Every executable of package.json's `bin`, in its order. */
export const EXECUTABLES: readonly Executable[] = Object.entries(pkg.bin).map(([name, path]) => ({
  name,
  entry: path.replace(/^\.\//, ""),
  nodeFlags: NODE_FLAGS[name] ?? [],
}));

/** `<registry>/trellis:<tag>`. */
export function imageRef(registry: string, tag: string): string {
  return `${registry}/${IMAGE_NAME}:${tag}`;
}
