# Gatehouse authorization policy. Input document v1 and data layout: policies/README.md.
#
# Entrypoint: data.gatehouse.authz.decision = {"allow": bool, "reasons": [string], "obligations": {...}}.
# Every builtin used here must be in policies/capabilities.json (what opa-wasm can evaluate); `opa build`
# refuses anything else.
package gatehouse.authz

# --- entrypoint -------------------------------------------------------------------------------------------

# Default deny: whatever the input, the entrypoint is never undefined.
default decision := {
	"allow": false,
	"reasons": ["denied by default: the policy produced no decision"],
	"obligations": {"redact": []},
}

decision := {"allow": allow, "reasons": reasons, "obligations": obligations}

default allow := false

allow if {
	count(input_errors) == 0
	count(data_errors) == 0
	not uri_traversal
	count(allowing) > 0
	destructive_ok
}

# Reasons are fixed strings or names an administrator wrote in data (grant ids, argument names, the scope);
# never values the agent sent and never a dump of data.
reasons := sort(input_errors) if {
	count(input_errors) > 0
} else := sort(data_errors) if {
	count(data_errors) > 0
} else := ["resource URI contains a \"..\" path segment"] if {
	uri_traversal
} else := [concat("", ["no grant allows this ", kind, " for this agent"])] if {
	count(covering) == 0
} else := sort(constraint_reasons) if {
	count(allowing) == 0
	count(constraint_reasons) > 0
} else := [concat("", ["this tool is annotated destructive and requires scope \"", destructive_scope, "\""])] if {
	count(allowing) > 0
	not destructive_ok
} else := sort({concat("", ["allowed by grant \"", g.id, "\""]) | some g in allowing}) if {
	allow
} else := ["denied: no rule allows this request"]

obligations := {"redact": redact, "rateLimit": rate_limit} if {
	allow
	rate_limit
} else := {"redact": redact}

# --- input validation (fail closed) -----------------------------------------------------------------------

# The methods the policy decides, the grant list they consult, and whether their arguments are checked.
# List methods are evaluated once per listed item, without arguments. (One rule per method rather than a
# table indexed by the method: a table would be built on every evaluation.)
method := {"kind": "tool", "arguments": true} if input.request.method == "tools/call"

method := {"kind": "tool", "arguments": false} if input.request.method == "tools/list"

method := {"kind": "resource", "arguments": false} if input.request.method == "resources/read"

method := {"kind": "resource", "arguments": false} if input.request.method == "resources/subscribe"

method := {"kind": "resource", "arguments": false} if input.request.method == "resources/unsubscribe"

method := {"kind": "resource", "arguments": false} if input.request.method == "resources/list"

method := {"kind": "resource", "arguments": false} if input.request.method == "resources/templates/list"

method := {"kind": "prompt", "arguments": true} if input.request.method == "prompts/get"

method := {"kind": "prompt", "arguments": false} if input.request.method == "prompts/list"

method := {"kind": "completion", "arguments": false} if input.request.method == "completion/complete"

# The request field naming the target, and the grant key listing its globs, for this request's kind.
target_field := "tool" if kind == "tool"

target_field := "uri" if kind == "resource"

target_field := "prompt" if kind == "prompt"

kind_key := "tools" if kind == "tool"

kind_key := "resources" if kind == "resource"

kind_key := "prompts" if kind == "prompt"

kind := method.kind if method.kind != "completion"

# completion/complete completes a prompt argument (ref/prompt) or a resource template (ref/resource).
kind := "prompt" if {
	method.kind == "completion"
	nonempty_string(input.request.prompt)
}

kind := "resource" if {
	method.kind == "completion"
	not nonempty_string(object.get(input.request, "prompt", null))
	nonempty_string(input.request.uri)
}

target := input.request[target_field]

input_errors contains "input must be an object" if not input_is_object

input_is_object if is_object(input)

input_errors contains "unsupported input version (expected 1)" if {
	is_object(input)
	not input.version == 1
}

input_errors contains "missing identity.agentId" if {
	is_object(input)
	not nonempty_string(object.get(input, ["identity", "agentId"], null))
}

input_errors contains "identity.scopes must be an array of strings" if {
	is_object(input)
	scopes := input.identity.scopes
	not string_array(scopes)
}

input_errors contains "missing request.server" if {
	is_object(input)
	not nonempty_string(object.get(input, ["request", "server"], null))
}

input_errors contains "this method is not covered by the policy" if {
	is_object(input)
	not method
}

input_errors contains "completion/complete needs request.prompt or request.uri" if {
	method.kind == "completion"
	not kind
}

input_errors contains concat("", ["missing request.", field]) if {
	field := target_field
	not nonempty_string(object.get(input.request, field, null))
}

