"""Interop probe: drive an MCP endpoint with the official Python SDK (mcp 2.x) Streamable HTTP client.

Usage: python_client.py URL TOOL ARGS_JSON

  URL        the MCP endpoint (e.g. http://127.0.0.1:8080/mcp)
  TOOL       the tool to call after listing
  ARGS_JSON  the tool's arguments as a JSON object

Environment:
  GATEHOUSE_TOKEN    optional bearer token, sent as "Authorization: Bearer <token>" on every request
  GATEHOUSE_PY_MODE  how the client negotiates: "auto" (the SDK default: probe server/discover, fall back to
                     initialize), "legacy" (initialize handshake only), or a modern version such as "2026-07-28".
                     Defaults to "auto" because that is what real Python clients do out of the box.
  GATEHOUSE_PY_TIMEOUT  per-request timeout in seconds (default 15, below the runner's 25 s kill)

Prints one JSON object on stdout:
  {"protocolVersion": ..., "serverName": ..., "tools": [names...], "call": <CallToolResult as JSON>}
Exits 1 with a message on stderr on any failure (exit 2 on bad usage).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

# A paginator that never ends must not hang the probe.
MAX_TOOL_PAGES = 100


def usage_error(message: str) -> None:
    print(f"usage: python_client.py URL TOOL ARGS_JSON\n{message}", file=sys.stderr)
    sys.exit(2)


def parse_argv(argv: list[str]) -> tuple[str, str, dict[str, Any]]:
    if len(argv) != 4:
        usage_error(f"expected 3 arguments, got {len(argv) - 1}")
    url, tool, raw_args = argv[1], argv[2], argv[3]
    try:
        args = json.loads(raw_args)
    except json.JSONDecodeError as error:
        usage_error(f"ARGS_JSON is not JSON: {error}")
    if not isinstance(args, dict):
        usage_error("ARGS_JSON must be a JSON object")
    return url, tool, args


def build_http_client(read_timeout: float) -> httpx2.AsyncClient:
    headers: dict[str, str] = {}
    token = os.environ.get("GATEHOUSE_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    timeout = httpx2.Timeout(read_timeout, read=read_timeout)
    return create_mcp_http_client(headers=headers, timeout=timeout)


async def run(url: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    mode = os.environ.get("GATEHOUSE_PY_MODE", "auto")
    read_timeout = float(os.environ.get("GATEHOUSE_PY_TIMEOUT", "15"))
    async with build_http_client(read_timeout) as http_client:
        transport = streamable_http_client(url, http_client=http_client)
        # cache=None: every list must reach the server, or the probe would test the cache, not the peer.
        async with Client(transport, mode=mode, read_timeout_seconds=read_timeout, cache=None) as client:
            tool_names: list[str] = []
            cursor: str | None = None
            for _ in range(MAX_TOOL_PAGES):
                page = await client.list_tools(cursor=cursor)
                tool_names.extend(t.name for t in page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    break
            else:
                raise RuntimeError(f"tools/list still paginating after {MAX_TOOL_PAGES} pages")

            result = await client.call_tool(tool, args)
            server_info = client.server_info
            return {
                "protocolVersion": client.protocol_version,
                "serverName": server_info.name if server_info is not None else None,
                "tools": tool_names,
                "call": result.model_dump(mode="json", by_alias=True, exclude_none=True),
            }


def describe(error: BaseException) -> str:
    """Flatten anyio's exception groups so the caller sees the real cause, not 'unhandled errors in a TaskGroup'."""
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(describe(inner) for inner in error.exceptions)
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def main() -> None:
    url, tool, args = parse_argv(sys.argv)
    try:
        output = anyio.run(run, url, tool, args)
    except BaseException as error:  # noqa: BLE001 - the contract is "message on stderr, non-zero exit"
        if isinstance(error, SystemExit):
            raise
        print(f"python_client failed: {describe(error)}", file=sys.stderr)
        sys.exit(1)
    json.dump(output, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
