/** The SDK's variable for the instance metadata endpoint; tests point it at a local stand-in. */
export const IMDS_ENDPOINT_VAR = 'AWS_EC2_METADATA_SERVICE_ENDPOINT';
const DEFAULT_ENDPOINT = 'http://169.254.169.254';
const TOKEN_TTL_S = 21_600;

/**
 * EC2 instance metadata over IMDSv2: a session token from `PUT /latest/api/token`, then GETs
 * carrying it. The token is kept until shortly before it expires, or until IMDS refuses it.
 */
export class Imds {
  readonly endpoint: string;
  private token?: { value: string; expiresAt: number };

  constructor(
    endpoint = process.env[IMDS_ENDPOINT_VAR] || DEFAULT_ENDPOINT,
    private readonly timeoutMs = 2_000,
  ) {
    this.endpoint = endpoint.replace(/\/+$/, '');
  }

  /** `meta-data/<path>`, or undefined when IMDS answers 404 (not there for this instance, yet). */
  async get(path: string): Promise<string | undefined> {
    let res = await this.metadata(path, await this.sessionToken());
    if (res.status === 401) {
      this.token = undefined;
      res = await this.metadata(path, await this.sessionToken());
    }
    if (res.status === 404) return undefined;
    if (!res.ok) throw new Error(`IMDS meta-data/${path}: HTTP ${res.status}`);
    return (await res.text()).trim();
  }

  /** Like `get`, but a missing value is an error naming it. */
  async require(path: string): Promise<string> {
    const value = await this.get(path);
    if (!value) throw new Error(`IMDS has no meta-data/${path} for this instance`);
    return value;
  }

  private metadata(path: string, token: string): Promise<Response> {
    return fetch(`${this.endpoint}/latest/meta-data/${path}`, {
      headers: { 'x-aws-ec2-metadata-token': token },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
  }

  private async sessionToken(): Promise<string> {
    if (this.token && this.token.expiresAt > Date.now()) return this.token.value;
    const res = await fetch(`${this.endpoint}/latest/api/token`, {
      method: 'PUT',
      headers: { 'x-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_S) },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) throw new Error(`IMDS token: HTTP ${res.status}`);
    // Renew a minute early, so a GET never carries a token that expires on the way.
    this.token = { value: await res.text(), expiresAt: Date.now() + (TOKEN_TTL_S - 60) * 1000 };
    return this.token.value;
  }
}
