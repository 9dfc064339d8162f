# Tests for data.gatehouse.authz.decision. The shipped data.json is loaded; tests that need other grants
# replace data.gatehouse.agents / groups / settings / redact with `with`.
package gatehouse.authz_test

import data.gatehouse.authz

# --- fixtures ----------------------------------------------------------------------------------------------

base := {
	"version": 1,
	"identity": {"agentId": "demo", "issuer": "dev", "subject": "demo", "scopes": [], "claims": {"sub": "demo"}},
	"request": {"method": "tools/call", "server": "everything", "tool": "echo", "arguments": {"message": "hi"}},
	"tool": {"annotations": {"readOnlyHint": true}, "hash": "sha256:0"},
	"session": {"id": "s-1", "clientInfo": {"name": "test", "version": "1"}, "protocolVersion": "2025-11-25"},
	"time": {"now_ns": 1795000000000000000, "rfc3339": "2026-11-19T10:13:20Z"},
	"gateway": {"version": "0.1.0", "replica": "local"},
}

# base with the request replaced (not merged), as `agent` with `scopes`
req(agent, scopes, request) := object.union(object.remove(base, ["request", "identity"]), {
	"identity": object.union(base.identity, {"agentId": agent, "subject": agent, "scopes": scopes}),
	"request": request,
})

call(agent, server, tool, arguments) := req(agent, [], {"method": "tools/call", "server": server, "tool": tool, "arguments": arguments})

annotated(inp, annotations) := object.union(object.remove(inp, ["tool"]), {"tool": {"annotations": annotations, "hash": "sha256:1"}})

no_tool(inp) := object.remove(inp, ["tool"])

destructive := {"destructiveHint": true, "readOnlyHint": false}

fixture_agents := {
	"demo": data.gatehouse.agents.demo,
	"alice": {"groups": ["readers"], "grants": []},
	"bob": {
		"groups": ["readers", "writers", "no-such-group"],
		"grants": [{"id": "bob-github", "servers": ["github"], "tools": ["create_*"]}],
	},
	"carol": {"groups": [], "grants": [{
		"id": "carol-files",
		"servers": ["files"],
		"tools": ["read_text_file", "search_files"],
		"prompts": ["report"],
		"arguments": {
			"path": {"pattern": "/srv/docs/*", "required": true, "maxLength": 40, "noTraversal": true},
			"limit": {"min": 1, "max": 100},
			"format": {"enum": ["text", "markdown"]},
			"query": {"regex": "^[a-z0-9 ]+$"},
		},
	}]},
	"dave": {"groups": [], "grants": [{"id": "dave-glob", "servers": ["team-*"], "tools": ["get_?", "{list,describe}_*", "*_report", "*audit*"]}]},
}

fixture_groups := {
	"readers": {"grants": [{
		"id": "readers-files",
		"servers": ["files"],
		"tools": ["read_*", "list_directory"],
		"resources": ["file:///srv/docs/*"],
		"prompts": ["summarize"],
	}]},
	"writers": {"grants": [{
		"id": "writers-files",
		"servers": ["files"],
		"tools": ["write_file"],
		"arguments": {"path": {"pattern": "/srv/out/*", "delimiters": ["/"], "required": true}},
	}]},
}

dflt(inp) := d if {
	d := authz.decision with input as inp
}

decide(inp) := d if {
	d := authz.decision with input as inp
		with data.gatehouse.agents as fixture_agents
		with data.gatehouse.groups as fixture_groups
}

allowed(inp) if decide(inp).allow == true

denied_with(inp, reasons) if {
	d := decide(inp)
	d.allow == false
	d.reasons == reasons
}

no_grant := ["no grant allows this tool for this agent"]

# --- shipped defaults (data.json as is) --------------------------------------------------------------------

test_demo_calls_a_read_only_tool if {
	d := authz.decision with input as base
	d.allow == true
	d.reasons == ["allowed by grant \"demo-default\""]
}

test_demo_calls_an_unannotated_tool if {
	d := authz.decision with input as annotated(base, {})
	d.allow == true
}

