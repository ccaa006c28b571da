/*
 * The alert rule engine. Pure: it sees samples and a clock given by the
 * caller, so tests drive it with an injected time.
 *
 * States of one series (rule name + the sample's labels):
 *
 *   inactive --true, for == 0--------------------------> firing  (notify)
 *   inactive --true, for > 0---> pending
 *   pending  --false----------> inactive                 (silent)
 *   pending  --true for `for` seconds------------------> firing  (notify)
 *   firing   --true: still firing; every resend_seconds a REFRESH notice
 *   firing   --false for hold_seconds-------------------> resolved (notify)
 *   resolved --true----------> pending or firing as from inactive
 *
 * Flapping: the hold (Prometheus's keep_firing_for) absorbs an input that
 * flips between true and false: the alert stays firing, silently, until
 * the input has been false for a whole hold, so one series sends at most
 * one firing and one resolved notice per hold_seconds. A series that
 * disappears from the samples counts as false.
 */
#include "util/common.h"
#include "util/buf.h"
#include "wanctl/monitor.h"
#include "lib/db.h"

#include <math.h>
#include <time.h>

struct wan_alert_engine {
	struct wan_alert_rule *rules;
	size_t nrules;
	struct wan_alert **alerts;
	size_t nalerts, cap;
	struct wan_alert_opts opts;
};

struct out_lists {
	struct wan_alert_notice *nv;
	size_t nn, ncap;
	struct wan_alert_transition *tv;
	size_t nt, tcap;
	int err;
};

static const char *const state_names[] = { "inactive", "pending", "firing", "resolved" };
static const char *const severity_names[] = { "info", "warning", "critical" };

const char *wan_alert_state_name(enum wan_alert_state s)
{
	return (unsigned)s < ARRAY_SIZE(state_names) ? state_names[s] : "unknown";
}

const char *wan_severity_name(enum wan_severity s)
{
	return (unsigned)s < ARRAY_SIZE(severity_names) ? severity_names[s] : "unknown";
}

static int state_parse(const char *s, enum wan_alert_state *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(state_names); i++)
		if (s && !strcmp(s, state_names[i])) {
			*out = (enum wan_alert_state)i;
			return 0;
		}
	return -1;
}

void wan_rfc3339(char *buf, size_t size, double t)
{
	time_t sec = (time_t)floor(t);
	struct tm tm;
	int ms = (int)((t - floor(t)) * 1000.0);

	if (ms > 999)
		ms = 999;
	gmtime_r(&sec, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

static void rules_free(struct wan_alert_rule *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].name);
		free(r[i].metric);
		json_decref(r[i].labels);
		free(r[i].summary);
	}
	free(r);
}

static int rules_copy(const struct wan_alert_rule *src, size_t n,
		      struct wan_alert_rule **out)
{
	struct wan_alert_rule *r = calloc(n ? n : 1, sizeof(*r));

	if (!r)
		return wan_err(WAN_ENOMEM, "out of memory for alert rules");
	for (size_t i = 0; i < n; i++) {
		r[i] = src[i];
		r[i].name = wan_strdup(src[i].name);
		r[i].metric = wan_strdup(src[i].metric);
		r[i].summary = wan_strdup(src[i].summary);
		r[i].labels = src[i].labels ? json_deep_copy(src[i].labels) : NULL;
		if (!r[i].name || !r[i].metric) {
			rules_free(r, i + 1);
			return wan_err(WAN_EINVAL, "alert rule %zu has no name or metric", i);
		}
	}
	*out = r;
	return 0;
}

static void alert_free(struct wan_alert *a)
{
	if (!a)
		return;
	free(a->name);
	free(a->ltext);
	free(a->summary);
	free(a);
}

int wan_alert_engine_new(struct wan_alert_engine **out,
			 const struct wan_alert_rule *rules, size_t nrules,
			 const struct wan_alert_opts *opts)
{
	struct wan_alert_engine *e = calloc(1, sizeof(*e));
	int err;

	*out = NULL;
	if (!e)
		return wan_err(WAN_ENOMEM, "out of memory for the alert engine");
	if (opts)
		e->opts = *opts;
	if ((err = rules_copy(rules, nrules, &e->rules)) < 0) {
		free(e);
		return err;
	}
	e->nrules = nrules;
	*out = e;
	return 0;
}

