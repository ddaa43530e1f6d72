/**
 * An error seedfork can explain: `message` says what went wrong, `hint` says what to do about it.
 * The CLI prints both and exits non-zero; anything else is treated as a bug and shows its stack.
 */
export class SeedforkError extends Error {
  /** One or two sentences telling the user how to fix the problem. */
  readonly hint: string | undefined;
  /** Extra diagnostic text (a step's output, a service log tail), printed after the message. */
  readonly details: string | undefined;

  constructor(message: string, options: { hint?: string; details?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'SeedforkError';
    this.hint = options.hint;
    this.details = options.details;
  }
}

/** Thrown when a run is cancelled (Ctrl-C, or the caller's AbortSignal). */
export class CancelledError extends SeedforkError {
  constructor(reason = 'cancelled') {
    super(`run ${reason}`);
    this.name = 'CancelledError';
  }
}
