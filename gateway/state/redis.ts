/**
 * Shared state in Redis, for replicas behind a Service without sticky sessions.
 *
 * Layout (every key under `keyPrefix`): `session:{id}` a hash (`record` JSON, `stream`, `log`, `backend:<server>`)
 * with the idle TTL; `ended:{id}` a tombstone; `rl:…` rate-limit buckets (rate-limit-redis.ts); channels
 * `replica:<replicaId>` (directed messages) and `broadcast`.
 *
 * Commands fail fast while Redis is away (no offline queue, no retries, a command timeout): the callers turn that
 * into a 503 or into local-only behaviour, and ioredis reconnects in the background on its own.
 */
import { Redis } from "ioredis";
import { logger, redisTarget } from "../log.ts";
import { StateUnavailableError } from "./errors.ts";
import { RedisRateLimiter } from "./rate-limit-redis.ts";
import type { RateLimiter } from "./rate-limit.ts";
import type { BusEnvelope, BusMessage, ReplicaBus, SessionRecord, SessionRecords, SharedSession, SharedState, TouchOutcome } from "./types.ts";

const log = logger("state-redis");
const COMMAND_TIMEOUT_MS = 2_000;
const RETRY_CAP_MS = 1_000;

// A touch renews the record, or says it ended (tombstone: -1) or is missing (0). Only then is the record sent, to
// RESTORE, which rewrites it unless it ended meanwhile: the common touch carries no client-sized payload.
const TOUCH = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  local v = redis.call('HMGET', KEYS[1], 'stream', 'log')
  return {1, v[1] or '', v[2] or ''}
end
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1} end
return {0}`;

const RESTORE = `
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
redis.call('HSETNX', KEYS[1], 'record', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 0`;

// Field updates never resurrect a record that ended or expired (HSET alone would create a record-less hash).
const SET_IF_LIVE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1`;

// Closing a stream clears the field only if this replica still holds it (another may have taken it over).
const RELEASE_STREAM = `
if redis.call('HGET', KEYS[1], 'stream') == ARGV[1] then return redis.call('HDEL', KEYS[1], 'stream') end
return 0`;

interface ScriptedRedis extends Redis {
  gatehouseTouch(session: string, tombstone: string, ttlMs: number): Promise<[number, string?, string?]>;
  gatehouseRestore(session: string, tombstone: string, ttlMs: number, record: string): Promise<number>;
  gatehouseSetIfLive(session: string, field: string, value: string): Promise<number>;
  gatehouseReleaseStream(session: string, replica: string): Promise<number>;
}

export interface RedisStateOptions {
  /** redis:// or rediss://; it may carry a password, so only host:port is ever logged. */
  url: string;
  keyPrefix: string;
  replicaId: string;
}

export class RedisState implements SharedState {
  readonly kind = "redis";
  readonly replicaId: string;
  readonly sessions: SessionRecords;
  readonly bus: RedisBus;
  readonly limiter: RateLimiter;
  private readonly redis: ScriptedRedis;
  private readonly subscriber: Redis;
  private readonly target: string;
  private lastError: string | undefined;
  private healthy = false;
  private closed = false;

  constructor(options: RedisStateOptions) {
    this.replicaId = options.replicaId;
    this.target = redisTarget(options.url);
    const common = { retryStrategy: (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 10), RETRY_CAP_MS) };
    this.redis = new Redis(options.url, {
      ...common,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: COMMAND_TIMEOUT_MS,
    }) as ScriptedRedis;
    this.redis.defineCommand("gatehouseTouch", { numberOfKeys: 2, lua: TOUCH });
    this.redis.defineCommand("gatehouseRestore", { numberOfKeys: 2, lua: RESTORE });
    this.redis.defineCommand("gatehouseSetIfLive", { numberOfKeys: 1, lua: SET_IF_LIVE });
    this.redis.defineCommand("gatehouseReleaseStream", { numberOfKeys: 1, lua: RELEASE_STREAM });
    // The subscriber only subscribes. Its SUBSCRIBE waits for a connection as long as it takes (no retry budget:
    // ioredis re-subscribes after a reconnect only to channels it had confirmed, so a refused first SUBSCRIBE
    // would leave the bus deaf for good); the bus also subscribes again on every "ready".
    this.subscriber = new Redis(options.url, { ...common, enableOfflineQueue: true, maxRetriesPerRequest: null });
    this.watch(this.redis, "commands");
    this.watch(this.subscriber, "subscriber");
    const prefix = options.keyPrefix;
    this.sessions = new RedisSessionRecords(this.redis, prefix, (error) => this.failure(error));
    this.bus = new RedisBus(this.redis, this.subscriber, prefix, options.replicaId, (error) => this.failure(error), () => this.noteRecovery());
    this.limiter = new RedisRateLimiter({ redis: this.redis, keyPrefix: prefix });
  }

  unavailable(): string | undefined {
    if (this.redis.status === "ready" && this.subscriber.status === "ready" && this.bus.listening) return undefined;
    return `Redis at ${this.target} is unreachable${this.lastError === undefined ? "" : ` (${this.lastError})`}`;
  }

  async ready(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.unavailable() !== undefined && Date.now() < deadline && !this.closed) await new Promise((r) => setTimeout(r, 25));
    return this.unavailable() === undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.limiter.close();
    this.subscriber.disconnect();
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }

  private failure(error: unknown): StateUnavailableError {
    if (error instanceof StateUnavailableError) return error;
    const message = (error as Error).message;
    return new StateUnavailableError(`shared state unavailable: Redis at ${this.target}: ${message}`, { cause: error });
  }

  private watch(connection: Redis, role: string): void {
    // An "error" listener is what keeps ioredis's connection errors from crashing the process.
    connection.on("error", (error: Error) => {
      this.lastError = error.message;
    });
    connection.on("close", () => {
      if (this.closed || !this.healthy) return;
      this.healthy = false;
      log.warn({ target: this.target, role, error: this.lastError }, "lost the connection to Redis: shared-state requests get 503 until it returns");
    });
    connection.on("ready", () => this.noteRecovery());
  }

  /** Both connections ready and the bus's channels confirmed (the last of these to happen calls it). */
  private noteRecovery(): void {
    if (this.unavailable() !== undefined) return;
    if (!this.healthy) log.info({ target: this.target }, "connected to Redis: shared state available");
    this.healthy = true;
    this.lastError = undefined;
  }
}

