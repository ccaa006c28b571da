# Convert one `wanctl ... --help` text into man(7) body text.
# Used by scripts/gen-man.sh; see there for the conventions of help texts:
#   - the first block (up to the first blank line) is the usage: each form
#     ("usage: wanctl ...", "or: ...", "wanctl ...", with its continuation
#     lines) becomes one filled paragraph with a hanging indent;
#   - a line "Heading:" alone starts a block of indented items;
#   - an indented line "TAG  description" (two or more spaces) or one that
#     starts with '-' is an item (.TP); deeper-indented lines continue it;
#   - other indented lines, and every indented line under a heading that
#     contains "xample", are kept verbatim;
#   - an unindented line "word  description" is an item too;
#   - other unindented lines are filled paragraphs.
# Variables: skipusage=1 drops the usage block (the main help's usage is
# the SYNOPSIS).

function esc(s) {
	gsub(/\\/, "\\e", s)
	gsub(/-/, "\\-", s)
	if (s ~ /^[.']/)
		s = "\\&" s
	return s
}

# Bold option and command words, italic placeholders (FILE, MODEL...).
function tagfmt(s,    n, w, i, out, pre, post) {
	n = split(s, w, / /)
	out = ""
	for (i = 1; i <= n; i++) {
		pre = ""; post = ""
		if (match(w[i], /[,]$/)) {
			post = ","; w[i] = substr(w[i], 1, length(w[i]) - 1)
		}
		if (w[i] ~ /^-/ || (i == 1 && w[i] ~ /^[a-z]/))
			w[i] = "\\fB" esc(w[i]) "\\fR"
		else if (w[i] ~ /^[A-Z][A-Z_0-9]*(\.\.\.)?$/ && length(w[i]) > 1)
			w[i] = "\\fI" esc(w[i]) "\\fR"
		else
			w[i] = esc(w[i])
		out = out (i > 1 ? " " : "") w[i] post
	}
	return out
}

function endblock() {
	if (mode == "verb")
		print ".fi"
	mode = ""
}

BEGIN { inusage = 1; mode = ""; heading = ""; itemind = -1; first = 1 }

# One synopsis form: filled with a hanging indent, never broken inside
# brackets, "wanctl COMMAND [SUB]" in bold.
function synopsis(form,    out, i, c, depth, n, w) {
	if (form == "")
		return
	sub(/^(usage|or): +/, "", form)
	out = ""
	depth = 0
	for (i = 1; i <= length(form); i++) {
		c = substr(form, i, 1)
		if (c == "[")
			depth++
		else if (c == "]" && depth > 0)
			depth--
		if (c == " " && depth > 0)
			out = out "\001"
		else
			out = out c
	}
	out = esc(out)
	gsub(/\001/, "\\~", out)
	n = split(out, w, / /)
	out = ""
	for (i = 1; i <= n; i++) {
		if (i <= 3 && w[i] ~ /^[a-z][a-z|\\-]*$/ && bold)
			w[i] = "\\fB" w[i] "\\fR"
		else
			bold = 0
		out = out (i > 1 ? " " : "") w[i]
	}
	if (!nform++)
		print ".PP"
	print ".in +4n\n.ti -4n"
	print out
	print ".in"
}

inusage {
	if ($0 ~ /^[ \t]*$/) {
		inusage = 0
		if (!skipusage) {
			bold = 1
			synopsis(form)
		}
		next
	}
	line = $0
	sub(/^[ \t]+/, "", line)
	if (line ~ /^(usage|or):/ || line ~ /^wanctl /) {
		bold = 1
		if (!skipusage)
			synopsis(form)
		form = line
	} else {
		form = form " " line
	}
	next
}

/^[ \t]*$/ {
	endblock()
	heading = ""
	itemind = -1
	desccol = 0
	pendingpp = 1
	next
}

# An unindented item: "pre     the staging copy ..." (a word, two or more
# spaces, its description; continuation lines indented deeper).
/^[a-z][a-z0-9_-]*  +[^ ]/ {
	endblock()
	match($0, /  +/)
	tag = substr($0, 1, RSTART - 1)
	desc = substr($0, RSTART + RLENGTH)
	desccol = RSTART + RLENGTH - 1
	print ".TP"
	print tagfmt(tag)
	print esc(desc)
	mode = "item"
	itemind = 0
	pendingpp = 0
	next
}

/^[^ \t]/ {
	if (mode == "item" || mode == "verb" || pendingpp || mode == "") {
		endblock()
		print ".PP"
		pendingpp = 0
	}
	if ($0 ~ /^[A-Z][A-Za-z ]*:$/) {
		print "\\fB" esc($0) "\\fR"
		heading = $0
		mode = "head"
		next
	}
	print esc($0)
	mode = "para"
	next
}

{
	match($0, /^[ \t]*/)
	ind = RLENGTH
	body = substr($0, ind + 1)
	if (heading ~ /xample/) {
		if (mode != "verb") {
			endblock()
			print ".PP\n.nf"
			mode = "verb"
			verbind = ind
		}
		print esc(sprintf("%*s", (ind > verbind ? ind - verbind : 0), "") body)
		next
	}
	if (mode == "item" && ind > itemind) {
		print esc(body)
		next
	}
	split_at = match(body, /  +/)
	split_len = RLENGTH
	# "init [FILE] write ...": one space, but the description starts in
	# the column of the previous item's description.
	if (!split_at && ind == itemind && desccol > ind + 1 &&
	    substr($0, desccol, 1) == " " && substr($0, desccol + 1, 1) ~ /[^ ]/) {
		split_at = desccol - ind
		split_len = 1
	}
	if (body ~ /^-/ || (split_at && heading != "")) {
		endblock()
		if (split_at) {
			tag = substr(body, 1, split_at - 1)
			desc = substr(body, split_at + split_len)
			desccol = ind + split_at + split_len - 1
		} else {
			tag = body
			desc = ""
		}
		print ".TP"
		print tagfmt(tag)
		if (desc != "")
			print esc(desc)
		mode = "item"
		itemind = ind
		pendingpp = 0
		next
	}
	if (mode != "verb") {
		endblock()
		print ".PP\n.nf"
		mode = "verb"
		verbind = ind
	}
	print esc(sprintf("%*s", (ind > verbind ? ind - verbind : 0), "") body)
}

END { endblock() }