test_demo_destructive_tool_denied_without_scope if {
	d := authz.decision with input as annotated(base, destructive)
	d.allow == false
	d.reasons == ["this tool is annotated destructive and requires scope \"tools:destructive\""]
}

test_demo_destructive_tool_allowed_with_scope if {
	inp := object.union(annotated(base, destructive), {"identity": {"scopes": ["tools:read", "tools:destructive"]}})
	d := authz.decision with input as inp
	d.allow == true
}

test_demo_reads_every_resource_and_gets_every_prompt if {
	r := req("demo", [], {"method": "resources/read", "server": "everything", "uri": "test://static/resource/1"})
	p := req("demo", [], {"method": "prompts/get", "server": "everything", "prompt": "complex_prompt", "arguments": {"temperature": "0.5"}})
	dflt(no_tool(r)).allow == true
	dflt(no_tool(p)).allow == true
}

test_unknown_agent_gets_nothing if {
	other := object.union(base, {"identity": {"agentId": "mallory"}})
	d := authz.decision with input as other
	d.allow == false
	d.reasons == no_grant
	r := req("mallory", [], {"method": "resources/read", "server": "everything", "uri": "test://x"})
	dflt(no_tool(r)).reasons == ["no grant allows this resource for this agent"]
	p := req("mallory", [], {"method": "prompts/list", "server": "everything", "prompt": "simple_prompt"})
	dflt(no_tool(p)).reasons == ["no grant allows this prompt for this agent"]
}

test_destructive_scope_alone_grants_nothing if {
	inp := annotated(req("mallory", ["tools:destructive"], base.request), destructive)
	d := authz.decision with input as inp
	d.allow == false
	d.reasons == no_grant
}

test_destructive_by_default_follows_mcp_defaults if {
	unannotated := annotated(base, {})
	d1 := authz.decision with input as unannotated with data.gatehouse.settings.destructiveByDefault as true
	d1.allow == false
	d2 := authz.decision with input as annotated(base, {"readOnlyHint": true}) with data.gatehouse.settings.destructiveByDefault as true
	d2.allow == true
	d3 := authz.decision with input as annotated(base, {"destructiveHint": false}) with data.gatehouse.settings.destructiveByDefault as true
	d3.allow == true
}

test_destructive_rule_without_settings_uses_the_default_scope if {
	d := authz.decision with input as annotated(base, destructive) with data.gatehouse.settings as {}
	d.reasons == ["this tool is annotated destructive and requires scope \"tools:destructive\""]
}

test_destructive_scope_name_comes_from_data if {
	inp := object.union(annotated(base, destructive), {"identity": {"scopes": ["tools:destructive"]}})
	d := authz.decision with input as inp with data.gatehouse.settings.destructiveScope as "admin:danger"
	d.allow == false
	d.reasons == ["this tool is annotated destructive and requires scope \"admin:danger\""]
}

# --- groups ------------------------------------------------------------------------------------------------

test_group_member_is_allowed if {
	d := decide(call("alice", "files", "read_text_file", {"path": "/srv/docs/a.md"}))
	d.allow == true
	d.reasons == ["allowed by grant \"readers-files\""]
}

test_group_grant_is_limited_to_its_servers if {
	denied_with(call("alice", "github", "read_text_file", {}), no_grant)
}

test_non_member_gets_no_group_grant if {
	denied_with(call("carol", "files", "list_directory", {"path": "/srv/docs/x"}), no_grant)
}

test_own_and_group_grants_add_up_and_unknown_groups_are_ignored if {
	allowed(call("bob", "github", "create_issue", {}))
	allowed(call("bob", "files", "read_media_file", {}))
	allowed(call("bob", "files", "write_file", {"path": "/srv/out/x.txt"}))
	denied_with(call("bob", "github", "delete_repo", {}), no_grant)
}

# --- globs -------------------------------------------------------------------------------------------------