class RedisSessionRecords implements SessionRecords {
  private readonly redis: ScriptedRedis;
  private readonly prefix: string;
  private readonly failure: (error: unknown) => StateUnavailableError;

  constructor(redis: ScriptedRedis, prefix: string, failure: (error: unknown) => StateUnavailableError) {
    this.redis = redis;
    this.prefix = prefix;
    this.failure = failure;
  }

  private key(id: string): string {
    return `${this.prefix}session:{${id}}`;
  }

  private tombstone(id: string): string {
    return `${this.prefix}ended:{${id}}`;
  }

  private async run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      throw this.failure(error);
    }
  }

  create(record: SessionRecord, ttlMs: number): Promise<void> {
    return this.run(async () => {
      await this.redis.multi().hset(this.key(record.id), "record", JSON.stringify(record)).pexpire(this.key(record.id), ttlMs).exec();
    });
  }

  get(id: string): Promise<SharedSession | undefined> {
    return this.run(async () => {
      const fields = await this.redis.hgetall(this.key(id));
      if (fields.record === undefined) return undefined;
      const backendSessions: Record<string, string> = {};
      for (const [field, value] of Object.entries(fields)) if (field.startsWith("backend:")) backendSessions[field.slice(8)] = value;
      return { record: JSON.parse(fields.record) as SessionRecord, stream: fields.stream, logLevel: fields.log, backendSessions };
    });
  }

  touch(record: SessionRecord, ttlMs: number): Promise<TouchOutcome> {
    return this.run(async () => {
      const [status, stream, level] = await this.redis.gatehouseTouch(this.key(record.id), this.tombstone(record.id), ttlMs);
      if (status === -1) return { status: "ended" };
      if (status === 0) {
        const restored = await this.redis.gatehouseRestore(this.key(record.id), this.tombstone(record.id), ttlMs, JSON.stringify(record));
        return restored === -1 ? { status: "ended" } : { status: "restored" };
      }
      return { status: "alive", stream: stream || undefined, logLevel: level || undefined };
    });
  }

  setStream(id: string, replica: string, open: boolean): Promise<boolean> {
    return this.run(async () => {
      if (open) return (await this.redis.gatehouseSetIfLive(this.key(id), "stream", replica)) === 1;
      return (await this.redis.gatehouseReleaseStream(this.key(id), replica)) === 1;
    });
  }

  setLogLevel(id: string, level: string): Promise<void> {
    return this.run(async () => void (await this.redis.gatehouseSetIfLive(this.key(id), "log", level)));
  }

  setBackendSession(id: string, server: string, upstreamSessionId: string | undefined): Promise<void> {
    return this.run(async () => void (await this.redis.gatehouseSetIfLive(this.key(id), `backend:${server}`, upstreamSessionId ?? "")));
  }

  end(id: string, ttlMs: number): Promise<void> {
    return this.run(async () => {
      await this.redis.multi().del(this.key(id)).set(this.tombstone(id), "1", "PX", ttlMs).exec();
    });
  }
}

