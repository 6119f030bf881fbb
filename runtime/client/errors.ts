/** Errors the SDK throws. Each carries what an app needs to decide what to do next. */

/** A REST call the master answered with an error that retrying cannot fix (4xx, 500). */
export class RtcHaApiError extends Error {
  override readonly name = 'RtcHaApiError';
  constructor(
    /** HTTP status. */
    readonly status: number,
    /** `error.code` of the reply (`http_<status>` when the body had none). */
    readonly code: string,
    message: string,
    /** `error.details` of the reply: every validation problem, for example. */
    readonly details?: string[],
  ) {
    super(message);
  }
}

/** A REST call that still failed with 502/503/504 or a network error after every retry. */
export class RtcHaRetryError extends Error {
  override readonly name = 'RtcHaRetryError';
  constructor(
    message: string,
    readonly attempts: number,
    readonly elapsedMs: number,
    /** The last failure: an RtcHaApiError (502/503/504) or the network error. */
    readonly lastError: Error,
  ) {
    super(message);
  }
}