void wan_alert_engine_free(struct wan_alert_engine *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nalerts; i++)
		alert_free(e->alerts[i]);
	free(e->alerts);
	rules_free(e->rules, e->nrules);
	free(e);
}

static const struct wan_alert_rule *rule_find(const struct wan_alert_engine *e,
					      const char *name)
{
	for (size_t i = 0; i < e->nrules; i++)
		if (!strcmp(e->rules[i].name, name))
			return &e->rules[i];
	return NULL;
}

int wan_alert_engine_set_rules(struct wan_alert_engine *e,
			       const struct wan_alert_rule *rules, size_t n)
{
	struct wan_alert_rule *r;
	size_t j = 0;
	int err;

	if ((err = rules_copy(rules, n, &r)) < 0)
		return err;
	rules_free(e->rules, e->nrules);
	e->rules = r;
	e->nrules = n;
	for (size_t i = 0; i < e->nalerts; i++) {
		if (rule_find(e, e->alerts[i]->name))
			e->alerts[j++] = e->alerts[i];
		else
			alert_free(e->alerts[i]);
	}
	e->nalerts = j;
	return 0;
}

size_t wan_alert_count(const struct wan_alert_engine *e)
{
	return e->nalerts;
}

const struct wan_alert *wan_alert_at(const struct wan_alert_engine *e, size_t i)
{
	return i < e->nalerts ? e->alerts[i] : NULL;
}

size_t wan_alert_firing(const struct wan_alert_engine *e)
{
	size_t n = 0;

	for (size_t i = 0; i < e->nalerts; i++)
		n += e->alerts[i]->state == WAN_ALERT_FIRING;
	return n;
}

static bool cmp_holds(enum wan_cmp c, double v, double t)
{
	switch (c) {
	case WAN_CMP_GT: return v > t;
	case WAN_CMP_GE: return v >= t;
	case WAN_CMP_LT: return v < t;
	case WAN_CMP_LE: return v <= t;
	case WAN_CMP_EQ: return v == t;
	case WAN_CMP_NE: return v != t;
	}
	return false;
}

/* Every matcher {"key":"value"} of the rule equals the sample's label. */
static bool labels_match(json_t *matchers, json_t *labels)
{
	const char *k;
	json_t *v;

	if (!matchers)
		return true;
	json_object_foreach(matchers, k, v) {
		const char *want = json_string_value(v);
		const char *have = json_string_value(json_object_get(labels, k));
		if (!want || !have || strcmp(want, have))
			return false;
	}
	return true;
}

char *wan_alert_render(const char *tmpl, const char *name, json_t *labels,
		       double value, double threshold)
{
	struct buf b = BUF_INIT;
	const char *p;

	buf_adds(&b, "");
	if (!tmpl || !*tmpl) {
		const char *k;
		json_t *v;
		bool first = true;
		buf_printf(&b, "%s", name);
		json_object_foreach(labels, k, v) {
			buf_printf(&b, "%s%s=%s", first ? " (" : ", ", k, json_string_value(v));
			first = false;
		}
		buf_printf(&b, "%s: value %.4g, threshold %.4g", first ? "" : ")",
			   value, threshold);
		return buf_detach(&b);
	}
	for (p = tmpl; *p; p++) {
		const char *end;
		if (*p != '{' || !(end = strchr(p, '}'))) {
			buf_addch(&b, *p);
			continue;
		}
		size_t len = (size_t)(end - p - 1);
		if (len == 5 && !strncmp(p + 1, "value", 5)) {
			buf_printf(&b, "%.4g", value);
		} else if (len == 9 && !strncmp(p + 1, "threshold", 9)) {
			buf_printf(&b, "%.4g", threshold);
		} else if (len == 4 && !strncmp(p + 1, "name", 4)) {
			buf_adds(&b, name);
		} else if (len > 7 && !strncmp(p + 1, "labels.", 7)) {
			char key[128];
			const char *v;
			snprintf(key, sizeof(key), "%.*s", (int)(len - 7), p + 8);
			v = json_string_value(json_object_get(labels, key));
			buf_adds(&b, v ? v : "");
		} else {
			buf_add(&b, p, len + 2);
		}
		p = end;
	}
	return buf_detach(&b);
}

static void out_transition(struct out_lists *o, const struct wan_alert *a,
			   enum wan_alert_state from, double now)
{
	struct wan_alert_transition *t;

