/* Network topology: Slurm topology.conf, hostlists, generated fat trees and
 * the topology pair schedule.  Formats and rules are in topology.h. */
#include "topology.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HOSTLIST_MAX_DEFAULT 1000000
#define TOPO_FILE_MAX (64u << 20)

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

void fsc_hostlist_free(char **names, int n)
{
	for (int i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

/* A growing list of names. */
struct names {
	char **v;
	int n, cap, max;
};

static int names_push(struct names *l, char *s)
{
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 16;
		char **v = realloc(l->v, (size_t)cap * sizeof(*v));

		if (!v) {
			free(s);
			return -ENOMEM;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = s;
	return 0;
}

/* One range inside brackets: "lo" or "lo-hi", digits only. */
struct range {
	unsigned long lo, hi;
	int width; /* digits of lo when it has a leading zero, else 0 */
};

/* Parse the bracket body [p, end) into ranges. */
static int parse_ranges(const char *p, const char *end, struct range **out, int *nout,
                        const char *expr, char *err, size_t errlen)
{
	struct range *r = NULL;
	int n = 0, cap = 0;

	while (p < end) {
		const char *tok = p, *q;
		struct range x = {0};
		char *e;

		q = p;
		while (q < end && *q != ',')
			q++;
		if (q == p || !isdigit((unsigned char)*p))
			goto bad;
		errno = 0;
		x.lo = strtoul(p, &e, 10);
		if (errno || e > q)
			goto bad;
		x.width = (*p == '0' && e - p > 1) ? (int)(e - p) : 0;
		x.hi = x.lo;
		if (e < q) {
			if (*e != '-' || !isdigit((unsigned char)e[1]))
				goto bad;
			x.hi = strtoul(e + 1, &e, 10);
			if (errno || e != q || x.hi < x.lo)
				goto bad;
		}
		if (n == cap) {
			struct range *nr;

			cap = cap ? 2 * cap : 4;
			nr = realloc(r, (size_t)cap * sizeof(*r));
			if (!nr) {
				free(r);
				return -ENOMEM;
			}
			r = nr;
		}
		r[n++] = x;
		p = q < end ? q + 1 : q;
		if (q < end && p == end) {
			tok = q;
			q = end;
			goto bad;
		}
		continue;
	bad:
		free(r);
		return fail(err, errlen,
		            "hostlist '%s': bad range '%.*s' (expected N or N-M with N <= M, "
		            "e.g. h[0-3,8])",
		            expr, (int)(q - tok), tok);
	}
	if (!n)
		return fail(err, errlen, "hostlist '%s': empty brackets (expected e.g. h[0-3,8])",
		            expr);
	*out = r;
	*nout = n;
	return 0;
}

/* Expand one item (no top-level comma): a prefix, then bracket groups and
 * literal text in turn, as their product. */
static int expand_item(const char *s, size_t len, struct names *l, const char *expr, char *err,
                       size_t errlen)
{
	const char *open = memchr(s, '[', len), *close;
	struct range *r = NULL;
	int nr = 0, rc;
	size_t pre;

	if (!open) {
		char *name;

		if (memchr(s, ']', len))
			return fail(err, errlen, "hostlist '%s': ']' without '['", expr);
		if (l->n >= l->max)
			goto too_many;
		name = strndup(s, len);
		if (!name)
			return -ENOMEM;
		return names_push(l, name);
	}
	close = memchr(open, ']', len - (size_t)(open - s));
	if (!close)
		return fail(err, errlen, "hostlist '%s': '[' without ']'", expr);
	if (memchr(open + 1, '[', (size_t)(close - open - 1)))
		return fail(err, errlen, "hostlist '%s': nested '[' (expected e.g. h[0-3,8])",
		            expr);
	pre = (size_t)(open - s);
	rc = parse_ranges(open + 1, close, &r, &nr, expr, err, errlen);
	if (rc)
		return rc;
	for (int k = 0; k < nr; k++) {
		for (unsigned long v = r[k].lo; v <= r[k].hi; v++) {
			const char *rest = close + 1;
			size_t rlen = len - (size_t)(rest - s);
			char num[32], *buf;
			int w = snprintf(num, sizeof(num), "%0*lu", r[k].width, v);
			size_t blen = pre + (size_t)w + rlen;

			if (l->n >= l->max) {
				free(r);
				goto too_many;
			}
			buf = malloc(blen + 1);
			if (!buf) {
				free(r);
				return -ENOMEM;
			}
			memcpy(buf, s, pre);
			memcpy(buf + pre, num, (size_t)w);
			memcpy(buf + pre + w, rest, rlen);
			buf[blen] = 0;
			/* the rest may hold more bracket groups */
			rc = expand_item(buf, blen, l, expr, err, errlen);
			free(buf);
			if (rc) {
				free(r);
				return rc;
			}
			if (v == ULONG_MAX)
				break;
		}
	}
	free(r);
	return 0;
too_many:
	return fail(err, errlen, "hostlist '%s': more than %d hosts", expr, l->max);
}

int fsc_hostlist_expand(const char *expr, char ***out, int *n, int max, char *err, size_t errlen)
{
	struct names l = {.max = max > 0 ? max : HOSTLIST_MAX_DEFAULT};
	const char *p = expr;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (!expr || !*expr)
		return fail(err, errlen, "empty hostlist (expected e.g. h[0-3,8])");
	while (*p) {
		const char *q = p;
		int depth = 0;

		while (*q && (depth || *q != ',')) {
			if (*q == '[')
				depth++;
			else if (*q == ']')
				depth--;
			if (isspace((unsigned char)*q) || depth < 0) {
				rc = fail(err, errlen, "hostlist '%s': unexpected '%c'", expr, *q);
				goto out;
			}
			q++;
		}
		if (q == p) {
			rc = fail(err, errlen, "hostlist '%s': empty item", expr);
			goto out;
		}
		rc = expand_item(p, (size_t)(q - p), &l, expr, err, errlen);
		if (rc)
			goto out;
		p = *q ? q + 1 : q;
		if (*q && !*p) {
			rc = fail(err, errlen, "hostlist '%s': empty item after ','", expr);
			goto out;
		}
	}
out:
	if (rc) {
		fsc_hostlist_free(l.v, l.n);
		return rc;
	}
	*out = l.v;
	*n = l.n;
	return 0;
}

/* ---- name lookup ---- */

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int hash_build(struct fsc_topo *t)
{
	size_t size = 16;

	while (size < 2 * (size_t)t->nhosts + 1)
		size *= 2;
	t->hash = malloc(size * sizeof(*t->hash));
	if (!t->hash)
		return -ENOMEM;
	t->hash_size = size;
	memset(t->hash, 0xff, size * sizeof(*t->hash));
	for (int i = 0; i < t->nhosts; i++) {
		size_t at = fnv1a(t->hosts[i]) & (size - 1);

		while (t->hash[at] >= 0)
			at = (at + 1) & (size - 1);
		t->hash[at] = i;
	}
	return 0;
}

int fsc_topo_host(const struct fsc_topo *t, const char *name)
{
	size_t at;

	if (!t->hash)
		return -1;
	at = fnv1a(name) & (t->hash_size - 1);
	while (t->hash[at] >= 0) {
		if (!strcmp(t->hosts[t->hash[at]], name))
			return t->hash[at];
		at = (at + 1) & (t->hash_size - 1);
	}
	return -1;
}

void fsc_topo_free(struct fsc_topo *t)
{
	if (!t)
		return;
	fsc_hostlist_free(t->hosts, t->nhosts);
	fsc_hostlist_free(t->leaves, t->nleaves);
	free(t->host_leaf);
	free(t->leaf_first);
	free(t->hash);
	free(t);
}

/* ---- topology.conf ---- */

struct sw {
	char *name;
	int line;
	char *nodes;    /* Nodes= expression or NULL */
	char *switches; /* Switches= expression or NULL */
	int sw_line;
};

static void sws_free(struct sw *v, int n)
{
	for (int i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].nodes);
		free(v[i].switches);
	}
	free(v);
}

/* Split one line into key=value tokens and fill *s; 1 when the line holds
 * a switch, 0 when blank or a comment. */
static int parse_line(char *line, int lineno, const char *where, struct sw *s, char *notes,
                      size_t notes_len, char *err, size_t errlen)
{
	char *hash = strchr(line, '#'), *p = line;

	if (hash)
		*hash = 0;
	memset(s, 0, sizeof(*s));
	s->line = lineno;
	for (;;) {
		char *tok, *eq;

		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		tok = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p)
			*p++ = 0;
		eq = strchr(tok, '=');
		if (!eq || eq == tok || !eq[1]) {
			fail(err, errlen,
			     "%s:%d: bad token '%s' (expected Key=Value: SwitchName=, Nodes=, "
			     "Switches= or LinkSpeed=)",
			     where, lineno, tok);
			goto bad;
		}
		*eq = 0;
		if (!strcasecmp(tok, "SwitchName")) {
			if (s->name)
				goto dup;
			s->name = strdup(eq + 1);
		} else if (!strcasecmp(tok, "Nodes")) {
			if (s->nodes)
				goto dup;
			s->nodes = strdup(eq + 1);
		} else if (!strcasecmp(tok, "Switches")) {
			if (s->switches)
				goto dup;
			s->switches = strdup(eq + 1);
		} else if (!strcasecmp(tok, "LinkSpeed")) {
			if (!notes[0])
				snprintf(
				        notes, notes_len,
				        "LinkSpeed= (%s:%d) is ignored: the model takes link rates "
				        "from its own options",
				        where, lineno);
		} else {
			*eq = '=';
			fail(err, errlen,
			     "%s:%d: unknown key in '%s' (expected SwitchName=, Nodes=, "
			     "Switches= or LinkSpeed=)",
			     where, lineno, tok);
			goto bad;
		}
		if ((s->name == NULL && !strcasecmp(tok, "SwitchName")) ||
		    (s->nodes == NULL && !strcasecmp(tok, "Nodes")) ||
		    (s->switches == NULL && !strcasecmp(tok, "Switches"))) {
			fail(err, errlen, "%s:%d: out of memory", where, lineno);
			goto bad;
		}
		continue;
	dup:
		fail(err, errlen, "%s:%d: '%s=' given twice on one line", where, lineno, tok);
		goto bad;
	}
	if (!s->name && !s->nodes && !s->switches)
		return 0;
	if (!s->name) {
		fail(err, errlen, "%s:%d: a line with Nodes= or Switches= needs SwitchName=", where,
		     lineno);
		goto bad;
	}
	if (!s->nodes && !s->switches) {
		fail(err, errlen, "%s:%d: switch '%s' has neither Nodes= nor Switches=", where,
		     lineno, s->name);
		goto bad;
	}
	return 1;
bad:
	free(s->name);
	free(s->nodes);
	free(s->switches);
	memset(s, 0, sizeof(*s));
	return -EINVAL;
}

