import { OverlayError, type OverlayErrorCode } from '../errors.js';
import { RegistryAuth, type RegistryCredentials } from './auth.js';
import { type HttpRequest, type HttpResponse, httpRequest, readBody } from './http.js';
import { type ImageReference, registryBaseUrl } from './reference.js';

/** Connection options shared by {@link ImageStore.pull} and {@link ImageStore.push}. */
export interface RegistryOptions {
  /** For registries that ask for them: HTTP basic, or sent to the bearer token service. */
  credentials?: RegistryCredentials;
  /** Plain HTTP even for a non-loopback host. */
  insecure?: boolean;
  /**
   * HTTPS even for a loopback host (`localhost`, `127.x`, `[::1]`), which is otherwise
   * reached over plain HTTP as Docker does; for a local registry with a TLS certificate.
   */
  tls?: boolean;
  /** Extra trusted CA certificate(s), PEM, for a registry with a private CA. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Cancels the transfer; the operation then rejects with `ERR_TSBOX_OVERLAY_ABORTED`. */
  signal?: AbortSignal;
}

/** A request to the registry, relative to its `/v2/` API. */
export interface RegistryRequest {
  method: HttpRequest['method'];
  /** A path below the base URL (`/v2/...`) or an absolute URL (upload locations). */
  path: string;
  headers?: Record<string, string>;
  body?: HttpRequest['body'];
  stage: string;
}

/**
 * One registry session for one repository: base URL, auth state and the scope every
 * request carries. Answers 401 once per request by meeting the challenge, then retries.
 */
export class RegistryClient {
  readonly base: string;
  private readonly auth: RegistryAuth;

  constructor(
    readonly ref: ImageReference,
    private readonly options: RegistryOptions,
    /** Token scope: `pull`, or `pull,push` for pushes. */
    actions: 'pull' | 'pull,push',
  ) {
    this.base = registryBaseUrl(ref.registry, options);
    this.scope = `repository:${ref.repository}:${actions}`;
    this.auth = new RegistryAuth({
      credentials: options.credentials,
      ca: options.ca,
      signal: options.signal,
      ref: ref.name,
    });
  }

  private readonly scope: string;

  /** The caller's abort signal, if any. */
  get signal(): AbortSignal | undefined {
    return this.options.signal;
  }

  /** The API path of this repository: `/v2/<repository>`. */
  get repoPath(): string {
    return `/v2/${this.ref.repository}`;
  }

  /** Sends a request, authenticating on a 401; a 401 or 403 that remains is an auth error. */
  async send(req: RegistryRequest): Promise<HttpResponse> {
    const url = /^https?:\/\//.test(req.path) ? req.path : `${this.base}${req.path}`;
    let res: HttpResponse | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      const authz = this.auth.header(this.scope);
      res = await httpRequest({
        method: req.method,
        url,
        headers: { ...(req.headers ?? {}), ...(authz ? { authorization: authz } : {}) },
        ...(req.body === undefined ? {} : { body: req.body }),
        signal: this.options.signal,
        ca: this.options.ca,
        stage: req.stage,
        ref: this.ref.name,
      });
      if (res.status !== 401 || attempt === 1) break;
      res.body.resume();
      await this.auth.challenge(res.headers['www-authenticate'], this.scope);
    }
    const r = res as HttpResponse;
    if (r.status === 401 || r.status === 403) {
      const detail = await errorDetail(r, req);
      throw new OverlayError(
        'ERR_TSBOX_OVERLAY_AUTH',
        'registry.auth',
        `${this.ref.registry} refused ${req.method} ${new URL(url).pathname} for ${this.ref.name} (HTTP ${r.status}${detail})`,
        { ref: this.ref.name, status: r.status },
      );
    }
    return r;
  }

  /** Throws the typed error for an unexpected response, with the registry's own error text. */
  async fail(
    res: HttpResponse,
    req: RegistryRequest,
    what: string,
    code: OverlayErrorCode = 'ERR_TSBOX_OVERLAY_REGISTRY',
    value?: string,
  ): Promise<never> {
    const detail = await errorDetail(res, req);
    throw new OverlayError(
      code,
      req.stage,
      `${what} of ${this.ref.name}: ${req.method} answered HTTP ${res.status}${detail}`,
      { ref: this.ref.name, status: res.status, ...(value === undefined ? {} : { value }) },
    );
  }
}

/** `: CODE message` from a distribution-API error body, or nothing. */
async function errorDetail(res: HttpResponse, req: RegistryRequest): Promise<string> {
  try {
    const body = await readBody(res, 64 * 1024, { ...req, url: res.url });
    const doc = JSON.parse(body.toString('utf8')) as {
      errors?: Array<{ code?: string; message?: string }>;
    };
    const e = doc.errors?.[0];
    return e ? `: ${e.code ?? ''} ${e.message ?? ''}`.trimEnd() : '';
  } catch {
    return '';
  }
}