	if (o->nt == o->tcap) {
		size_t cap = o->tcap ? o->tcap * 2 : 8;
		t = realloc(o->tv, cap * sizeof(*t));
		if (!t) {
			o->err = WAN_ENOMEM;
			return;
		}
		o->tv = t;
		o->tcap = cap;
	}
	t = &o->tv[o->nt++];
	t->name = wan_strdup(a->name);
	t->ltext = wan_strdup(a->ltext);
	t->from = from;
	t->to = a->state;
	t->ts = now;
	t->value = a->value;
}

static void out_notice(struct out_lists *o, const struct wan_alert *a,
		       enum wan_notice_kind kind, double now, double expires)
{
	struct wan_alert_notice *n;

	if (o->nn == o->ncap) {
		size_t cap = o->ncap ? o->ncap * 2 : 8;
		n = realloc(o->nv, cap * sizeof(*n));
		if (!n) {
			o->err = WAN_ENOMEM;
			return;
		}
		o->nv = n;
		o->ncap = cap;
	}
	n = &o->nv[o->nn++];
	n->kind = kind;
	n->name = wan_strdup(a->name);
	n->ltext = wan_strdup(a->ltext);
	n->severity = a->severity;
	n->summary = wan_strdup(a->summary);
	n->value = a->value;
	n->starts_at = a->fired_at;
	n->ends_at = kind == WAN_NOTICE_RESOLVED ? a->resolved_at : 0;
	n->expires_at = kind == WAN_NOTICE_RESOLVED ? a->resolved_at : now + expires;
}

static void alert_summary(struct wan_alert *a, const struct wan_alert_rule *r)
{
	json_t *labels = a->ltext && *a->ltext ? json_loads(a->ltext, 0, NULL) : json_object();
	char *s = wan_alert_render(r->summary, a->name, labels, a->value, r->threshold);

	json_decref(labels);
	if (s) {
		free(a->summary);
		a->summary = s;
	}
}

static void alert_fire(struct wan_alert_engine *e, struct wan_alert *a,
		       const struct wan_alert_rule *r, double now, struct out_lists *o)
{
	enum wan_alert_state from = a->state;
	double resend = e->opts.resend_seconds > 0 ? e->opts.resend_seconds : 60;

	if (from != WAN_ALERT_PENDING)
		a->active_since = now;
	a->state = WAN_ALERT_FIRING;
	a->fired_at = now;
	a->resolved_at = 0;
	a->false_since = 0;
	a->severity = r->severity;
	alert_summary(a, r);
	a->last_sent = now;
	out_transition(o, a, from, now);
	out_notice(o, a, WAN_NOTICE_FIRING, now, 4 * resend);
}

static void alert_step(struct wan_alert_engine *e, struct wan_alert *a,
		       const struct wan_alert_rule *r, bool cond, double value,
		       double now, struct out_lists *o)
{
	double resend = e->opts.resend_seconds > 0 ? e->opts.resend_seconds : 60;
	enum wan_alert_state from = a->state;

	a->last_eval = now;
	if (!isnan(value))
		a->value = value;
	switch (a->state) {
	case WAN_ALERT_INACTIVE:
	case WAN_ALERT_RESOLVED:
		if (!cond)
			break;
		if (r->for_seconds <= 0) {
			alert_fire(e, a, r, now, o);
		} else {
			a->state = WAN_ALERT_PENDING;
			a->active_since = now;
			a->severity = r->severity;
			alert_summary(a, r);
			out_transition(o, a, from, now);
		}
		break;
	case WAN_ALERT_PENDING:
		if (!cond) {
			a->state = WAN_ALERT_INACTIVE;
			a->active_since = 0;
			out_transition(o, a, from, now);
		} else if (now - a->active_since >= r->for_seconds) {
			alert_fire(e, a, r, now, o);
		}
		break;
	case WAN_ALERT_FIRING:
		if (cond) {
			a->false_since = 0;
			if (now - a->last_sent >= resend) {
				alert_summary(a, r);
				a->last_sent = now;
				out_notice(o, a, WAN_NOTICE_REFRESH, now, 4 * resend);
			}
			break;
		}
		if (a->false_since <= 0)
			a->false_since = now;
		if (now - a->false_since >= e->opts.hold_seconds) {
			a->state = WAN_ALERT_RESOLVED;
			a->resolved_at = now;
			a->false_since = 0;
			a->last_sent = now;
			out_transition(o, a, from, now);
			out_notice(o, a, WAN_NOTICE_RESOLVED, now, 0);
		}
		break;
	}
}