test_tool_prefix_glob if {
	allowed(call("alice", "files", "read_multiple_files", {}))
	denied_with(call("alice", "files", "write_file", {}), no_grant)
	denied_with(call("alice", "files", "xread_file", {}), no_grant)
}

test_server_and_tool_glob_shapes if {
	allowed(call("dave", "team-a", "get_x", {})) # ?
	denied_with(call("dave", "team-a", "get_xy", {}), no_grant)
	allowed(call("dave", "team-b", "list_users", {})) # {a,b}
	allowed(call("dave", "team-b", "describe_user", {}))
	allowed(call("dave", "team-b", "weekly_report", {})) # *suffix
	allowed(call("dave", "team-b", "run_audit_now", {})) # *infix*
	denied_with(call("dave", "teams", "get_x", {}), no_grant)
}

# The string fast paths must agree with glob.match (no delimiters) on every shape.
test_name_match_agrees_with_glob_match if {
	cases := [
		["*", "any/thing.at:all"], ["read_*", "read_file"], ["read_*", "read_"], ["read_*", "xread_file"],
		["*_file", "read_file"], ["*_file", "read_files"], ["*audit*", "run_audit_now"], ["*audit*", "audit"],
		["*audit*", "aud"], ["exact", "exact"], ["exact", "exactly"], ["a.b", "a.b"], ["a.b", "aXb"],
		["get_?", "get_x"], ["[ab]*", "bcd"], ["{x,y}z", "yz"], ["**", "a/b"], ["a\\*", "a*"], ["a\\*", "ab"],
		["file:///srv/*", "file:///srv/a/b.md"], ["*", ""],
		# a pattern equal to the name: it matches unless a class, an alternation or an escape gets in the way
		["[ab]", "[ab]"], ["{x,y}", "{x,y}"], ["a\\*", "a\\*"], ["get_?", "get_?"], ["*x*", "*x*"], ["a?b", "a?b"],
		["", ""], ["(a)", "(a)"], ["$", "$"],
		# a first character that differs (or a metacharacter first)
		["x*", "y"], ["", "a"], ["server-1", "files"], ["?x", "ax"], ["[ab]x", "bx"], ["{a,b}x", "bx"],
		["\\*x", "*x"], ["(?", "(a"], ["$*", "$x"], ["(a)", "a"],
	]
	every c in cases {
		authz.glob_eval(c[0], c[1]) == glob.match(c[0], null, c[1])
	}
	count([c | some c in cases; glob.match(c[0], null, c[1])]) > 10
	count([c | some c in cases; not glob.match(c[0], null, c[1])]) > 5
}

test_a_glob_that_is_not_a_string_matches_nothing if {
	not authz.glob_eval(5, 5)
	not authz.glob_eval(null, null)
	not authz.glob_eval(5, "5")
	not authz.glob_eval("5", 5)
	not authz.glob_eval("*", 5)
}

# The same for patterns with delimiters, including where glob.match fails (a delimiter that is not one
# character): the fast paths must fail there too.
glob_outcome(p, d, s) := r if {
	r := glob.match(p, d, s)
} else := "undefined"

fast_outcome(p, d, s) := r if {
	r := authz.delimited_glob_eval(p, d, s)
} else := "undefined"

test_delimited_pattern_agrees_with_glob_match if {
	patterns := ["/srv/**", "/srv/*", "**", "*", "/srv/*/x", "/srv/**/x", "/srv/***", "a.*", "/s(rv/*", "x*"]
	delimiters := [["/"], ["/", "."], [], ["."], ["a", "-", "z"], ["//"], [5], ["é"], ["\n"]]
	values := [
		"/srv/", "/srv", "/srv/a", "/srv/a/b", "/srv/a.b", "/srv/a\nb", "/srv/a/x", "/srv/a/b/x", "/srv/*",
		"a.b", "a.", "a/b", "", "xb", "x-", "xé", "x\ny", "/s(rv/a", "/s(rv/a/b",
	]
	outcomes := [o |
		some p in patterns
		some d in delimiters
		some s in values
		o := [p, d, s, glob_outcome(p, d, s), fast_outcome(p, d, s)]
	]
	every o in outcomes {
		o[3] == o[4]
	}
	count([o | some o in outcomes; o[3] == true]) > 100
	count([o | some o in outcomes; o[3] == false]) > 100
}

