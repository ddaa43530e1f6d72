/** How a {@link postJson} ended. */
export type PostOutcome<T> =
  /** 2xx: the server's answer. */
  | { kind: 'ok'; answer: T }
  /** 4xx: the server refused; retrying would not help. `message` is `<who> answered <status>: <its error>`. */
  | { kind: 'rejected'; status: number; answer: Partial<T> & { error?: string }; message: string }
  /** Unreachable or 5xx on every attempt; `message` says what went wrong the last time. */
  | { kind: 'failed'; message: string; attempts: number }
  /** `signal` aborted before an answer. */
  | { kind: 'cancelled' };

/** Options of {@link postJson}. */
export interface PostJsonOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token: string;
  /** Waits between attempts, ms: one retry per entry. */
  backoffMs: readonly number[];
  /** The server, as messages name it when it cannot be reached (`cannot reach <target>`). */
  target: string;
  /** Who answered, as messages name it (`<who> answered 401: …`); default `target`. */
  who?: string;
  signal?: AbortSignal;
}

/**
 * POST a JSON body to `url` with a bearer token, retrying with `backoffMs` while the server
 * cannot be reached or answers 5xx (a server error or an overloaded proxy), never on 4xx. The
 * seedfork server's endpoints are idempotent for a retry (an ingest of a stored job is answered
 * `duplicate`; a queue request repeats its state), so a retry after a lost answer is safe.
 * Never throws: the outcome says how it ended.
 */
export async function postJson<T>(
  url: string,
  body: unknown,
  options: PostJsonOptions,
): Promise<PostOutcome<T>> {
  const { signal } = options;
  const who = options.who ?? options.target;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  let message = '';
  for (let attempt = 0; attempt <= options.backoffMs.length; attempt++) {
    if (attempt > 0) await sleep(options.backoffMs[attempt - 1]!, signal);
    if (signal?.aborted) return { kind: 'cancelled' };
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${options.token}` },
        body: text,
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      if (signal?.aborted) return { kind: 'cancelled' };
      message = `cannot reach ${options.target}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`;
      continue;
    }
    const answer = (await response.json().catch(() => ({}))) as T & { error?: string };
    if (response.ok) return { kind: 'ok', answer };
    message = `${who} answered ${response.status}: ${answer.error ?? response.statusText}`;
    if (response.status < 500) return { kind: 'rejected', status: response.status, answer, message };
  }
  return { kind: 'failed', message, attempts: options.backoffMs.length + 1 };
}

/** Resolve after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((done) => {
    if (signal?.aborted) return done();
    const timer = setTimeout(finish, ms);
    function finish() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', finish);
      done();
    }
    signal?.addEventListener('abort', finish, { once: true });
  });
}
