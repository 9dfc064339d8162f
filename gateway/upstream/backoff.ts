/**
 * Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): the delay is
 * uniform in [0, min(cap, base * factor^attempt)]. Full jitter spreads the restarts of many backends that failed
 * together (a shared dependency went down) instead of having them retry in lockstep.
 */
export interface BackoffOptions {
  baseMs: number;
  factor: number;
  capMs: number;
  /** A connection that stayed up this long counts as healthy: the next failure starts from the base again. */
  stableAfterMs: number;
  /** Injected by tests that need determinism; defaults to Math.random. */
  random?: () => number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 200, factor: 2, capMs: 30_000, stableAfterMs: 60_000 };

export class Backoff {
  private attempt = 0;
  private upSince: number | undefined;
  private readonly options: BackoffOptions;

  constructor(options: Partial<BackoffOptions> = {}) {
    this.options = { ...DEFAULT_BACKOFF, ...options };
  }

  /** The delay before the next attempt; each call grows the ceiling for the one after. */
  next(now = Date.now()): number {
    if (this.upSince !== undefined && now - this.upSince >= this.options.stableAfterMs) this.attempt = 0;
    this.upSince = undefined;
    const { baseMs, factor, capMs } = this.options;
    // Math.min before the power would overflow to Infinity after ~1000 attempts; the exponent is clamped too.
    const ceiling = Math.min(capMs, baseMs * factor ** Math.min(this.attempt, 64));
    this.attempt++;
    return Math.floor((this.options.random ?? Math.random)() * ceiling);
  }

  /** The connection is up; if it stays up for stableAfterMs, the next failure starts from the base delay. */
  connected(now = Date.now()): void {
    this.upSince = now;
  }

  reset(): void {
    this.attempt = 0;
    this.upSince = undefined;
  }

  /** For logs: how many delays have been handed out since the last reset. */
  get attempts(): number {
    return this.attempt;
  }
}