static struct wan_alert *alert_find(struct wan_alert_engine *e, const char *name,
				    const char *ltext)
{
	for (size_t i = 0; i < e->nalerts; i++)
		if (!strcmp(e->alerts[i]->name, name) && !strcmp(e->alerts[i]->ltext, ltext))
			return e->alerts[i];
	return NULL;
}

static struct wan_alert *alert_add(struct wan_alert_engine *e, const char *name,
				   const char *ltext)
{
	struct wan_alert *a;

	if (e->nalerts == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		struct wan_alert **v = realloc(e->alerts, cap * sizeof(*v));
		if (!v)
			return NULL;
		e->alerts = v;
		e->cap = cap;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->name = strdup(name);
	a->ltext = strdup(ltext);
	a->value = NAN;
	if (!a->name || !a->ltext) {
		alert_free(a);
		return NULL;
	}
	e->alerts[e->nalerts++] = a;
	return a;
}

int wan_alert_eval(struct wan_alert_engine *e, const struct wan_sample_set *s,
		   double now, struct wan_alert_notice **notices, size_t *nn,
		   struct wan_alert_transition **tr, size_t *nt)
{
	struct out_lists o = { 0 };
	size_t j;

	for (size_t ri = 0; ri < e->nrules; ri++) {
		const struct wan_alert_rule *r = &e->rules[ri];
		size_t known = e->nalerts;
		bool *seen = calloc(known ? known : 1, sizeof(*seen));

		if (!seen) {
			o.err = WAN_ENOMEM;
			break;
		}

		for (size_t i = 0; i < s->n; i++) {
			const struct wan_sample *x = &s->v[i];
			struct wan_alert *a;
			bool cond;

			if (strcmp(x->metric, r->metric) || isnan(x->value) ||
			    !labels_match(r->labels, x->labels))
				continue;
			cond = cmp_holds(r->cmp, x->value, r->threshold);
			a = alert_find(e, r->name, x->ltext);
			if (!a) {
				if (!cond)
					continue;
				a = alert_add(e, r->name, x->ltext);
				if (!a) {
					o.err = WAN_ENOMEM;
					continue;
				}
			}
			for (j = 0; j < known; j++)
				if (e->alerts[j] == a)
					seen[j] = true;
			alert_step(e, a, r, cond, x->value, now, &o);
		}
		/* Series of this rule with no sample this time count as false. */
		for (j = 0; j < known; j++)
			if (!seen[j] && !strcmp(e->alerts[j]->name, r->name)) {
				seen[j] = true;
				alert_step(e, e->alerts[j], r, false, NAN, now, &o);
			}
		free(seen);
	}
	/* Forget series that went back to inactive. */
	j = 0;
	for (size_t i = 0; i < e->nalerts; i++) {
		if (e->alerts[i]->state == WAN_ALERT_INACTIVE)
			alert_free(e->alerts[i]);
		else
			e->alerts[j++] = e->alerts[i];
	}
	e->nalerts = j;

	if (notices) {
		*notices = o.nv;
		*nn = o.nn;
	} else {
		wan_alert_notices_free(o.nv, o.nn);
	}
	if (tr) {
		*tr = o.tv;
		*nt = o.nt;
	} else {
		wan_alert_transitions_free(o.tv, o.nt);
	}
	if (o.err)
		return wan_err(o.err, "out of memory evaluating alerts");
	return 0;
}

void wan_alert_notices_free(struct wan_alert_notice *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].ltext);
		free(v[i].summary);
	}
	free(v);
}

void wan_alert_transitions_free(struct wan_alert_transition *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].ltext);
	}
	free(v);
}

static json_t *json_time_or_null(double t)
{
	char b[40];

	if (t <= 0)
		return json_null();
	wan_rfc3339(b, sizeof(b), t);
	return json_string(b);
}

static json_t *json_number_or_null(double v)
{
	return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

static json_t *labels_of(const char *ltext)
{
	json_t *l = ltext && *ltext ? json_loads(ltext, 0, NULL) : NULL;

	return l ? l : json_object();
}

json_t *wan_alert_notice_json(const struct wan_alert_notice *n)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o}",
		"name", n->name,
		"state", n->kind == WAN_NOTICE_RESOLVED ? "resolved" : "firing",
		"severity", wan_severity_name(n->severity),
		"labels", labels_of(n->ltext),
		"summary", n->summary ? n->summary : "",
		"value", json_number_or_null(n->value),
		"starts_at", json_time_or_null(n->starts_at),
		"ends_at", json_time_or_null(n->ends_at));
}

