/*
 * faulthsm's rules: reading the control file a test edits, parsing its
 * lines (the grammar is in faulthsm.c's opening comment), and handing the
 * gate the rule that applies to a call.
 */

#include "faulthsm.h"

const char *const fn_names[FN_COUNT] = {
#define AS_NAME(name) #name,
	WRAPPED_FUNCTIONS(AS_NAME)
#undef AS_NAME
};

struct control ctl = { .lock = PTHREAD_MUTEX_INITIALIZER };


static void file_id_of(const struct stat *st, struct file_id *id)
{
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
}

static int file_id_eq(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void warn_line(unsigned lineno, const char *why, const char *what)
{
	fprintf(stderr, "faulthsm: %s:%u: %s%s%s; line ignored\n", ctl.path,
		lineno, why, what ? ": " : "", what ? what : "");
}

/*
 * strtoul alone would accept blanks, signs and a second "0x", so insist
 * that the text is nothing but digits of the base first.
 */
static int parse_number(const char *s, int allow_hex, unsigned long *out)
{
	const char *digits = "0123456789";
	int base = 10;
	char *end;

	if (allow_hex && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		digits = "0123456789abcdefABCDEF";
		base = 16;
		s += 2;
	}
	if (s[0] == '\0' || s[strspn(s, digits)] != '\0')
		return -1;
	errno = 0;
	*out = strtoul(s, &end, base);
	return errno ? -1 : 0;
}

/* Parses FUNCS in place (it cuts the list at the commas). */
static int parse_funcs(char *list, unsigned lineno, uint64_t *mask)
{
	char *name, *next;
	int i;

	if (strcmp(list, "*") == 0) {
		*mask = ALL_FUNCTIONS;
		return 0;
	}
	*mask = 0;
	for (name = list; name; name = next) {
		next = strchr(name, ',');
		if (next)
			*next++ = '\0';
		for (i = 0; i < FN_COUNT; i++)
			if (strcmp(name, fn_names[i]) == 0)
				break;
		if (i == FN_COUNT) {
			warn_line(lineno,
				  *name ? "not a wrapped function"
					: "empty name in function list",
				  *name ? name : NULL);
			return -1;
		}
		*mask |= UINT64_C(1) << i;
	}
	return 0;
}

/* COUNT is optional; `tok` is NULL when absent. */
static int parse_count(const char *tok, long dflt, unsigned lineno,
		       long *remaining)
{
	unsigned long n;

	if (!tok) {
		*remaining = dflt;
		return 0;
	}
	if (parse_number(tok, 0, &n) != 0 || n == 0 || n > (unsigned long)LONG_MAX) {
		warn_line(lineno, "COUNT must be a positive decimal number", tok);
		return -1;
	}
	*remaining = (long)n;
	return 0;
}

/* Returns 1 and fills `r` for a rule, 0 for a blank line, -1 if malformed. */
static int parse_line(char *line, unsigned lineno, struct rule *r)
{
	char *tok[5], *save, *t, *hash;
	size_t n = 0;
	unsigned long num;
	const char *verb;

	hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	for (t = strtok_r(line, BLANKS, &save); t; t = strtok_r(NULL, BLANKS, &save)) {
		if (n == sizeof tok / sizeof tok[0]) {
			warn_line(lineno, "too many fields", NULL);
			return -1;
		}
		tok[n++] = t;
	}
	if (n == 0)
		return 0;

	verb = tok[0];
	r->arg = 0;
	r->remaining = -1;
	if (strcmp(verb, "stall") == 0 && n == 2) {
		r->kind = RULE_STALL;
		return parse_funcs(tok[1], lineno, &r->fns) ? -1 : 1;
	}
	if (strcmp(verb, "delay") == 0 && n == 3) {
		if (parse_number(tok[1], 0, &num) != 0 || num > MAX_DELAY_MS) {
			warn_line(lineno, "MS must be a decimal number of milliseconds, at most 3600000", tok[1]);
			return -1;
		}
		r->kind = RULE_DELAY;
		r->arg = num;
		return parse_funcs(tok[2], lineno, &r->fns) ? -1 : 1;
	}
	if (strcmp(verb, "fail") == 0 && (n == 3 || n == 4)) {
		if (parse_number(tok[1], 1, &num) != 0) {
			warn_line(lineno, "RV must be 0x-prefixed hex or decimal", tok[1]);
			return -1;
		}
		r->kind = RULE_FAIL;
		r->arg = num;
		if (parse_count(n == 4 ? tok[3] : NULL, -1, lineno, &r->remaining))
			return -1;
		return parse_funcs(tok[2], lineno, &r->fns) ? -1 : 1;
	}
	if (strcmp(verb, "logout") == 0 && (n == 2 || n == 3)) {
		r->kind = RULE_LOGOUT;
		if (parse_count(n == 3 ? tok[2] : NULL, 1, lineno, &r->remaining))
			return -1;
		return parse_funcs(tok[1], lineno, &r->fns) ? -1 : 1;
	}
	warn_line(lineno, "expected: stall FUNCS | delay MS FUNCS | fail RV FUNCS [COUNT] | logout FUNCS [COUNT]", NULL);
	return -1;
}

static char *read_all(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *bigger;
	ssize_t got;

	if (!buf)
		return NULL;
	for (;;) {
		if (len + 1 == cap) {
			if (cap >= MAX_CONTROL_BYTES || !(bigger = realloc(buf, cap * 2))) {
				free(buf);
				return NULL;
			}
			buf = bigger;
			cap *= 2;
		}
		got = read(fd, buf + len, cap - 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			free(buf);
			return NULL;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	buf[len] = '\0';
	return buf;
}

/*
 * Reads the file and reports which version of it was read. A test may
 * rewrite the file while we read it, so the read is retried until the
 * identity is the same before and after. Recording an identity older than
 * the content would make the next call re-read the file and so reset the
 * COUNTs that this very content had started to consume.
 */
static char *read_control(struct file_id *id)
{
	struct stat before, after;
	struct file_id a, b;
	char *text;
	int fd, attempt;

	for (attempt = 0; attempt < 5; attempt++) {
		fd = open(ctl.path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return NULL;
		text = NULL;
		if (fstat(fd, &before) == 0 && (text = read_all(fd)) &&
		    fstat(fd, &after) == 0) {
			file_id_of(&before, &a);
			file_id_of(&after, &b);
			if (file_id_eq(&a, &b)) {
				close(fd);
				*id = a;
				return text;
			}
		}
		free(text);
		close(fd);
	}
	return NULL;
}

void drop_rules_locked(void)
{
	free(ctl.rules);
	ctl.rules = NULL;
	ctl.nrules = 0;
	ctl.loaded = 0;
}

static void reload_locked(void)
{
	struct file_id id;
	struct rule *rules;
	size_t nlines = 1, n = 0;
	unsigned lineno = 0;
	char *text, *line, *eol;

	drop_rules_locked();
	text = read_control(&id);
	if (!text)
		return; /* not loaded: the next call tries again */
	for (eol = text; (eol = strchr(eol, '\n')); eol++)
		nlines++;
	rules = calloc(nlines, sizeof *rules);
	if (!rules) {
		free(text);
		return;
	}
	for (line = text; line; line = eol) {
		eol = strchr(line, '\n');
		if (eol)
			*eol++ = '\0';
		if (parse_line(line, ++lineno, &rules[n]) == 1)
			n++;
	}
	free(text);
	if (n == 0) {
		free(rules);
		rules = NULL;
	}
	ctl.rules = rules;
	ctl.nrules = n;
	ctl.id = id;
	ctl.loaded = 1;
}

/* Brings the rules up to date with the file: one stat when nothing changed. */
void refresh_locked(void)
{
	struct stat st;
	struct file_id id;

	if (stat(ctl.path, &st) != 0) {
		drop_rules_locked(); /* removed: no rules, and reload if it returns */
		return;
	}
	file_id_of(&st, &id);
	if (!ctl.loaded || !file_id_eq(&id, &ctl.id))
		reload_locked();
}

/*
 * The first rule of `kind` that matches `fn` and has calls left, after
 * using up one of its calls; NULL if none. The pointer dies with the lock.
 */
const struct rule *take_rule_locked(enum rule_kind kind, enum fn_id fn)
{
	struct rule *r;
	size_t i;

	for (i = 0; i < ctl.nrules; i++) {
		r = &ctl.rules[i];
		if (r->kind != kind || !(r->fns & (UINT64_C(1) << fn)) ||
		    r->remaining == 0)
			continue;
		if (r->remaining > 0)
			r->remaining--;
		return r;
	}
	return NULL;
}
