/** Builds the audit stage of a Gateway from its config: the log (with its sinks) and the entry settings. */
import type { ResolvedConfig } from "./config/index.ts";
import { AuditLog, createRedisSink, createStdoutSink, type AuditSink, type CheckpointSigner } from "./audit/index.ts";
import { configureLogging, logger } from "./log.ts";

const log = logger("audit-setup");

export interface GatewayAudit {
  log: AuditLog;
  readScope: string;
}

/** Undefined when `audit.enabled: false` (logged loudly: nothing the gateway decides is kept). */
export async function startAudit(config: ResolvedConfig, signer: CheckpointSigner): Promise<GatewayAudit | undefined> {
  const settings = config.audit;
  if (!settings.enabled) {
    log.warn("audit.enabled is false: no record of any decision is kept");
    return undefined;
  }
  const sinks: AuditSink[] = [];
  if (settings.sinks.stdout) {
    // stdout now carries audit records only.
    configureLogging({ fd: 2 });
    sinks.push(createStdoutSink());
  }
  if (settings.sinks.redis !== undefined) sinks.push(createRedisSink(settings.sinks.redis));
  const auditLog = await AuditLog.open({
    dir: settings.dir,
    replica: settings.replica,
    durability: settings.durability,
    batchWindowMs: settings.batchWindowMs,
    maxSegmentBytes: settings.segment.maxBytes,
    maxSegmentAgeMs: settings.segment.maxAgeMs,
    checkpointEvery: settings.checkpoint.every,
    checkpointIntervalMs: settings.checkpoint.intervalMs,
    retention: {
      maxAgeMs: settings.retention.maxAgeDays === undefined ? undefined : settings.retention.maxAgeDays * 86_400_000,
      maxTotalBytes: settings.retention.maxTotalBytes,
    },
    signer,
    sinks,
  });
  log.info({ dir: settings.dir, durability: settings.durability, sinks: sinks.map((s) => s.name) }, "audit log open");
  return { log: auditLog, readScope: settings.readScope };
}