input_errors contains "missing tool (annotations and hash) for a tool request" if {
	kind == "tool"
	not is_object(object.get(input, "tool", null))
}

input_errors contains "request.arguments must be an object" if {
	method.arguments
	args := input.request.arguments
	not is_object(args)
	not is_null(args)
}

data_errors contains "policy data is missing or has an unsupported version (expected 1)" if {
	not data.gatehouse.version == 1
}

# Note: `not f(input.a.b)` does NOT hold when input.a.b is missing (the ref is evaluated outside the `not`),
# so checks for absent fields read them with object.get and a null default.
nonempty_string(s) if {
	is_string(s)
	s != ""
}

string_array(a) if {
	is_array(a)
	every x in a {
		is_string(x)
	}
}

# --- subjects and grants -----------------------------------------------------------------------------------

agent_id := input.identity.agentId

scopes := s if {
	s := input.identity.scopes
	string_array(s)
} else := []

# The grants whose server and name globs cover this request (argument constraints not yet checked), among
# the agent's own (its entry is looked up by exact id) and those of the groups it is a member of
# (data.gatehouse.agents[id].groups). An agent without an entry has no grants; a group without an entry is
# ignored. What is per request (the server, the grant key, the name) is read once, not per grant.
#
# covering and allowing are arrays of {"id", "grant"}, not sets: adding to a set hashes the whole grant
# object, and that dominated the evaluation time. An array may hold the same grant twice (a group listed
# twice); nothing counts them: the reasons and rate limits are sets, and the rest only asks whether the
# array is empty or whether every element qualifies.
covering := array.concat(own, shared) if {
	agent := data.gatehouse.agents[agent_id]
	server := input.request.server
	key := kind_key
	name := target
	own := [{"id": grant_id(g, "agent", agent_id, i), "grant": g} |
		some i, g in agent.grants
		grant_server_ok(g, server)
		grant_name_ok(g, key, name)
	]
	shared := [{"id": grant_id(g, "group", group, i), "grant": g} |
		some group in agent.groups
		some i, g in data.gatehouse.groups[group].grants
		grant_server_ok(g, server)
		grant_name_ok(g, key, name)
	]
} else := []

grant_id(g, type, owner, i) := g.id if {
	nonempty_string(g.id)
} else := concat("", [type, ":", owner, "#", format_int(i, 10)])

# The server first: most grants of an agent are for other servers, and most server globs are exact names.
# (g.servers rather than object.get(g, "servers", []): a grant without the list, or a grant that is not an
# object, has nothing to iterate either way.)
grant_server_ok(g, server) if {
	some sp in g.servers
	glob_eval(sp, server)
}

grant_name_ok(g, key, name) if {
	some np in g[key]
	glob_eval(np, name)
}

# Covering grants whose argument constraints hold (list methods and argument-less methods skip them).
# arguments_ok(g) holds exactly when grant_violations(g) is empty, without building the messages.
allowing := covering if {
	not method.arguments
} else := [sg |
	some sg in covering
	arguments_ok(sg.grant)
]

constraint_reasons contains r if {
	some sg in covering
	some r in grant_violations(sg.grant)
}

# Name globs (servers, tools, resources, prompts) have no delimiters: `*` matches any run of characters,
# including "/", "." and ":"; `?`, `[a-z]`, `{a,b}` and `\\` escapes work as in glob.match. In WASM every
# glob.match compiles a regex on each evaluation (the module's caches live on the per-evaluation heap), so
# the common shapes take native string paths: "*", an exact name, "prefix*", "*suffix" and "*infix*".
name_match(p, s) if glob_eval(p, s)

# glob.match(p, null, s), as true or false (or undefined where glob.match is). An else chain, so that the
# first shape that fits decides and the rest is never evaluated; the cheapest come first.
glob_eval(p, s) if {
	p == s
	is_string(p)
	literal(p)
} else if {
	p == "*"
	is_string(s)
} else := false if {
	not is_string(p)
} else := false if {
	# p starts with a plain character, which any match must start with too, and s does not. (Not for p == "",
	# whose c is "". Nor for "(", ")", "$" or NUL: glob.match in WASM passes them to RE2 unescaped, or cuts
	# the pattern there, and this must answer as it does.)
	c := substring(p, 0, 1)
	not contains("*?[{\\()$\u0000", c)
	not startswith(s, c)
} else := false if {
	literal(p) # an exact name, and not this one
} else := startswith(s, trim_suffix(p, "*")) if {
	endswith(p, "*")
	literal(trim_suffix(p, "*"))
} else := endswith(s, trim_prefix(p, "*")) if {
	startswith(p, "*")
	literal(trim_prefix(p, "*"))
} else := contains(s, substring(p, 1, count(p) - 2)) if {
	startswith(p, "*")
	endswith(p, "*")
	count(p) > 2
	literal(substring(p, 1, count(p) - 2))
} else := glob.match(p, null, s)

