/** Shared state could not be read or written (Redis is unreachable, timed out, or refused the command). */
export class StateUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StateUnavailableError";
  }
}