alice_read(uri) := no_tool(req("alice", [], {"method": "resources/read", "server": "files", "uri": uri}))

test_resource_uri_glob if {
	allowed(alice_read("file:///srv/docs/guide.md"))
	allowed(alice_read("file:///srv/docs/a/b.md"))
	denied_with(alice_read("file:///etc/passwd"), ["no grant allows this resource for this agent"])
}

test_resource_uri_traversal_is_denied if {
	reason := ["resource URI contains a \"..\" path segment"]
	denied_with(alice_read("file:///srv/docs/../secrets.txt"), reason)
	denied_with(alice_read("file:///srv/docs/%2E%2E/secrets.txt"), reason)
	denied_with(alice_read("file:///srv/docs/..\\secrets.txt"), reason)
	allowed(alice_read("file:///srv/docs/notes..txt"))
}

# --- argument constraints ----------------------------------------------------------------------------------

carol(args) := call("carol", "files", "read_text_file", args)

test_arguments_that_satisfy_every_constraint if {
	d := decide(carol({"path": "/srv/docs/a.md", "limit": 10, "format": "markdown", "query": "q 1"}))
	d.allow == true
	d.reasons == ["allowed by grant \"carol-files\""]
}

test_argument_pattern_violation if {
	denied_with(carol({"path": "/etc/shadow"}), ["argument \"path\" violates its \"pattern\" constraint"])
}

test_argument_pattern_with_delimiters_does_not_cross_them if {
	allowed(call("bob", "files", "write_file", {"path": "/srv/out/x.txt"}))
	denied_with(
		call("bob", "files", "write_file", {"path": "/srv/out/sub/x.txt"}),
		["argument \"path\" violates its \"pattern\" constraint"],
	)
}

test_required_argument_missing if {
	denied_with(carol({"limit": 1}), ["argument \"path\" violates its \"required\" constraint"])
}

test_optional_argument_absent_is_fine if {
	allowed(carol({"path": "/srv/docs/a.md"}))
}

test_argument_max_length if {
	allowed(carol({"path": "/srv/docs/ééééé.md"})) # counts characters, not bytes
	long := "/srv/docs/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" # 50 characters
	denied_with(carol({"path": long}), ["argument \"path\" violates its \"maxLength\" constraint"])
}

test_argument_numeric_range if {
	allowed(carol({"path": "/srv/docs/a", "limit": 1}))
	allowed(carol({"path": "/srv/docs/a", "limit": 100}))
	denied_with(carol({"path": "/srv/docs/a", "limit": 0}), ["argument \"limit\" violates its \"min\" constraint"])
	denied_with(carol({"path": "/srv/docs/a", "limit": 101}), ["argument \"limit\" violates its \"max\" constraint"])
	denied_with(carol({"path": "/srv/docs/a", "limit": "5"}), [
		"argument \"limit\" violates its \"max\" constraint",
		"argument \"limit\" violates its \"min\" constraint",
	])
}

test_argument_enum if {
	allowed(carol({"path": "/srv/docs/a", "format": "text"}))
	denied_with(carol({"path": "/srv/docs/a", "format": "html"}), ["argument \"format\" violates its \"enum\" constraint"])
}

test_argument_regex if {
	denied_with(carol({"path": "/srv/docs/a", "query": "DROP TABLE;"}), ["argument \"query\" violates its \"regex\" constraint"])
}

test_argument_traversal if {
	denied_with(carol({"path": "/srv/docs/../../etc/passwd"}), ["argument \"path\" violates its \"noTraversal\" constraint"])
}

test_several_violations_are_all_reported_sorted if {
	denied_with(carol({"path": "/etc/x", "limit": 0, "format": "pdf"}), [
		"argument \"format\" violates its \"enum\" constraint",
		"argument \"limit\" violates its \"min\" constraint",
		"argument \"path\" violates its \"pattern\" constraint",
	])
}

