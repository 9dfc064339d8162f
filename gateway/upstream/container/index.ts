/** Public face of container backends: planning at start, the orphan janitor, and the pieces tests inspect. */
export { planContainers, type ContainerPlan } from "./plan.ts";
export { removeOrphans, listManaged, ownerId, LABEL, type ManagedContainer } from "./ownership.ts";
export { findRuntime, runtimeCommand, type ContainerRuntime } from "./runtime.ts";
export { runArguments } from "./run-args.ts";
export type { ContainerContext } from "./container-transport.ts";
