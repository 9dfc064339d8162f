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
# List methods are evaluated once per listed item, without arguments.
methods := {
	"tools/call": {"kind": "tool", "arguments": true},
	"tools/list": {"kind": "tool", "arguments": false},
	"resources/read": {"kind": "resource", "arguments": false},
	"resources/subscribe": {"kind": "resource", "arguments": false},
	"resources/unsubscribe": {"kind": "resource", "arguments": false},
	"resources/list": {"kind": "resource", "arguments": false},
	"resources/templates/list": {"kind": "resource", "arguments": false},
	"prompts/get": {"kind": "prompt", "arguments": true},
	"prompts/list": {"kind": "prompt", "arguments": false},
	"completion/complete": {"kind": "completion", "arguments": false},
}

# request field naming the target, and the grant key listing its globs, per kind
target_field := {"tool": "tool", "resource": "uri", "prompt": "prompt"}

grant_key := {"tool": "tools", "resource": "resources", "prompt": "prompts"}

method := methods[input.request.method]

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

target := input.request[target_field[kind]]

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
	field := target_field[kind]
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

# An agent's own grants, then the grants of the groups it is a member of (data.gatehouse.agents[id].groups).
# Agents are looked up by exact id; an agent without an entry has no grants.
subject_grants contains {"id": grant_id(g, "agent", agent_id, i), "grant": g} if {
	some i, g in data.gatehouse.agents[agent_id].grants
}

subject_grants contains {"id": grant_id(g, "group", group, i), "grant": g} if {
	some group in data.gatehouse.agents[agent_id].groups
	some i, g in data.gatehouse.groups[group].grants
}

grant_id(g, _, _, _) := g.id if nonempty_string(g.id)

grant_id(g, type, owner, i) := concat("", [type, ":", owner, "#", format_int(i, 10)]) if {
	not nonempty_string(object.get(g, "id", null))
}

# Grants whose server and name globs cover this request (argument constraints not yet checked).
covering contains sg if {
	some sg in subject_grants
	some sp in object.get(sg.grant, "servers", [])
	name_match(sp, input.request.server)
	some np in object.get(sg.grant, grant_key[kind], [])
	name_match(np, target)
}

# Covering grants whose argument constraints hold (list methods and argument-less methods skip them).
allowing contains sg if {
	some sg in covering
	count(grant_violations(sg.grant)) == 0
}

constraint_reasons contains r if {
	some sg in covering
	some r in grant_violations(sg.grant)
}

# Name globs (servers, tools, resources, prompts) have no delimiters: `*` matches any run of characters,
# including "/", "." and ":"; `?`, `[a-z]`, `{a,b}` and `\\` escapes work as in glob.match. In WASM every
# glob.match compiles a regex on each evaluation (the module's caches live on the per-evaluation heap), so
# the common shapes take native string paths: "*", an exact name, "prefix*", "*suffix" and "*infix*".
name_match(p, s) if glob_eval(p, s) == true

# An else chain, so that the first shape that fits decides and the rest is never evaluated.
glob_eval(p, s) if {
	p == "*"
	is_string(s)
} else := false if {
	not is_string(p)
} else := p == s if {
	not has_glob_meta(p)
} else := startswith(s, trim_suffix(p, "*")) if {
	endswith(p, "*")
	not has_glob_meta(trim_suffix(p, "*"))
} else := endswith(s, trim_prefix(p, "*")) if {
	startswith(p, "*")
	not has_glob_meta(trim_prefix(p, "*"))
} else := contains(s, substring(p, 1, count(p) - 2)) if {
	startswith(p, "*")
	endswith(p, "*")
	count(p) > 2
	not has_glob_meta(substring(p, 1, count(p) - 2))
} else := glob.match(p, null, s)

glob_meta := ["*", "?", "[", "{", "\\"]

has_glob_meta(x) if {
	some m in glob_meta
	contains(x, m)
}

# A URI with a ".." segment (also percent-encoded, also after backslashes) could step out of a granted prefix.
uri_traversal if {
	kind == "resource"
	u := replace(lower(target), "\\", "/")
	some seg in split(u, "/")
	seg in {"..", "%2e%2e", ".%2e", "%2e."}
}

# --- argument constraints ----------------------------------------------------------------------------------

known_constraints := {"required", "pattern", "delimiters", "regex", "maxLength", "min", "max", "enum", "noTraversal"}

args := a if {
	a := input.request.arguments
	is_object(a)
} else := {}

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
	is_object(g.arguments)
}

grant_violations(g) := set() if {
	method.arguments
	not "arguments" in object.keys(g)
}

constraint_violations(name, c) := {concat("", ["argument \"", name, "\" has a misconfigured constraint"])} if not is_object(c)

constraint_violations(name, c) := failed | unknown if {
	is_object(c)
	failed := {concat("", ["argument \"", name, "\" violates its \"", check, "\" constraint"]) |
		some check in known_constraints
		violates(check, name, c)
	}
	unknown := {concat("", ["argument \"", name, "\" has an unknown constraint"]) |
		some key, _ in c
		not key in known_constraints
	}
}

has_arg(name) if name in object.keys(args)

violates("required", name, c) if {
	c.required == true
	not has_arg(name)
}

violates("pattern", name, c) if {
	p := c.pattern
	v := args[name]
	not pattern_ok(p, c, v)
}

# Without delimiters a pattern is a name glob (the string fast paths apply); with them, glob.match decides.
pattern_ok(p, c, v) if {
	not "delimiters" in object.keys(c)
	is_string(v)
	name_match(p, v)
}

pattern_ok(p, c, v) if {
	d := c.delimiters
	is_string(p)
	is_string(v)
	glob.match(p, d, v)
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
	some seg in split(replace(lower(v), "\\", "/"), "/")
	seg in {"..", "%2e%2e", ".%2e", "%2e."}
}

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

destructive_ok if not is_destructive

destructive_ok if {
	is_destructive
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

redact_server_ok(rule) if not "servers" in object.keys(rule)

redact_server_ok(rule) if {
	some p in rule.servers
	name_match(p, input.request.server)
}

redact_target_ok(rule) if {
	not "tools" in object.keys(rule)
	not "resources" in object.keys(rule)
	not "prompts" in object.keys(rule)
}

redact_target_ok(rule) if {
	some p in rule[grant_key[kind]]
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
