/** Helpers for the pipeline's tests. */
import { JsonRpcError } from "../protocol/index.ts";

/** The JsonRpcError `fn` throws synchronously; fails when it throws nothing, or something else. */
export function thrown(fn: () => unknown): JsonRpcError {
  try {
    fn();
  } catch (error) {
    if (error instanceof JsonRpcError) return error;
    throw new Error(`expected a JsonRpcError, got ${String(error)}`);
  }
  throw new Error("expected a JsonRpcError to be thrown synchronously");
}