json_t *wan_alert_notice_am(const struct wan_alert_notice *n,
			    const char *generator_url)
{
	json_t *labels = labels_of(n->ltext), *a, *arr;
	char starts[40], ends[40];

	json_object_set_new(labels, "alertname", json_string(n->name));
	json_object_set_new(labels, "severity", json_string(wan_severity_name(n->severity)));
	wan_rfc3339(starts, sizeof(starts), n->starts_at);
	wan_rfc3339(ends, sizeof(ends), n->expires_at);
	a = json_pack("{s:o, s:{s:s}, s:s, s:s, s:s}",
		"labels", labels,
		"annotations", "summary", n->summary ? n->summary : "",
		"startsAt", starts,
		"endsAt", ends,
		"generatorURL", generator_url ? generator_url : "");
	arr = json_array();
	json_array_append_new(arr, a);
	return arr;
}

/* ---- persistence ---------------------------------------------------- */

static void bind_time(sqlite3_stmt *st, int i, double t)
{
	if (t > 0)
		sqlite3_bind_double(st, i, t);
	else
		sqlite3_bind_null(st, i);
}

int wan_alert_save(struct wan_alert_engine *e, struct wan_db *db,
		   const struct wan_alert_transition *tr, size_t nt)
{
	sqlite3_stmt *up = NULL, *del = NULL, *ev = NULL;
	sqlite3 *h = wan_db_handle(db);
	int err;

	if ((err = wan_db_begin(db)) < 0)
		return err;
	if ((err = wan_db_prepare(db, &up,
		"INSERT INTO alerts(name, labels, state, severity, value, summary,"
		" active_since, fired_at, resolved_at, last_eval, last_sent)"
		" VALUES(?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(name, labels) DO UPDATE SET"
		" state=excluded.state, severity=excluded.severity, value=excluded.value,"
		" summary=excluded.summary, active_since=excluded.active_since,"
		" fired_at=excluded.fired_at, resolved_at=excluded.resolved_at,"
		" last_eval=excluded.last_eval, last_sent=excluded.last_sent")) < 0 ||
	    (err = wan_db_prepare(db, &del,
		"DELETE FROM alerts WHERE name = ? AND labels = ?")) < 0 ||
	    (err = wan_db_prepare(db, &ev,
		"INSERT INTO alert_events(ts, name, labels, from_state, to_state, value)"
		" VALUES(?,?,?,?,?,?)")) < 0)
		goto fail;
	for (size_t i = 0; i < e->nalerts; i++) {
		const struct wan_alert *a = e->alerts[i];
		sqlite3_bind_text(up, 1, a->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(up, 2, a->ltext, -1, SQLITE_STATIC);
		sqlite3_bind_text(up, 3, wan_alert_state_name(a->state), -1, SQLITE_STATIC);
		sqlite3_bind_text(up, 4, wan_severity_name(a->severity), -1, SQLITE_STATIC);
		if (isnan(a->value) || isinf(a->value))
			sqlite3_bind_null(up, 5);
		else
			sqlite3_bind_double(up, 5, a->value);
		sqlite3_bind_text(up, 6, a->summary, -1, SQLITE_STATIC);
		bind_time(up, 7, a->active_since);
		bind_time(up, 8, a->fired_at);
		bind_time(up, 9, a->resolved_at);
		bind_time(up, 10, a->last_eval);
		bind_time(up, 11, a->last_sent);
		if (sqlite3_step(up) != SQLITE_DONE)
			goto sqlfail;
		sqlite3_reset(up);
	}
	for (size_t i = 0; i < nt; i++) {
		if (tr[i].to == WAN_ALERT_INACTIVE) {
			sqlite3_bind_text(del, 1, tr[i].name, -1, SQLITE_STATIC);
			sqlite3_bind_text(del, 2, tr[i].ltext, -1, SQLITE_STATIC);
			if (sqlite3_step(del) != SQLITE_DONE)
				goto sqlfail;
			sqlite3_reset(del);
		}
		sqlite3_bind_double(ev, 1, tr[i].ts);
		sqlite3_bind_text(ev, 2, tr[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_text(ev, 3, tr[i].ltext, -1, SQLITE_STATIC);
		sqlite3_bind_text(ev, 4, wan_alert_state_name(tr[i].from), -1, SQLITE_STATIC);
		sqlite3_bind_text(ev, 5, wan_alert_state_name(tr[i].to), -1, SQLITE_STATIC);
		if (isnan(tr[i].value) || isinf(tr[i].value))
			sqlite3_bind_null(ev, 6);
		else
			sqlite3_bind_double(ev, 6, tr[i].value);
		if (sqlite3_step(ev) != SQLITE_DONE)
			goto sqlfail;
		sqlite3_reset(ev);
	}
	sqlite3_finalize(up);
	sqlite3_finalize(del);
	sqlite3_finalize(ev);
	return wan_db_commit(db);
sqlfail:
	err = wan_err(WAN_EIO, "cannot record alerts: %s", sqlite3_errmsg(h));
fail:
	sqlite3_finalize(up);
	sqlite3_finalize(del);
	sqlite3_finalize(ev);
	wan_db_rollback(db);
	return err;
}

static double col_time(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? 0 : sqlite3_column_double(st, i);
}

int wan_alert_load(struct wan_alert_engine *e, struct wan_db *db)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = wan_db_prepare(db, &st,
		"SELECT name, labels, state, severity, value, summary, active_since,"
		" fired_at, resolved_at, last_eval, last_sent FROM alerts")) < 0)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *ltext = (const char *)sqlite3_column_text(st, 1);
		const struct wan_alert_rule *r;
		enum wan_alert_state state;
		struct wan_alert *a;

		if (!name || !ltext || !(r = rule_find(e, name)) ||
		    state_parse((const char *)sqlite3_column_text(st, 2), &state) < 0 ||
		    state == WAN_ALERT_INACTIVE || alert_find(e, name, ltext))
			continue;
		a = alert_add(e, name, ltext);
		if (!a) {
			sqlite3_finalize(st);
			return wan_err(WAN_ENOMEM, "out of memory loading alerts");
		}
		a->state = state;
		a->severity = r->severity;
		a->value = sqlite3_column_type(st, 4) == SQLITE_NULL ? NAN :
			   sqlite3_column_double(st, 4);
		a->summary = wan_strdup((const char *)sqlite3_column_text(st, 5));
		a->active_since = col_time(st, 6);
		a->fired_at = col_time(st, 7);
		a->resolved_at = col_time(st, 8);
		a->last_eval = col_time(st, 9);
		a->last_sent = col_time(st, 10);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return wan_err(WAN_EIO, "cannot read alerts: %s",
			       sqlite3_errmsg(wan_db_handle(db)));
	return 0;
}

