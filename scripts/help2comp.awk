# Read one `wanctl COMMAND --help` text (variable cmd = the command) and
# print the completion data of that command as one line:
#   cmd;subs;opts;args;pos
# subs: subcommand words ("show init"); opts: every option;
# args: "--opt=KIND" for options that take an argument, KIND one of
#   file, dir, model, release, deployment, or a '|'-list of words, or
#   empty (an argument that cannot be completed);
# pos: "SUB=KIND" for positional arguments ("_" when no subcommand).
# Used by scripts/gen-completion.sh.

function kind(a) {
	gsub(/[\[\]]/, "", a)
	if (a ~ /\|/)
		return a
	sub(/\.\.\.$/, "", a)
	if (a ~ /^MODEL/ || a ~ /^M(,|$)/)
		return "model"
	if (a == "FILE" || a == "PATH")
		return "file"
	if (a == "DIR")
		return "dir"
	if (a == "RELEASE")
		return "release"
	if (a == "ID")
		return "deployment"
	return ""
}

function addopt(o, a,    k) {
	sub(/[\],]+$/, "", o)
	if (o !~ /^--?[A-Za-z0-9]/)
		return
	if (!(o in seen)) {
		seen[o] = 1
		opts = opts (opts == "" ? "" : " ") o
	}
	if (a != "" && !(o in hasarg)) {
		hasarg[o] = 1
		k = kind(a)
		args = args (args == "" ? "" : " ") o "=" k
	}
}

function addpos(s, k) {
	if (k == "" || ((s "=" k) in pseen))
		return
	pseen[s "=" k] = 1
	pos = pos (pos == "" ? "" : " ") s "=" k
}

# A token that is an option's argument: uppercase placeholder or a list.
function isarg(t) {
	gsub(/[\[\]]/, "", t)
	return t ~ /^[A-Z]/ || (t ~ /\|/ && t !~ /^-/)
}

BEGIN { inusage = 1; opts = ""; args = ""; subs = ""; pos = "" }

inusage && /^[ \t]*$/ { inusage = 0; next }

inusage {
	n = split($0, t, /[ \t]+/)
	for (w0 = 1; w0 <= n && t[w0] != "wanctl"; w0++)
		;
	if (w0 > n) {
		# Continuation of the previous usage line.
		i = 0
	} else {
		# Find the command's name (after global options).
		for (i = w0 + 1; i <= n && t[i] != cmd; i++)
			;
		if (i > n)
			next
		s = "_"
		if (i + 1 <= n && t[i + 1] ~ /^[a-z][a-z|-]*$/) {
			m = split(t[i + 1], w, /\|/)
			for (j = 1; j <= m; j++) {
				if (!(w[j] in subseen)) {
					subseen[w[j]] = 1
					subs = subs (subs == "" ? "" : " ") w[j]
				}
			}
			s = t[i + 1]
			i++
		}
	}
	for (i++; i <= n; i++) {
		tok = t[i]
		bare = tok
		gsub(/[\[\]]/, "", bare)
		if (bare ~ /^--?[A-Za-z]/) {
			if (tok ~ /\]$/ || i == n || !isarg(t[i + 1])) {
				addopt(bare, "")
			} else {
				addopt(bare, t[i + 1])
				i++
			}
		} else if (bare ~ /^[A-Z]/) {
			m = split(s, w, /\|/)
			for (j = 1; j <= m; j++)
				addpos(w[j], kind(bare))
		}
	}
	next
}

# Option lines: "  -q, --quiet  ...", "  --transfer MODE  ..." (indented
# by at most 4: deeper lines are descriptions that mention options).
/^ +-/ && match($0, /^ +/) && RLENGTH <= 4 {
	line = $0
	sub(/^[ \t]+/, "", line)
	if (match(line, /  +/))
		line = substr(line, 1, RSTART - 1)
	n = split(line, t, / /)
	a = ""
	for (i = 1; i <= n; i++)
		if (t[i] !~ /^-/ && isarg(t[i]))
			a = t[i]
	for (i = 1; i <= n; i++)
		if (t[i] ~ /^-/)
			addopt(t[i], a)
}

END { printf "%s;%s;%s;%s;%s\n", cmd, subs, opts, args, pos }