test_misconfigured_constraints_fail_closed if {
	bad := {"eve": {"groups": [], "grants": [
		{"id": "typo", "servers": ["*"], "tools": ["a"], "arguments": {"x": {"maxLen": 3}}},
		{"id": "wrong-type", "servers": ["*"], "tools": ["b"], "arguments": {"x": {"maxLength": "3"}}},
		{"id": "not-object", "servers": ["*"], "tools": ["c"], "arguments": ["x"]},
		{"id": "constraint-not-object", "servers": ["*"], "tools": ["d"], "arguments": {"x": 5}},
	]}}
	d1 := authz.decision with input as call("eve", "s", "a", {"x": "long value"}) with data.gatehouse.agents as bad
	d1.reasons == ["argument \"x\" has an unknown constraint"]
	d2 := authz.decision with input as call("eve", "s", "b", {"x": "long value"}) with data.gatehouse.agents as bad
	d2.reasons == ["argument \"x\" violates its \"maxLength\" constraint"]
	d3 := authz.decision with input as call("eve", "s", "c", {"x": 1}) with data.gatehouse.agents as bad
	d3.reasons == ["a grant has misconfigured argument constraints"]
	d4 := authz.decision with input as call("eve", "s", "d", {"x": 5}) with data.gatehouse.agents as bad
	d4.reasons == ["argument \"x\" has a misconfigured constraint"]
	not d4.allow
	not d1.allow
	not d2.allow
	not d3.allow
}

test_any_satisfied_grant_allows if {
	two := {"frank": {"groups": [], "grants": [
		{"id": "narrow", "servers": ["files"], "tools": ["read_*"], "arguments": {"path": {"pattern": "/a/*"}}},
		{"id": "wide", "servers": ["files"], "tools": ["read_text_file"], "arguments": {"path": {"pattern": "/b/*"}}},
	]}}
	d := authz.decision with input as call("frank", "files", "read_text_file", {"path": "/b/x"}) with data.gatehouse.agents as two
	d.allow == true
	d.reasons == ["allowed by grant \"wide\""]
}

carol_prompt(args) := no_tool(req("carol", [], {"method": "prompts/get", "server": "files", "prompt": "report", "arguments": args}))

test_prompt_arguments_are_checked if {
	allowed(carol_prompt({"path": "/srv/docs/q3"}))
	denied_with(carol_prompt({"path": "/home/x"}), ["argument \"path\" violates its \"pattern\" constraint"])
}

test_required_means_present_and_odd_grants_fail_closed if {
	g := {"ivy": {"groups": [], "grants": [
		{"id": "req", "servers": ["s"], "tools": ["r"], "arguments": {"x": {"required": true}}},
		{"id": "delims-only", "servers": ["s"], "tools": ["d"], "arguments": {"x": {"delimiters": ["/"]}}},
		{"id": "null-args", "servers": ["s"], "tools": ["n"], "arguments": null},
		{"id": "null-constraint", "servers": ["s"], "tools": ["c"], "arguments": {"x": null}},
		"not-a-grant",
		{"id": "no-lists"},
	]}}
	allowed_as(g, call("ivy", "s", "r", {"x": null}))
	allowed_as(g, call("ivy", "s", "r", {"x": false}))
	d1 := authz.decision with input as call("ivy", "s", "r", {"y": 1}) with data.gatehouse.agents as g
	d1.reasons == ["argument \"x\" violates its \"required\" constraint"]
	allowed_as(g, call("ivy", "s", "d", {"x": "a/b"}))
	d2 := authz.decision with input as call("ivy", "s", "n", {}) with data.gatehouse.agents as g
	d2.reasons == ["a grant has misconfigured argument constraints"]
	d3 := authz.decision with input as call("ivy", "s", "c", {}) with data.gatehouse.agents as g
	d3.reasons == ["argument \"x\" has a misconfigured constraint"]

	# list items skip argument constraints, misconfigured ones included
	allowed_as(g, req("ivy", [], {"method": "tools/list", "server": "s", "tool": "n"}))
	allowed_as(g, req("ivy", [], {"method": "tools/list", "server": "s", "tool": "c"}))
}

