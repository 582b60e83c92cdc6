import { OverlayError } from '../errors.js';
import { httpRequest, readBody } from './http.js';

/** A user name and password for a registry (HTTP basic, or for its token service). */
export interface RegistryCredentials {
  username: string;
  password: string;
}

/** One `WWW-Authenticate` challenge: its scheme (lower-case) and parameters. */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` header (RFC 7235): one or more challenges, each a scheme
 * followed by `key=value` or `key="quoted value"` parameters. Pure.
 */
export function parseChallenges(header: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  const token = /[\w!#$%&'*+.^`|~-]+/y;
  let i = 0;
  const skip = (chars: RegExp) => {
    while (i < header.length && chars.test(header[i] as string)) i++;
  };
  while (i < header.length) {
    skip(/[\s,]/);
    token.lastIndex = i;
    const m = token.exec(header);
    if (!m) break;
    i = token.lastIndex;
    skip(/\s/);
    if (header[i] !== '=') {
      out.push({ scheme: m[0].toLowerCase(), params: {} });
      continue;
    }
    i++;
    skip(/\s/);
    let value = '';
    if (header[i] === '"') {
      for (i++; i < header.length && header[i] !== '"'; i++) {
        if (header[i] === '\\') i++;
        value += header[i] ?? '';
      }
      i++;
    } else {
      token.lastIndex = i;
      const v = token.exec(header);
      value = v ? v[0] : '';
      i = v ? token.lastIndex : i;
    }
    const last = out[out.length - 1];
    if (last) last.params[m[0].toLowerCase()] = value;
  }
  return out;
}

/** What {@link RegistryAuth} needs from its client. */
export interface RegistryAuthOptions {
  credentials?: RegistryCredentials | undefined;
  ca?: string | Buffer | Array<string | Buffer> | undefined;
  signal?: AbortSignal | undefined;
  /** The image reference, for error messages. */
  ref: string;
}

function authError(message: string, ref: string, status?: number, cause?: unknown): OverlayError {
  return new OverlayError('ERR_TSBOX_OVERLAY_AUTH', 'registry.auth', message, {
    ref,
    ...(status === undefined ? {} : { status }),
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * The authorization state of one registry session: anonymous until a challenge arrives,
 * then HTTP basic (credentials on every request) or bearer tokens fetched from the
 * challenge's realm, one per scope (`repository:<name>:pull` or `...:pull,push`).
 */
export class RegistryAuth {
  private basic = false;
  private readonly tokens = new Map<string, string>();

  constructor(private readonly options: RegistryAuthOptions) {}

  /** The `authorization` header to send for `scope`, if any is known yet. */
  header(scope: string): string | undefined {
    const token = this.tokens.get(scope);
    if (token !== undefined) return `Bearer ${token}`;
    if (this.basic && this.options.credentials) return basicHeader(this.options.credentials);
    return undefined;
  }

  /**
   * Answers a 401: sets up basic credentials or fetches a bearer token for `scope`.
   * Throws `ERR_TSBOX_OVERLAY_AUTH` when the challenge cannot be met.
   */
  async challenge(header: string | undefined, scope: string): Promise<void> {
    const { credentials, ref } = this.options;
    const challenges = parseChallenges(header ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      this.tokens.set(scope, await this.fetchToken(bearer, scope));
      return;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      if (!credentials) {
        throw authError(`registry for ${ref} requires a username and password`, ref, 401);
      }
      this.basic = true;
      return;
    }
    throw authError(
      `registry for ${ref} answered 401 with no usable challenge (${header ?? 'none'})`,
      ref,
      401,
    );
  }

  private async fetchToken(c: AuthChallenge, scope: string): Promise<string> {
    const { credentials, ref } = this.options;
    const realm = c.params.realm;
    let url: URL;
    try {
      url = new URL(realm ?? '');
    } catch (err) {
      throw authError(`bearer challenge for ${ref} has no valid realm: ${realm}`, ref, 401, err);
    }
    if (c.params.service) url.searchParams.set('service', c.params.service);
    url.searchParams.set('scope', scope);
    const req = {
      method: 'GET' as const,
      url: url.href,
      headers: {
        accept: 'application/json',
        ...(credentials ? { authorization: basicHeader(credentials) } : {}),
      },
      signal: this.options.signal,
      ca: this.options.ca,
      stage: 'registry.auth',
      ref,
    };
    const res = await httpRequest(req);
    const body = await readBody(res, 1024 * 1024, req);
    if (res.status === 401 || res.status === 403) {
      throw authError(
        `token service ${url.origin} refused ${credentials ? `user ${credentials.username}` : 'anonymous access'} for ${scope} (HTTP ${res.status})`,
        ref,
        res.status,
      );
    }
    if (res.status !== 200) {
      throw authError(
        `token service ${url.origin} answered HTTP ${res.status} for ${scope}`,
        ref,
        res.status,
      );
    }
    let doc: { token?: unknown; access_token?: unknown };
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw authError(`token service ${url.origin} answered invalid JSON`, ref, res.status, err);
    }
    const token = typeof doc.token === 'string' ? doc.token : doc.access_token;
    if (typeof token !== 'string' || token === '') {
      throw authError(`token service ${url.origin} answered no token`, ref, res.status);
    }
    return token;
  }
}

function basicHeader(c: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}