int wan_alert_list(struct wan_db *db, const char *state, json_t **out)
{
	sqlite3_stmt *st = NULL;
	json_t *arr = json_array();
	int err, rc;

	*out = NULL;
	if ((err = wan_db_prepare(db, &st,
		"SELECT name, labels, state, severity, value, summary, active_since,"
		" fired_at, resolved_at FROM alerts WHERE ?1 IS NULL OR state = ?1"
		" ORDER BY state = 'firing' DESC, fired_at DESC, name, labels")) < 0) {
		json_decref(arr);
		return err;
	}
	if (state)
		sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ltext = (const char *)sqlite3_column_text(st, 1);
		const char *summary = (const char *)sqlite3_column_text(st, 5);
		const char *sev = (const char *)sqlite3_column_text(st, 3);
		json_t *a = json_pack("{s:s, s:o, s:s, s:s, s:o, s:s, s:o, s:o, s:o}",
			"name", (const char *)sqlite3_column_text(st, 0),
			"labels", labels_of(ltext),
			"state", (const char *)sqlite3_column_text(st, 2),
			"severity", sev ? sev : "",
			"value", sqlite3_column_type(st, 4) == SQLITE_NULL ? json_null() :
				 json_real(sqlite3_column_double(st, 4)),
			"summary", summary ? summary : "",
			"active_since", json_time_or_null(col_time(st, 6)),
			"fired_at", json_time_or_null(col_time(st, 7)),
			"resolved_at", json_time_or_null(col_time(st, 8)));
		if (a)
			json_array_append_new(arr, a);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return wan_err(WAN_EIO, "cannot read alerts: %s",
			       sqlite3_errmsg(wan_db_handle(db)));
	}
	*out = json_pack("{s:o}", "alerts", arr);
	return 0;
}
