import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import { OverlayError } from '../errors.js';

/** A request body that can be sent again (after an auth challenge): opened per attempt. */
export interface ReplayableBody {
  open(): Readable;
  length: number;
}

/** One HTTP request as the registry client makes it. */
export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: Buffer | ReplayableBody;
  signal?: AbortSignal | undefined;
  /** Extra trusted CA certificates (PEM) for https. */
  ca?: string | Buffer | Array<string | Buffer> | undefined;
  /** Redirects to follow (GET and HEAD only; blob downloads are often sent to a CDN). */
  maxRedirects?: number;
  /** Milliseconds of socket silence before the request fails; default 60 s. */
  idleTimeoutMs?: number;
  /** For error messages: the stage and the image reference concerned. */
  stage: string;
  ref?: string | undefined;
}

/** A response whose body is still a stream: read it, or destroy it. */
export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The URL that answered, after redirects. */
  url: string;
  body: http.IncomingMessage;
}

/** Wraps an `AbortError` as `ERR_TSBOX_OVERLAY_ABORTED`, other errors as `ERR_TSBOX_OVERLAY_REGISTRY`. */
export function transportError(
  err: unknown,
  stage: string,
  what: string,
  ref: string | undefined,
  signal?: AbortSignal,
): OverlayError {
  if (err instanceof OverlayError) return err;
  const e = err as NodeJS.ErrnoException;
  const ctx = { cause: err, ...(ref === undefined ? {} : { ref }) };
  // Once the signal fired, whatever the torn-down socket reported is an abort.
  if (signal?.aborted || e?.name === 'AbortError' || e?.code === 'ABORT_ERR') {
    return new OverlayError('ERR_TSBOX_OVERLAY_ABORTED', stage, `${what} was aborted`, ctx);
  }
  return new OverlayError(
    'ERR_TSBOX_OVERLAY_REGISTRY',
    stage,
    `${what} failed: ${e?.message ?? String(err)}`,
    { ...ctx, ...(e?.code ? { errno: e.code } : {}) },
  );
}

function once(req: HttpRequest, url: URL, headers: Record<string, string>): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const body = req.body;
    const out: Record<string, string> = { ...headers };
    if (body !== undefined) {
      out['content-length'] = String(body.length);
    }
    const options: https.RequestOptions = {
      method: req.method,
      headers: out,
      ...(req.signal ? { signal: req.signal } : {}),
      ...(url.protocol === 'https:' && req.ca !== undefined ? { ca: req.ca } : {}),
    };
    const r = mod.request(url, options, (res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers, url: url.href, body: res });
    });
    r.setTimeout(req.idleTimeoutMs ?? 60_000, () =>
      r.destroy(Object.assign(new Error('no data for too long'), { code: 'ETIMEDOUT' })),
    );
    r.on('error', (err) =>
      reject(transportError(err, req.stage, `${req.method} ${url.href}`, req.ref, req.signal)),
    );
    if (body === undefined) r.end();
    else if (Buffer.isBuffer(body)) r.end(body);
    else {
      const src = body.open();
      src.on('error', (err) => r.destroy(err));
      // A request that fails midway must not keep the source (a file) open.
      r.once('close', () => src.destroy());
      src.pipe(r);
    }
  });
}

/**
 * Sends one request with Node's own http/https (which, unlike the global fetch, takes a
 * per-request CA). Follows redirects for GET/HEAD, dropping `authorization` when the
 * redirect leaves the host (a CDN must not see registry credentials).
 */
export async function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  let url = new URL(req.url);
  let headers = { ...(req.headers ?? {}) };
  const follow = req.method === 'GET' || req.method === 'HEAD' ? (req.maxRedirects ?? 5) : 0;
  for (let hops = 0; ; hops++) {
    const res = await once(req, url, headers);
    const location = res.headers.location;
    if (hops >= follow || ![301, 302, 303, 307, 308].includes(res.status) || !location) return res;
    res.body.resume();
    const next = new URL(location, url);
    if (next.host !== url.host) {
      const { authorization: _drop, ...rest } = headers;
      headers = rest;
    }
    url = next;
  }
}

/** Reads a whole (small) body, refusing more than `limit` bytes. */
export async function readBody(
  res: HttpResponse,
  limit: number,
  req: HttpRequest,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      n += chunk.length;
      if (n > limit) {
        res.body.destroy();
        throw new OverlayError(
          'ERR_TSBOX_OVERLAY_REGISTRY',
          req.stage,
          `${req.method} ${res.url} answered more than ${limit} bytes`,
          { status: res.status, ...(req.ref === undefined ? {} : { ref: req.ref }) },
        );
      }
      chunks.push(chunk);
    }
  } catch (err) {
    throw transportError(err, req.stage, `reading ${res.url}`, req.ref, req.signal);
  }
  return Buffer.concat(chunks);
}
