/**
 * The one read `meshctl install` makes of a cluster: with `--identity-external-issuer`, the issuer
 * Secret that cert-manager (or another owner) keeps in the control plane's namespace, read through the
 * kubeconfig as kubectl reads it. Its absence and an unreachable API server are each one clear error.
 */
import { apiErrorMessage, loadKubeConfig, RestClient } from "../../control/k8s/index.js";
import { InputError } from "../errors.js";
import type { IssuerSecret } from "./certificates.js";
import { ISSUER_SECRET } from "./controllers.js";

/** Reads `<namespace>/trellis-identity-issuer`, its keys decoded. */
export async function readIssuerSecret(
  namespace: string,
  kubeconfig: { path?: string; context?: string },
): Promise<IssuerSecret> {
  const name = `Secret ${namespace}/${ISSUER_SECRET}`;
  let api: RestClient;
  try {
    api = new RestClient(loadKubeConfig(kubeconfig.path, kubeconfig.context));
  } catch (err) {
    throw new InputError(`--identity-external-issuer: cannot load the kubeconfig: ${apiErrorMessage(err)}`);
  }
  const r = await api.get<{ type?: string; data?: Record<string, string> }>(
    `/api/v1/namespaces/${namespace}/secrets/${ISSUER_SECRET}`,
  );
  if (!r.ok)
    throw new InputError(
      `--identity-external-issuer: cannot read ${name} from ${api.serverUrl}: ${r.reason}`,
    );
  if (!r.body)
    throw new InputError(
      `--identity-external-issuer: ${name} does not exist; create it first (a cert-manager Certificate with secretName ${ISSUER_SECRET} in namespace ${namespace}), or drop the flag to let install generate the issuer`,
    );
  const data = r.body.data ?? {};
  const decoded = (key: string) =>
    data[key] !== undefined ? Buffer.from(data[key], "base64").toString("utf8") : undefined;
  const [crtPem, keyPem, caPem] = [decoded("tls.crt"), decoded("tls.key"), decoded("ca.crt")];
  return {
    name,
    ...(crtPem !== undefined && { crtPem }),
    ...(keyPem !== undefined && { keyPem }),
    ...(caPem !== undefined && { caPem }),
  };
}