class RedisBus implements ReplicaBus {
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly self: string;
  private readonly direct: string;
  private readonly everyone: string;
  private readonly channelPrefix: string;
  private readonly failure: (error: unknown) => StateUnavailableError;
  private handler: ((message: BusEnvelope) => void) | undefined;
  private subscribed = false;

  private readonly onListening: () => void;

  constructor(redis: Redis, subscriber: Redis, prefix: string, self: string, failure: (error: unknown) => StateUnavailableError, onListening: () => void) {
    this.onListening = onListening;
    this.redis = redis;
    this.subscriber = subscriber;
    this.self = self;
    this.failure = failure;
    this.channelPrefix = `${prefix}replica:`;
    this.direct = `${this.channelPrefix}${self}`;
    this.everyone = `${prefix}broadcast`;
    subscriber.on("message", (channel: string, text: string) => this.receive(channel, text));
    subscriber.on("close", () => (this.subscribed = false));
    subscriber.on("ready", () => this.subscribe());
    this.subscribe();
  }

  /** True once Redis confirmed both channels on the current connection. */
  get listening(): boolean {
    return this.subscribed;
  }

  private subscribe(): void {
    this.subscriber.subscribe(this.direct, this.everyone).then(
      () => {
        this.subscribed = this.subscriber.status === "ready";
        if (this.subscribed) this.onListening();
      },
      (error: unknown) => log.warn({ err: (error as Error).message }, "could not subscribe to the replica channels; trying again on the next connection"),
    );
  }

  async send(replica: string, message: BusMessage): Promise<boolean> {
    try {
      const receivers = await this.redis.publish(`${this.channelPrefix}${replica}`, JSON.stringify({ ...message, from: this.self }));
      return receivers > 0;
    } catch (error) {
      throw this.failure(error);
    }
  }

  async broadcast(message: BusMessage): Promise<void> {
    try {
      await this.redis.publish(this.everyone, JSON.stringify({ ...message, from: this.self }));
    } catch (error) {
      throw this.failure(error);
    }
  }

  onMessage(handler: (message: BusEnvelope) => void): void {
    this.handler = handler;
  }

  private receive(channel: string, text: string): void {
    if (channel !== this.direct && channel !== this.everyone) return;
    let message: BusEnvelope;
    try {
      message = JSON.parse(text) as BusEnvelope;
    } catch {
      log.warn({ channel }, "unreadable message on the replica bus dropped");
      return;
    }
    if (message.from === this.self || this.handler === undefined) return;
    try {
      this.handler(message);
    } catch (error) {
      log.error({ err: (error as Error).message, type: message.type }, "replica bus handler failed");
    }
  }
}