static int sw_find(const struct sw *v, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return i;
	return -1;
}

int fsc_topo_parse(struct fsc_topo **out, const char *text, const char *where, char *err,
                   size_t errlen)
{
	struct fsc_topo *t = calloc(1, sizeof(*t));
	struct sw *sws = NULL;
	int nsw = 0, cap = 0, lineno = 0, rc = 0;
	char *copy = strdup(text ? text : ""), *line;
	char **hl = NULL;
	int nh = 0;

	*out = NULL;
	if (!t || !copy) {
		rc = -ENOMEM;
		goto out;
	}
	t->oversub = 1;
	/* Lines one by one (strtok_r would skip empty lines and lose count). */
	line = copy;
	while (line) {
		char *nl = strchr(line, '\n');
		struct sw s;

		if (nl)
			*nl = 0;
		lineno++;
		rc = parse_line(line, lineno, where, &s, t->notes, sizeof(t->notes), err, errlen);
		if (rc < 0)
			goto out;
		if (rc == 1) {
			if (sw_find(sws, nsw, s.name) >= 0) {
				rc = fail(err, errlen,
				          "%s:%d: switch '%s' defined twice (first on line %d)",
				          where, lineno, s.name,
				          sws[sw_find(sws, nsw, s.name)].line);
				free(s.name);
				free(s.nodes);
				free(s.switches);
				goto out;
			}
			if (nsw == cap) {
				struct sw *nv;

				cap = cap ? 2 * cap : 16;
				nv = realloc(sws, (size_t)cap * sizeof(*nv));
				if (!nv) {
					free(s.name);
					free(s.nodes);
					free(s.switches);
					rc = -ENOMEM;
					goto out;
				}
				sws = nv;
			}
			sws[nsw++] = s;
		}
		rc = 0;
		line = nl ? nl + 1 : NULL;
	}
	/* Switches= must name defined switches. */
	for (int i = 0; i < nsw; i++) {
		if (!sws[i].switches)
			continue;
		rc = fsc_hostlist_expand(sws[i].switches, &hl, &nh, 0, err, errlen);
		if (rc) {
			char inner[256];

			snprintf(inner, sizeof(inner), "%s", err);
			rc = fail(err, errlen, "%s:%d: %s", where, sws[i].line, inner);
			goto out;
		}
		for (int k = 0; k < nh; k++)
			if (sw_find(sws, nsw, hl[k]) < 0) {
				rc = fail(err, errlen,
				          "%s:%d: switch '%s' lists unknown switch '%s' (define it "
				          "with "
				          "its own SwitchName= line)",
				          where, sws[i].line, sws[i].name, hl[k]);
				goto out;
			}
		fsc_hostlist_free(hl, nh);
		hl = NULL;
	}
	t->nswitches = nsw;
	for (int i = 0; i < nsw; i++)
		t->nleaves += !!sws[i].nodes;
	if (!t->nleaves) {
		rc = fail(err, errlen,
		          "%s: no switch has Nodes= (expected e.g. SwitchName=leaf0 "
		          "Nodes=h[0-31])",
		          where);
		goto out;
	}
	t->leaves = calloc((size_t)t->nleaves, sizeof(*t->leaves));
	t->leaf_first = calloc((size_t)t->nleaves + 1, sizeof(*t->leaf_first));
	if (!t->leaves || !t->leaf_first) {
		rc = -ENOMEM;
		goto out;
	}
	for (int i = 0, l = 0; i < nsw; i++) {
		char **nv;
		int *lv;

		if (!sws[i].nodes)
			continue;
		rc = fsc_hostlist_expand(sws[i].nodes, &hl, &nh, 0, err, errlen);
		if (rc) {
			char inner[256];

			snprintf(inner, sizeof(inner), "%s", err);
			rc = fail(err, errlen, "%s:%d: %s", where, sws[i].line, inner);
			goto out;
		}
		nv = realloc(t->hosts, (size_t)(t->nhosts + nh) * sizeof(*nv));
		if (nv)
			t->hosts = nv;
		lv = realloc(t->host_leaf, (size_t)(t->nhosts + nh) * sizeof(*lv));
		if (lv)
			t->host_leaf = lv;
		if (!nv || !lv) {
			rc = -ENOMEM;
			goto out;
		}
		t->leaves[l] = sws[i].name;
		sws[i].name = NULL;
		t->leaf_first[l] = t->nhosts;
		for (int k = 0; k < nh; k++) {
			t->hosts[t->nhosts] = hl[k];
			t->host_leaf[t->nhosts++] = l;
		}
		free(hl);
		hl = NULL;
		t->leaf_first[++l] = t->nhosts;
	}
	/* A host under two leaves: the lookup finds its first entry. */
	rc = hash_build(t);
	if (rc)
		goto out;
	for (int i = 0; i < t->nhosts; i++) {
		int j = fsc_topo_host(t, t->hosts[i]);

		if (j != i) {
			int line1 = 0, line2 = 0;

			for (int s = 0, l = 0; s < nsw; s++) {
				if (!sws[s].nodes)
					continue;
				if (l == t->host_leaf[j])
					line1 = sws[s].line;
				if (l == t->host_leaf[i])
					line2 = sws[s].line;
				l++;
			}
			rc = fail(err, errlen,
			          "%s:%d: host '%s' already hangs from leaf '%s' (line %d): a host "
			          "has one leaf",
			          where, line2, t->hosts[i], t->leaves[t->host_leaf[j]], line1);
			goto out;
		}
	}
out:
	fsc_hostlist_free(hl, nh);
	sws_free(sws, nsw); /* leaf names moved into t->leaves are NULL here */
	free(copy);
	if (rc) {
		if (rc == -ENOMEM && errlen)
			snprintf(err, errlen, "%s: out of memory", where);
		fsc_topo_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

/* ---- fattree:hosts=N,leaf=K,oversub=X ---- */

static int parse_fattree(struct fsc_topo **out, const char *spec, char *err, size_t errlen)
{
	static const char expect[] = "expected fattree:hosts=N,leaf=K[,oversub=X] with N >= 2, "
	                             "1 <= K <= N, X >= 1";
	long hosts = -1, leaf = -1;
	double oversub = 1;
	const char *p = spec + strlen("fattree:");
	struct fsc_topo *t;

	while (*p) {
		const char *q = strchr(p, ','), *eq;
		size_t len = q ? (size_t)(q - p) : strlen(p);
		char key[32], *e;
		double v;

		eq = memchr(p, '=', len);
		if (!eq || (size_t)(eq - p) >= sizeof(key))
			return fail(err, errlen, "topology '%s': bad item '%.*s' (%s)", spec,
			            (int)len, p, expect);
		memcpy(key, p, (size_t)(eq - p));
		key[eq - p] = 0;
		errno = 0;
		v = strtod(eq + 1, &e);
		if (errno || e != p + len || eq + 1 == e)
			return fail(err, errlen, "topology '%s': bad value in '%.*s' (%s)", spec,
			            (int)len, p, expect);
		if (!strcmp(key, "hosts") && v == (long)v && v >= 2 && v <= 1e7)
			hosts = (long)v;
		else if (!strcmp(key, "leaf") && v == (long)v && v >= 1 && v <= 1e7)
			leaf = (long)v;
		else if (!strcmp(key, "oversub") && v >= 1 && v <= 1e6)
			oversub = v;
		else
			return fail(err, errlen, "topology '%s': bad item '%.*s' (%s)", spec,
			            (int)len, p, expect);
		p = q ? q + 1 : p + len;
	}
	if (hosts < 0 || leaf < 0 || leaf > hosts)
		return fail(err, errlen, "topology '%s': %s", spec, expect);
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->nhosts = (int)hosts;
	t->nleaves = (int)((hosts + leaf - 1) / leaf);
	t->nswitches = t->nleaves + 1;
	t->oversub = oversub;
	t->hosts = calloc((size_t)hosts, sizeof(*t->hosts));
	t->host_leaf = malloc((size_t)hosts * sizeof(*t->host_leaf));
	t->leaves = calloc((size_t)t->nleaves, sizeof(*t->leaves));
	t->leaf_first = malloc(((size_t)t->nleaves + 1) * sizeof(*t->leaf_first));
	if (!t->hosts || !t->host_leaf || !t->leaves || !t->leaf_first)
		goto nomem;
	for (int i = 0; i < t->nhosts; i++) {
		char b[24];

		snprintf(b, sizeof(b), "h%d", i);
		t->hosts[i] = strdup(b);
		t->host_leaf[i] = (int)(i / leaf);
		if (!t->hosts[i])
			goto nomem;
	}
	for (int l = 0; l <= t->nleaves; l++) {
		t->leaf_first[l] = (int)(l * leaf < hosts ? l * leaf : hosts);
		if (l < t->nleaves) {
			char b[24];

			snprintf(b, sizeof(b), "leaf%d", l);
			t->leaves[l] = strdup(b);
			if (!t->leaves[l])
				goto nomem;
		}
	}
	if (hash_build(t))
		goto nomem;
	*out = t;
	return 0;
nomem:
	fsc_topo_free(t);
	return -ENOMEM;
}

int fsc_topo_load(struct fsc_topo **t, const char *spec, char *err, size_t errlen)
{
	FILE *f;
	char *text;
	size_t len;
	long sz;
	int rc;

	*t = NULL;
	if (!spec || !*spec)
		return fail(err, errlen,
		            "empty topology (expected a topology.conf file or "
		            "fattree:hosts=N,leaf=K[,oversub=X])");
	if (!strncmp(spec, "fattree:", 8))
		return parse_fattree(t, spec, err, errlen);
	f = fopen(spec, "rb");
	if (!f) {
		rc = -errno;
		if (errlen)
			snprintf(err, errlen,
			         "cannot read topology '%s': %s (expected a topology.conf file or "
			         "fattree:hosts=N,leaf=K[,oversub=X])",
			         spec, strerror(errno));
		return rc ? rc : -ENOENT;
	}
	if (fseek(f, 0, SEEK_END) || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
	    (size_t)sz > TOPO_FILE_MAX) {
		fclose(f);
		return fail(err, errlen, "topology '%s': not a regular file of at most %u bytes",
		            spec, TOPO_FILE_MAX);
	}
	text = malloc((size_t)sz + 1);
	if (!text) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(text, 1, (size_t)sz, f);
	fclose(f);
	text[len] = 0;
	if (memchr(text, 0, len)) {
		free(text);
		return fail(err, errlen, "topology '%s': binary data (a NUL byte)", spec);
	}
	rc = fsc_topo_parse(t, text, spec, err, errlen);
	free(text);
	return rc;
}

/* ---- the topology schedule ---- */

/* Circle method over `ring` places plus a centre at position `ring`: the
 * partner position of x in round r (see schedule.h). */
static int circle(int ring, int r, int x)
{
	long p;

	if (x == ring)
		return r;
	if (x == r)
		return ring;
	p = 2L * r - x;
	p %= ring;
	if (p < 0)
		p += ring;
	return (int)p;
}

static int ring_of(int m)
{
	return m % 2 == 0 ? m - 1 : m;
}

int fsc_topo_sched_init(struct fsc_topo_sched *s, const struct fsc_topo *t)
{
	memset(s, 0, sizeof(*s));
	if (!t || t->nhosts < 2)
		return -EINVAL;
	s->t = t;
	for (int l = 0; l < t->nleaves; l++)
		if (fsc_topo_leaf_size(t, l) > s->kmax)
			s->kmax = fsc_topo_leaf_size(t, l);
	s->intra_rounds = s->kmax >= 2 ? ring_of(s->kmax) : 0;
	s->leaf_ring = t->nleaves >= 2 ? ring_of(t->nleaves) : 0;
	s->rounds = (uint64_t)s->intra_rounds + (uint64_t)s->leaf_ring * (uint64_t)s->kmax;
	return 0;
}

int fsc_topo_sched_partner(const struct fsc_topo_sched *s, uint64_t round, int host)
{
	const struct fsc_topo *t = s->t;
	int l, i, m, ring, p, lp, kp, j;
	uint64_t cr;

	if (host < 0 || host >= t->nhosts || round >= s->rounds)
		return -1;
	l = t->host_leaf[host];
	i = host - t->leaf_first[l];
	m = fsc_topo_leaf_size(t, l);
	if (round < (uint64_t)s->intra_rounds) {
		if (m < 2)
			return -1;
		ring = ring_of(m);
		if ((int)round >= ring)
			return -1;
		p = circle(ring, (int)round, i);
		return p >= m ? -1 : t->leaf_first[l] + p;
	}
	cr = round - (uint64_t)s->intra_rounds;
	lp = circle(s->leaf_ring, (int)(cr / (uint64_t)s->kmax), l);
	if (lp >= t->nleaves)
		return -1;
	kp = fsc_topo_leaf_size(t, lp);
	j = (int)(cr % (uint64_t)s->kmax);
	/* the lower leaf's i-th host meets the higher leaf's (i + s)-th */
	p = l < lp ? (i + j) % s->kmax : ((i - j) % s->kmax + s->kmax) % s->kmax;
	return p < kp ? t->leaf_first[lp] + p : -1;
}