# The string x has none of the glob metacharacters (one body, so it stops at the first one found).
literal(x) if {
	not contains(x, "*")
	not contains(x, "?")
	not contains(x, "[")
	not contains(x, "{")
	not contains(x, "\\")
}

# glob.match(p, d, s) for a pattern with delimiters, as true or false (or undefined where glob.match is).
# "prefix**" and "prefix*" are decided with string builtins: `**` crosses delimiters, `*` does not. Only
# where that is exactly what glob.match answers, in `opa test` and in WASM alike; everything else goes to
# glob.match:
# - every delimiter must be one character (else glob.match fails), and not "-" or NUL (WASM puts the
#   delimiters in an RE2 class unescaped: ["a", "-", "z"] would be the range a-z);
# - the prefix must not hold "(", ")", "$" or NUL (WASM passes them to RE2 unescaped, or cuts there);
# - for `**`, the value must not hold a newline: WASM turns `**` into RE2 `.*`, which stops at one.
delimited_glob_eval(p, d, s) := startswith(s, trim_suffix(p, "**")) if {
	endswith(p, "**")
	plain_prefix(trim_suffix(p, "**"))
	plain_delimiters(d)
	not contains(s, "\n")
} else := no_delimiter_after(trim_suffix(p, "*"), d, s) if {
	endswith(p, "*")
	plain_prefix(trim_suffix(p, "*"))
	count(d) > 0
	plain_delimiters(d)
} else := glob.match(p, d, s)

plain_prefix(x) if {
	literal(x)
	not contains(x, "(")
	not contains(x, ")")
	not contains(x, "$")
	not contains(x, "\u0000")
}

plain_delimiters(d) if {
	is_array(d)
	every x in d {
		is_string(x)
		count(x) == 1
		x != "-"
		x != "\u0000"
	}
}

no_delimiter_after(prefix, d, s) if {
	startswith(s, prefix)
	rest := trim_prefix(s, prefix)
	not any_contains(rest, d)
}

no_delimiter_after(prefix, _, s) := false if not startswith(s, prefix)

any_contains(s, xs) if {
	some x in xs
	contains(s, x)
}

# A URI with a ".." segment (also percent-encoded, also after backslashes) could step out of a granted prefix.
uri_traversal if {
	kind == "resource"
	lu := lower(target)
	may_have_dot_dot(lu)
	some seg in split(replace(lu, "\\", "/"), "/")
	seg in traversal_segments
}

# --- argument constraints ----------------------------------------------------------------------------------

# The constraint keys. (A function rather than a set: a set would be built on every evaluation, and a
# membership test hashes the key; these are a few string comparisons.)
known_constraint("required")

known_constraint("pattern")

known_constraint("delimiters")

known_constraint("regex")

known_constraint("maxLength")

known_constraint("min")

known_constraint("max")

known_constraint("enum")

known_constraint("noTraversal")

args := a if {
	a := input.request.arguments
	is_object(a)
} else := {}

arguments_ok(g) if {
	a := object.get(g, "arguments", {})
	is_object(a)
	every name, c in a {
		constraint_ok(name, c)
	}
}

# Every violates(check, ...) below needs c[check], so the checks that can fail are c's own keys.
constraint_ok(name, c) if {
	is_object(c)
	every check, _ in c {
		known_constraint(check)
		not violates(check, name, c)
	}
}

# The messages, for a deny (only evaluated when no covering grant is satisfied).
grant_violations(_) := set() if not method.arguments

grant_violations(g) := {"a grant has misconfigured argument constraints"} if {
	method.arguments
	not is_object(object.get(g, "arguments", {}))
}

grant_violations(g) := {msg |
	some name, c in g.arguments
	some msg in constraint_violations(name, c)
} if {
	method.arguments
	is_object(object.get(g, "arguments", {}))
}

constraint_violations(name, c) := {concat("", ["argument \"", name, "\" has a misconfigured constraint"])} if not is_object(c)

constraint_violations(name, c) := failed | unknown if {
	is_object(c)
	failed := {concat("", ["argument \"", name, "\" violates its \"", check, "\" constraint"]) |
		some check, _ in c
		known_constraint(check)
		violates(check, name, c)
	}
	unknown := {concat("", ["argument \"", name, "\" has an unknown constraint"]) |
		some key, _ in c
		not known_constraint(key)
	}
}

# Presence, whatever the value (null and false included).
has_key(o, k) if {
	_ = o[k]
}

has_arg(name) if has_key(args, name)

violates("required", name, c) if {
	c.required == true
	not has_arg(name)
}