allowed_as(agents, inp) if {
	d := authz.decision with input as inp with data.gatehouse.agents as agents
	d.allow == true
}

test_argument_traversal_spellings if {
	g := {"ivy": {"groups": [], "grants": [{"id": "nt", "servers": ["s"], "tools": ["t"], "arguments": {"p": {"noTraversal": true}}}]}}
	reason := ["argument \"p\" violates its \"noTraversal\" constraint"]
	every p in ["..", "a/../b", "a/.%2E/b", "a/%2e./b", "a/%2E%2e", "a\\..\\b", "../"] {
		d := authz.decision with input as call("ivy", "s", "t", {"p": p}) with data.gatehouse.agents as g
		d.reasons == reason
	}
	every p in ["a..b", "a/...", "a/.%2e%2e", "a/%2e", "a/.", "%2e%2e%2e", "a%2fb"] {
		allowed_as(g, call("ivy", "s", "t", {"p": p}))
	}
}

test_a_grant_reached_twice_is_named_once if {
	agents := {
		"dup": {"groups": ["readers", "readers"], "grants": []},
		"twice": {"groups": [], "grants": [
			{"id": "same", "servers": ["s"], "tools": ["t"], "rateLimit": {"perMinute": 10}},
			{"id": "same", "servers": ["*", "s"], "tools": ["t", "t*"], "rateLimit": {"perMinute": 20}},
		]},
	}
	d1 := authz.decision with input as call("dup", "files", "read_file", {}) with data.gatehouse.agents as agents
		with data.gatehouse.groups as fixture_groups
	d1.reasons == ["allowed by grant \"readers-files\""]
	d2 := authz.decision with input as call("twice", "s", "t", {}) with data.gatehouse.agents as agents
	d2.reasons == ["allowed by grant \"same\""]
	d2.obligations.rateLimit == {"key": "grant:same", "perMinute": 20}
}

# --- list evaluation (per item, without arguments) ---------------------------------------------------------

test_tools_list_item_is_evaluated_without_arguments if {
	item := req("carol", [], {"method": "tools/list", "server": "files", "tool": "read_text_file"})
	allowed(item) # the required "path" is checked at call time, not at list time
	denied_with(carol({}), ["argument \"path\" violates its \"required\" constraint"])
}

test_tools_list_hides_ungranted_and_destructive_tools if {
	denied_with(req("alice", [], {"method": "tools/list", "server": "files", "tool": "write_file"}), no_grant)
	hidden := annotated(req("demo", [], {"method": "tools/list", "server": "everything", "tool": "delete_all"}), destructive)
	dflt(hidden).allow == false
	shown := object.union(hidden, {"identity": {"scopes": ["tools:destructive"]}})
	dflt(shown).allow == true
}

test_resource_and_prompt_list_items if {
	allowed(no_tool(req("alice", [], {"method": "resources/list", "server": "files", "uri": "file:///srv/docs/a.md"})))
	allowed(no_tool(req("alice", [], {"method": "resources/templates/list", "server": "files", "uri": "file:///srv/docs/{name}"})))
	allowed(no_tool(req("alice", [], {"method": "prompts/list", "server": "files", "prompt": "summarize"})))
	denied_with(
		no_tool(req("alice", [], {"method": "prompts/list", "server": "files", "prompt": "other"})),
		["no grant allows this prompt for this agent"],
	)
}

test_completion_is_checked_against_its_prompt_or_resource if {
	allowed(no_tool(req("alice", [], {"method": "completion/complete", "server": "files", "prompt": "summarize"})))
	allowed(no_tool(req("alice", [], {"method": "completion/complete", "server": "files", "uri": "file:///srv/docs/{x}"})))
	denied_with(
		no_tool(req("alice", [], {"method": "completion/complete", "server": "files", "uri": "file:///etc/{x}"})),
		["no grant allows this resource for this agent"],
	)
	denied_with(
		no_tool(req("alice", [], {"method": "completion/complete", "server": "files"})),
		["completion/complete needs request.prompt or request.uri"],
	)
}

