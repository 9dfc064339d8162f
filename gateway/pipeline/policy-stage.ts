/**
 * The policy stage of the pipeline: every call is decided before it leaves the gateway, and every list is
 * filtered so an agent sees only what it may use. Fail closed: the engine turns any error into a deny.
 *
 * List filtering evaluates each item; the result is cached per (agent, scopes, table version, policy revision)
 * for a few seconds, so a 2,000-tool list costs one pass per agent per change, not one per request.
 */
import { ErrorCode, JsonRpcError, type Prompt, type Resource, type Tool } from "../protocol/index.ts";
import type { PolicyOutcome } from "../policy/index.ts";
import type { RoutingTable, ToolRoute } from "../routing/index.ts";
import type { ClientSession } from "../session/index.ts";
import { policyInput, type PolicyInput, type PolicyRequest } from "./policy-input.ts";
import type { CallTrace } from "./audit-stage.ts";

export interface PolicyGate {
  evaluate(input: PolicyInput): PolicyOutcome;
  readonly revision: string | undefined;
  /** explicit: "Denied by policy: …". unknown: the same error as for a name no server has. */
  readonly denyAs: "explicit" | "unknown";
}

const LIST_CACHE_TTL_MS = 5_000;
const LIST_CACHE_ENTRIES = 1_000;

type Listable = "tools" | "prompts" | "resources";

export class PolicyStage {
  private readonly gate: () => PolicyGate | undefined;
  private readonly table: () => RoutingTable;
  private readonly replica: string;
  private readonly listCache = new Map<string, { at: number; items: readonly unknown[] }>();
  private readonly memberSets = new WeakMap<readonly unknown[], Set<unknown>>();

  constructor(gate: () => PolicyGate | undefined, table: () => RoutingTable, replica: string) {
    this.gate = gate;
    this.table = table;
    this.replica = replica;
  }

  /**
   * Throws the denial; returns quietly on allow (and on a dry-run deny). Either way the route, arguments and
   * decision go into the trace, for the audit record.
   */
  authorize(session: ClientSession, trace: CallTrace, request: PolicyRequest, tool: ToolRoute | undefined, unknownMessage: string, unknownCode: number = ErrorCode.InvalidParams): void {
    trace.route = { server: request.server, tool: request.tool, uri: request.uri, prompt: request.prompt };
    if (request.arguments !== undefined) trace.arguments = request.arguments;
    const gate = this.gate();
    if (gate === undefined) return;
    const input = policyInput(session, request, this.replica, tool);
    const outcome = gate.evaluate(input);
    trace.policy = { outcome, input: input as unknown as Record<string, unknown> };
    if (outcome.allow) return;
    if (gate.denyAs === "unknown") throw new JsonRpcError(unknownCode, unknownMessage);
    const reasons = outcome.reasons.length > 0 ? outcome.reasons : ["no grant allows this request"];
    throw new JsonRpcError(ErrorCode.PolicyDenied, `Denied by policy: ${reasons.join("; ")}`, { reasons, revision: outcome.revision });
  }

  visible<T extends Tool | Prompt | Resource>(session: ClientSession, list: Listable, items: readonly T[]): readonly T[] {
    const gate = this.gate();
    if (gate === undefined) return items;
    const table = this.table();
    const key = `${list}\u0000${session.principal}\u0000${session.identity.scopes.join(" ")}\u0000${table.version}\u0000${gate.revision}`;
    const now = Date.now();
    const cached = this.listCache.get(key);
    if (cached !== undefined && now - cached.at < LIST_CACHE_TTL_MS) return cached.items as readonly T[];
    const visible = items.filter((item) => {
      const request = this.listRequest(list, item, table);
      if (request === undefined) return false;
      return gate.evaluate(policyInput(session, request.request, this.replica, request.tool, now)).allow;
    });
    if (this.listCache.size >= LIST_CACHE_ENTRIES) this.listCache.clear();
    this.listCache.set(key, { at: now, items: visible });
    return visible;
  }

  /** Whether `item` is in this agent's filtered list (a Set per filtered list, so the check is O(1) when cached). */
  lists<T extends Tool | Prompt | Resource>(session: ClientSession, list: Listable, items: readonly T[], item: T): boolean {
    const visible = this.visible(session, list, items);
    if (visible === items) return true;
    let members = this.memberSets.get(visible);
    if (members === undefined) {
      members = new Set(visible);
      this.memberSets.set(visible, members);
    }
    return members.has(item);
  }

  private listRequest(list: Listable, item: Tool | Prompt | Resource, table: RoutingTable): { request: PolicyRequest; tool?: ToolRoute } | undefined {
    if (list === "tools") {
      const route = table.tool((item as Tool).name);
      return route && { request: { method: "tools/list", server: route.server, tool: route.originalName }, tool: route };
    }
    if (list === "prompts") {
      const route = table.prompt((item as Prompt).name);
      return route && { request: { method: "prompts/list", server: route.server, prompt: route.originalName } };
    }
    const route = table.resource((item as Resource).uri);
    return route && { request: { method: "resources/list", server: route.server, uri: route.originalUri } };
  }
}
