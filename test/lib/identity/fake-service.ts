/**
 * An identity service stand-in for the client's tests: a real grpc-js server over real TLS that signs
 * CSRs with the test PKI, and can be told to misbehave (answer with another key, another SAN, an
 * expired or untrusted certificate, garbage) in ways the real service never does.
 */
import * as grpc from "@grpc/grpc-js";
import {
  type CertifyRequest,
  type CertifyResponse,
  IdentityService,
} from "../../../control/api/gen/trellis/identity/v1/identity.js";
import {
  createTestPki,
  csrPublicKey,
  type IssueLeafOptions,
  issueLeaf,
  serverCertificate,
  type TestPki,
} from "../../support/pki.js";

export type Misbehaviour =
  | "none"
  | "wrong-key"
  | "wrong-san"
  | "expired"
  | "untrusted"
  | "garbage"
  | "ca-leaf";

export interface FakeServiceOptions {
  pki: TestPki;
  /** The SPIFFE ID in the service's own serving certificate. */
  svcName: string;
  /** Lifetime of issued leaves. */
  lifetimeMs: number;
  /** Tokens accepted, each proving one SPIFFE ID. */
  tokens: Map<string, string>;
}

/** One Certify call as the fake saw it. */
export interface SeenRequest {
  identity: string;
  token: string;
  csrSubject: string;
  csrUris: string[];
}

export class FakeIdentityService {
  readonly seen: SeenRequest[] = [];
  misbehaviour: Misbehaviour = "none";
  private readonly server = new grpc.Server();
  private otherPki: TestPki | undefined;

  constructor(readonly options: FakeServiceOptions) {
    this.server.addService(IdentityService, {
      certify: (
        call: grpc.ServerUnaryCall<CertifyRequest, CertifyResponse>,
        cb: grpc.sendUnaryData<CertifyResponse>,
      ) =>
        void this.certify(call.request).then(
          (response) => cb(null, response),
          (err: grpc.ServiceError) => cb(err),
        ),
    });
  }

  /** Listens on 127.0.0.1 (port 0: any free port) and returns host:port. */
  async start(port = 0): Promise<string> {
    const { chainPem, keyPem } = await serverCertificate(this.options.pki, this.options.svcName);
    const credentials = grpc.ServerCredentials.createSsl(
      null,
      [{ cert_chain: Buffer.from(chainPem), private_key: Buffer.from(keyPem) }],
      false,
    );
    const bound = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`127.0.0.1:${port}`, credentials, (err, p) => (err ? reject(err) : resolve(p))),
    );
    return `127.0.0.1:${bound}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.forceShutdown();
      resolve();
    });
  }

  private async certify(request: CertifyRequest): Promise<CertifyResponse> {
    const token = request.token.toString();
    const csr = await csrPublicKey(request.certificateSigningRequest).catch(() => undefined);
    if (!csr) throw status(grpc.status.INVALID_ARGUMENT, "CSR does not parse or verify");
    this.seen.push({ identity: request.identity, token, csrSubject: csr.subject, csrUris: csr.uris });
    const proven = this.options.tokens.get(token);
    if (proven === undefined) throw status(grpc.status.UNAUTHENTICATED, "token does not authenticate");
    if (proven !== request.identity || csr.uris.length !== 1 || csr.uris[0] !== proven) {
      throw status(grpc.status.PERMISSION_DENIED, `token proves ${proven}`);
    }
    const now = Date.now();
    const leaf: IssueLeafOptions = {
      uris: [proven],
      publicKey: csr.key,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + this.options.lifetimeMs),
    };
    let pki = this.options.pki;
    switch (this.misbehaviour) {
      case "wrong-key":
        delete leaf.publicKey;
        break;
      case "wrong-san":
        leaf.uris = ["spiffe://cluster.local/ns/other/sa/someone"];
        break;
      case "expired":
        leaf.notBefore = new Date(now - 7200_000);
        leaf.notAfter = new Date(now - 3600_000);
        break;
      case "ca-leaf":
        leaf.ca = true;
        break;
      case "untrusted":
        this.otherPki ??= await createTestPki("other");
        pki = this.otherPki;
        break;
      case "garbage":
        return {
          leafCertificate: Buffer.from("not a certificate"),
          intermediateCertificates: [],
          validUntil: new Date(),
        };
      case "none":
        break;
    }
    const cert = await issueLeaf(pki, leaf);
    return {
      leafCertificate: Buffer.from(cert.rawData),
      intermediateCertificates: [Buffer.from(pki.issuer.cert.rawData)],
      validUntil: cert.notAfter,
    };
  }
}

function status(code: grpc.status, details: string): Partial<grpc.ServiceError> {
  return { code, details, message: details };
}