# --- malformed input (fail closed, say why) ----------------------------------------------------------------

test_wrong_input_version if {
	d := authz.decision with input as object.union(base, {"version": 2})
	d.allow == false
	d.reasons == ["unsupported input version (expected 1)"]
}

test_missing_identity_and_server if {
	inp := object.remove(base, ["identity", "request"])
	d := authz.decision with input as object.union(inp, {"request": {"method": "tools/call", "tool": "echo"}})
	d.allow == false
	d.reasons == ["missing identity.agentId", "missing request.server"]
}

test_unknown_method if {
	d := authz.decision with input as object.union(base, {"request": {"method": "sampling/createMessage"}})
	d.allow == false
	d.reasons == ["this method is not covered by the policy"]
}

test_missing_tool_name_and_tool_document if {
	inp := no_tool(req("demo", [], {"method": "tools/call", "server": "everything"}))
	d := authz.decision with input as inp
	d.allow == false
	d.reasons == ["missing request.tool", "missing tool (annotations and hash) for a tool request"]
}

test_bad_types_in_identity_and_arguments if {
	inp := object.union(req("demo", "tools:destructive", base.request), {"request": {"arguments": ["a"]}})
	d := authz.decision with input as inp
	d.allow == false
	d.reasons == ["identity.scopes must be an array of strings", "request.arguments must be an object"]
	null_args := object.union(base, {"request": {"arguments": null}})
	dflt(null_args).allow == true
}

test_input_that_is_not_an_object if {
	d := authz.decision with input as "tools/call everything echo"
	d.allow == false
	d.reasons == ["input must be an object"]
}

test_missing_input_version if {
	d := dflt(object.remove(base, ["version"]))
	d.allow == false
	d.reasons == ["unsupported input version (expected 1)"]
}

test_every_malformed_input_is_denied_with_a_reason if {
	inputs := [
		{}, [], null, 42, {"version": 1}, {"version": 1, "identity": {}},
		{"version": 1, "identity": {"agentId": "demo"}, "request": {"method": "tools/call"}},
		{"version": 1, "identity": {"agentId": "demo"}, "request": {"method": "tools/call", "server": "s", "tool": 7}, "tool": {}},
		{"version": 1, "identity": {"agentId": ""}, "request": {"method": "resources/read", "server": "s", "uri": ""}},
	]
	every inp in inputs {
		d := dflt(inp)
		d.allow == false
		count(d.reasons) > 0
		is_object(d.obligations)
	}
}

test_unsupported_data_version if {
	d := authz.decision with input as base with data.gatehouse.version as 2
	d.allow == false
	d.reasons == ["policy data is missing or has an unsupported version (expected 1)"]
}

# --- reasons and obligations -------------------------------------------------------------------------------

test_decision_shape if {
	d := authz.decision with input as base
	object.keys(d) == {"allow", "reasons", "obligations"}
	is_boolean(d.allow)
	is_array(d.reasons)
	is_object(d.obligations)
	count(d.reasons) > 0
}

test_reasons_never_echo_what_the_agent_sent if {
	secret := "SECRET-7f3a"
	inps := [
		call("alice", "files", concat("", ["read_", secret]), {"path": secret}),
		call("alice", secret, "read_file", {}),
		call("carol", "files", "read_text_file", {"path": secret, "format": secret}),
		object.union(call("mallory", "x", secret, {}), {"request": {"method": secret}}),
		no_tool(req("alice", [], {"method": "resources/read", "server": "files", "uri": concat("", ["file:///srv/docs/../", secret])})),
	]
	every inp in inps {
		d := decide(inp)
		every r in d.reasons {
			not contains(r, secret)
		}
	}
}