violates("pattern", name, c) if {
	p := c.pattern
	v := args[name]
	not pattern_ok(p, c, v)
}

# Without delimiters a pattern is a name glob; with them, `*` stops at a delimiter. Both take string fast
# paths for the common shapes before glob.match.
pattern_ok(p, c, v) if {
	not has_key(c, "delimiters")
	is_string(v)
	name_match(p, v)
}

pattern_ok(p, c, v) if {
	d := c.delimiters
	is_string(p)
	is_string(v)
	delimited_glob_eval(p, d, v)
}

violates("regex", name, c) if {
	r := c.regex
	v := args[name]
	not regex_ok(r, v)
}

regex_ok(r, v) if {
	is_string(r)
	is_string(v)
	regex.match(r, v)
}

violates("maxLength", name, c) if {
	n := c.maxLength
	v := args[name]
	not max_length_ok(n, v)
}

max_length_ok(n, v) if {
	is_number(n)
	is_string(v)
	count(v) <= n
}

violates("min", name, c) if {
	m := c.min
	v := args[name]
	not min_ok(m, v)
}

min_ok(m, v) if {
	is_number(m)
	is_number(v)
	v >= m
}

violates("max", name, c) if {
	m := c.max
	v := args[name]
	not max_ok(m, v)
}

max_ok(m, v) if {
	is_number(m)
	is_number(v)
	v <= m
}

violates("enum", name, c) if {
	e := c.enum
	v := args[name]
	not enum_ok(e, v)
}

enum_ok(e, v) if {
	is_array(e)
	v in e
}

violates("noTraversal", name, c) if {
	c.noTraversal == true
	v := args[name]
	not no_traversal_ok(v)
}

no_traversal_ok(v) if {
	is_string(v)
	not has_dot_dot(v)
}

has_dot_dot(v) if {
	lv := lower(v)
	may_have_dot_dot(lv)
	some seg in split(replace(lv, "\\", "/"), "/")
	seg in traversal_segments
}

traversal_segments := {"..", "%2e%2e", ".%2e", "%2e."}

# Each of traversal_segments contains ".." or "%2e": without either (the common case) there is no need to
# split the value.
may_have_dot_dot(lv) if contains(lv, "..")

may_have_dot_dot(lv) if contains(lv, "%2e")

# --- destructive tools -------------------------------------------------------------------------------------

destructive_scope := s if {
	s := data.gatehouse.settings.destructiveScope
	nonempty_string(s)
} else := "tools:destructive"

# A tool is destructive when its server annotates it so. With settings.destructiveByDefault, the MCP
# defaults apply instead: destructive unless annotated readOnlyHint: true or destructiveHint: false.
is_destructive if {
	kind == "tool"
	input.tool.annotations.destructiveHint == true
}

is_destructive if {
	kind == "tool"
	data.gatehouse.settings.destructiveByDefault == true
	not input.tool.annotations.readOnlyHint == true
	not input.tool.annotations.destructiveHint == false
}

destructive_ok if {
	not is_destructive
} else if {
	destructive_scope in scopes
}

# --- obligations -------------------------------------------------------------------------------------------

# redact: JSON pointers (RFC 6901) into this input document that the audit log must redact before writing.
# They apply to denials too: a refused call is still recorded.
redact := sort({p |
	some rule in redact_rules
	redact_applies(rule)
	some p in rule.pointers
	is_string(p)
})

redact_rules := r if {
	r := data.gatehouse.redact
	is_array(r)
} else := []

redact_applies(rule) if {
	redact_server_ok(rule)
	redact_target_ok(rule)
}

redact_server_ok(rule) if {
	not has_key(rule, "servers")
} else if {
	some p in rule.servers
	name_match(p, input.request.server)
}

redact_target_ok(rule) if {
	not has_key(rule, "tools")
	not has_key(rule, "resources")
	not has_key(rule, "prompts")
} else if {
	some p in rule[kind_key]
	name_match(p, target)
}

# rateLimit: present only when every allowing grant sets one (an unlimited grant that allows is unlimited);
# then the most generous of them, keyed by its grant so the gateway counts per (agentId, key).
rate_limits contains {"key": concat("", ["grant:", sg.id]), "perMinute": sg.grant.rateLimit.perMinute} if {
	some sg in allowing
	is_number(sg.grant.rateLimit.perMinute)
	sg.grant.rateLimit.perMinute > 0
}

rate_limit := sort([r | some r in rate_limits; r.perMinute == best])[0] if {
	count(allowing) > 0
	every sg in allowing {
		is_number(sg.grant.rateLimit.perMinute)
		sg.grant.rateLimit.perMinute > 0
	}
	best := max({r.perMinute | some r in rate_limits})
}