test_default_redact_obligation_applies_to_allows_and_denies if {
	pointers := [
		"/request/arguments/apiKey", "/request/arguments/password",
		"/request/arguments/secret", "/request/arguments/token",
	]
	dflt(base).obligations == {"redact": pointers}
	denied := object.union(base, {"identity": {"agentId": "mallory"}})
	dflt(denied).obligations == {"redact": pointers}
}

test_redact_rules_scoped_by_server_and_tool if {
	rules := [
		{"pointers": ["/identity/claims"]},
		{"servers": ["github"], "tools": ["create_*"], "pointers": ["/request/arguments/body"]},
		{"servers": ["github"], "prompts": ["*"], "pointers": ["/request/arguments/context"]},
	]
	d1 := authz.decision with input as call("demo", "github", "create_issue", {}) with data.gatehouse.redact as rules
	d1.obligations.redact == ["/identity/claims", "/request/arguments/body"]
	d2 := authz.decision with input as call("demo", "github", "list_issues", {}) with data.gatehouse.redact as rules
	d2.obligations.redact == ["/identity/claims"]
	d3 := authz.decision with input as call("demo", "other", "create_issue", {}) with data.gatehouse.redact as rules
	d3.obligations.redact == ["/identity/claims"]
}

test_redact_rule_keys_count_when_present_whatever_their_value if {
	rules := [
		{"servers": null, "pointers": ["/a"]},
		{"tools": null, "pointers": ["/b"]},
		{"servers": ["*"], "tools": false, "pointers": ["/c"]},
		{"servers": ["*"], "pointers": ["/d", 5]},
	]
	d := authz.decision with input as base with data.gatehouse.redact as rules
	d.obligations.redact == ["/d"]
}

limited := {"gina": {"groups": [], "grants": [
	{"id": "slow", "servers": ["s"], "tools": ["t*"], "rateLimit": {"perMinute": 10}},
	{"id": "fast", "servers": ["s"], "tools": ["tool"], "rateLimit": {"perMinute": 60}},
	{"id": "unlimited", "servers": ["s"], "tools": ["tool_free"]},
	{"id": "limited-too", "servers": ["s"], "tools": ["tool_free"], "rateLimit": {"perMinute": 5}},
]}}

test_rate_limit_obligation_from_the_allowing_grant if {
	d := authz.decision with input as call("gina", "s", "tick", {}) with data.gatehouse.agents as limited
	d.obligations.rateLimit == {"key": "grant:slow", "perMinute": 10}
}

test_rate_limit_is_the_most_generous_of_the_allowing_grants if {
	d := authz.decision with input as call("gina", "s", "tool", {}) with data.gatehouse.agents as limited
	d.reasons == ["allowed by grant \"fast\"", "allowed by grant \"slow\""]
	d.obligations.rateLimit == {"key": "grant:fast", "perMinute": 60}
}

test_no_rate_limit_when_an_unlimited_grant_allows if {
	d := authz.decision with input as call("gina", "s", "tool_free", {}) with data.gatehouse.agents as limited
	d.allow == true
	not "rateLimit" in object.keys(d.obligations)
}

test_no_rate_limit_on_a_deny if {
	d := authz.decision with input as annotated(call("gina", "s", "tick", {}), destructive) with data.gatehouse.agents as limited
	d.allow == false
	d.obligations == {"redact": ["/request/arguments/apiKey", "/request/arguments/password", "/request/arguments/secret", "/request/arguments/token"]}
}

test_unnamed_grants_get_a_positional_id if {
	anon := {"hank": {"groups": ["g"], "grants": [{"servers": ["*"], "tools": ["x"]}]}}
	groups := {"g": {"grants": [{"servers": ["*"], "tools": ["y"]}, {"servers": ["*"], "tools": ["y"]}]}}
	d1 := authz.decision with input as call("hank", "s", "x", {}) with data.gatehouse.agents as anon
	d1.reasons == ["allowed by grant \"agent:hank#0\""]
	d2 := authz.decision with input as call("hank", "s", "y", {}) with data.gatehouse.agents as anon with data.gatehouse.groups as groups
	d2.reasons == ["allowed by grant \"group:g#0\"", "allowed by grant \"group:g#1\""]
}
