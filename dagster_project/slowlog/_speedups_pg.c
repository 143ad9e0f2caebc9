/*
 * PostgreSQL stderr logs: the fast path of engines/postgres.py (included from _speedups.c, so it
 * shares the column builders col_t / put_utf8, the number parsing and the ClassTable).
 *
 *   pg_starts   entry starts of a buffer in RDS's layout '%t:%r:%u@%d:[%p]:' (or Debian's
 *               default '%m [%p] %q%u@%d '), exactly what
 *               PostgresLogParser._prefixed_starts gives, plus what each matched line holds;
 *   pg_region   classification, the parse/bind -> execute folding (on the parser's own dicts) and
 *               the events' columns for consecutive entries of a consumed region;
 *   fingerprint_pg_bytes   fingerprint_pg.fingerprint_pg_cached on UTF-8 bytes (part 5 below).
 *
 * Each one emulates its Python regexes with their exact leftmost / greedy / lazy semantics, and
 * declines (None, or "this entry: Python decides") whatever it is not sure to read the same way,
 * so it only has to be right for what it accepts. The tests compare it with the Python path.
 */

static PyObject *PG_UNNAMED; /* b"<unnamed>": the key of the unnamed prepared statement */

static inline int pg_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int pg_alpha(unsigned char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/* severities, in the order of postgres.py's _LEVEL alternation; the last six are secondary */
enum { PL_LOG, PL_ERROR, PL_WARNING, PL_FATAL, PL_PANIC, PL_NOTICE, PL_INFO, PL_DEBUG, PL_DETAIL, PL_HINT,
       PL_CONTEXT, PL_STATEMENT, PL_QUERY, PL_LOCATION, PL_N };
static const char *PG_LEVELS[PL_N] = {"LOG", "ERROR", "WARNING", "FATAL", "PANIC", "NOTICE", "INFO", "DEBUG",
                                      "DETAIL", "HINT", "CONTEXT", "STATEMENT", "QUERY", "LOCATION"};
#define PL_EXTRA (-1) /* a timestamped line the prefix does not read: an entry of its own */

/* One line of the buffer that is an entry start or a merged secondary line (the regex's groups).
 * Offsets are int32 (pg_starts declines buffers over 2 GiB): one record per log line, kept small. */
typedef struct {
    int32_t pos, msg; /* line start; m.end(): where the message starts */
    int32_t ts0, ts1, tz0, tz1, r0, r1, u0, u1, d0, d1, p0, p1;
    int32_t level;  /* PL_*, or PL_EXTRA */
    int32_t merged; /* DETAIL/STATEMENT/... of the entry before (same pid) */
} pgline_t;

/* `[0-9A-Z]{5}:[ \t]` at b[t]: a SQLSTATE and the blank after it */
static int pg_sqlstate(const char *b, Py_ssize_t le, Py_ssize_t t) {
    if (t + 6 >= le || b[t + 5] != ':' || (b[t + 6] != ' ' && b[t + 6] != '\t')) return 0;
    for (int i = 0; i < 5; i++) {
        unsigned char c = (unsigned char)b[t + i];
        if (!pg_digit(c) && !(c >= 'A' && c <= 'Z')) return 0;
    }
    return 1;
}

/* `(?P<level>...):(?:[ \t]+(?:[0-9A-Z]{5}:[ \t]+)?|(?=\r?\n)|\Z)` at b[j] (the SQLSTATE that
 * log_error_verbosity = verbose writes after the severity is skipped); returns the level (m.end()
 * in *msg) or -1 */
static int pg_level(const char *b, Py_ssize_t blen, Py_ssize_t le, Py_ssize_t j, Py_ssize_t *msg) {
    for (int lv = 0; lv < PL_N; lv++) {
        Py_ssize_t k = (Py_ssize_t)strlen(PG_LEVELS[lv]);
        if (j + k > le || memcmp(b + j, PG_LEVELS[lv], k) != 0) continue;
        Py_ssize_t ends[2] = {-1, j + k};
        if (lv == PL_DEBUG && j + k < le && b[j + k] >= '1' && b[j + k] <= '5') ends[0] = j + k + 1; /* greedy [1-5]? */
        for (int a = 0; a < 2; a++) {
            Py_ssize_t c = ends[a];
            if (c < 0 || c >= le || b[c] != ':') continue;
            Py_ssize_t t = c + 1;
            if (t < le && (b[t] == ' ' || b[t] == '\t')) {
                while (t < le && (b[t] == ' ' || b[t] == '\t')) t++;
                if (pg_sqlstate(b, le, t)) {
                    t += 6;
                    while (t < le && (b[t] == ' ' || b[t] == '\t')) t++;
                }
            } else if (!(t == blen || (t < blen && b[t] == '\n') || (t + 1 < blen && b[t] == '\r' && b[t + 1] == '\n'))) {
                continue;
            }
            *msg = t;
            return lv;
        }
    }
    return -1;
}

/* the RDS prefix after its remote host: ':' user '@' db ':[' pid ']:' [ \t]* level. The user is
 * lazy up to the first '@' (it cannot hold one), the db up to the first ':' after it: unique. */
static int rds_rest(const char *b, Py_ssize_t blen, Py_ssize_t le, Py_ssize_t j, pgline_t *L) {
    if (j >= le || b[j] != ':') return 0;
    j++;
    Py_ssize_t at = find_byte(b, j, le, '@');
    if (at < 0) return 0;
    Py_ssize_t colon = find_byte(b, at + 1, le, ':');
    if (colon < 0 || colon + 1 >= le || b[colon + 1] != '[') return 0;
    Py_ssize_t p = colon + 2, p0 = p;
    while (p < le && pg_digit(b[p])) p++;
    if (p == p0 || p + 1 >= le || b[p] != ']' || b[p + 1] != ':') return 0;
    Py_ssize_t t = p + 2;
    while (t < le && (b[t] == ' ' || b[t] == '\t')) t++;
    Py_ssize_t msg;
    int lv = pg_level(b, blen, le, t, &msg);
    if (lv < 0) return 0;
    L->u0 = j; L->u1 = at; L->d0 = at + 1; L->d1 = colon; L->p0 = p0; L->p1 = p;
    L->level = lv; L->msg = msg;
    return 1;
}

/* `^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d` (postgres.py _LINE_TS) */
static int pg_ts_head(const char *b, Py_ssize_t le, Py_ssize_t i) {
    static const char shape[] = "dddd-dd-dd?dd:dd:dd";
    if (i + 19 > le) return 0;
    for (int k = 0; k < 19; k++) {
        unsigned char c = b[i + k];
        if (shape[k] == 'd' ? !pg_digit(c) : shape[k] == '?' ? (c != ' ' && c != 'T') : c != (unsigned char)shape[k]) return 0;
    }
    return 1;
}

/* The RDS layout's regex at line b[ls:le]: 1 matched (*L filled), 0 not, -1 undecided here. */
static int rds_match(const char *b, Py_ssize_t blen, Py_ssize_t ls, Py_ssize_t le, pgline_t *L) {
    if (!pg_ts_head(b, le, ls)) return 0;
    Py_ssize_t i = ls + 19;
    /* (?:[.,]\d+)? greedy: a shorter fraction would be followed by a digit, which nothing takes */
    if (i + 1 < le && (b[i] == '.' || b[i] == ',') && pg_digit(b[i + 1])) {
        i += 2;
        while (i < le && pg_digit(b[i])) i++;
    }
    L->ts0 = ls; L->ts1 = i; L->tz0 = L->tz1 = -1;
    if (i >= le) return 0; /* every path needs the ':' after %t */
    if (b[i] == ' ') {     /* " UTC:" -- a zone abbreviation; anything else is left to the regex */
        Py_ssize_t k = i + 1;
        while (k < le && pg_alpha(b[k])) k++;
        if (k == le) return 0;
        if (k - i - 1 < 1 || k - i - 1 > 5 || b[k] != ':') return -1;
        L->tz0 = i + 1; L->tz1 = k;
        i = k;
    } else if (b[i] != ':') return -1;
    i++;
    /* %r: \[local\] | [^\s()]*?\(\d+\) | [^\s:()]*  -- tried in that order, each of a unique extent */
    if (starts_with(b, le, i, "[local]") && rds_rest(b, blen, le, i + 7, L)) { L->r0 = i; L->r1 = i + 7; return 1; }
    Py_ssize_t k = i;
    while (k < le && !is_space(b[k]) && b[k] != '(' && b[k] != ')') k++;
    if (k < le && b[k] == '(') {
        Py_ssize_t d = k + 1;
        while (d < le && pg_digit(b[d])) d++;
        if (d > k + 1 && d < le && b[d] == ')' && rds_rest(b, blen, le, d + 1, L)) { L->r0 = i; L->r1 = d + 1; return 1; }
    }
    k = i;
    while (k < le && !is_space(b[k]) && b[k] != ':' && b[k] != '(' && b[k] != ')') k++;
    if (rds_rest(b, blen, le, k, L)) { L->r0 = i; L->r1 = k; return 1; }
    return 0;
}

static inline int pg_blank(unsigned char c) { return c == ' ' || c == '\t'; }

/* Debian's layout '%m [%p] %q%u@%d ' at line b[ls:le], i.e. the regex
 *   TS [ \t]+ \[ pid \] [ \t]+ (?: user@db [ \t]+ )? [ \t]* level
 * with a lazy user (up to the first '@') and a lazy db (no ' '; the first blank run followed by a
 * level ends it). 1 matched, 0 not, -1 undecided here. */
static int debian_match(const char *b, Py_ssize_t blen, Py_ssize_t ls, Py_ssize_t le, pgline_t *L) {
    if (!pg_ts_head(b, le, ls)) return 0;
    Py_ssize_t i = ls + 19, j;
    if (i + 1 < le && (b[i] == '.' || b[i] == ',') && pg_digit(b[i + 1])) {
        i += 2;
        while (i < le && pg_digit(b[i])) i++;
    }
    L->ts0 = ls; L->ts1 = i; L->tz0 = L->tz1 = -1;
    L->r0 = L->r1 = L->u0 = L->u1 = L->d0 = L->d1 = 0; /* no %r; user/db only when the %q part matched */
    if (i >= le) return 0;
    if (b[i] == ' ') {
        Py_ssize_t k = i + 1;
        while (k < le && pg_alpha(b[k])) k++;
        if (k == i + 1) {
            if (k < le && (b[k] == '+' || b[k] == '-')) return -1; /* a numeric zone: the regex decides */
            j = i;                                                 /* no zone */
        } else if (k - i - 1 <= 5 && k < le && pg_blank(b[k])) {
            L->tz0 = i + 1; L->tz1 = k;
            j = k;
        } else {
            return 0; /* letters that are no zone (or no blank after it): nothing else can match */
        }
    } else if (b[i] == '\t') {
        j = i;
    } else if (pg_alpha(b[i]) || b[i] == '+' || b[i] == '-') {
        return -1;
    } else {
        return 0;
    }
    if (j >= le || !pg_blank(b[j])) return 0;
    while (j < le && pg_blank(b[j])) j++;
    if (j >= le || b[j] != '[') return 0;
    Py_ssize_t p0 = j + 1, p = p0;
    while (p < le && pg_digit(b[p])) p++;
    if (p == p0 || p >= le || b[p] != ']') return 0;
    Py_ssize_t u = p + 1;
    if (u >= le || !pg_blank(b[u])) return 0;
    while (u < le && pg_blank(b[u])) u++;
    L->p0 = p0; L->p1 = p;
    Py_ssize_t msg;
    int lv;
    Py_ssize_t at = find_byte(b, u, le, '@');
    if (at >= 0) { /* the optional user@db part, tried first */
        for (Py_ssize_t d = at + 1; d < le; d++) {
            if (pg_blank(b[d])) {
                Py_ssize_t t = d;
                while (t < le && pg_blank(b[t])) t++;
                if ((lv = pg_level(b, blen, le, t, &msg)) >= 0) {
                    L->u0 = u; L->u1 = at; L->d0 = at + 1; L->d1 = d;
                    L->level = lv; L->msg = msg;
                    return 1;
                }
            }
            if (b[d] == ' ') break; /* the db cannot hold a space */
        }
    }
    if ((lv = pg_level(b, blen, le, u, &msg)) < 0) return 0;
    L->level = lv; L->msg = msg;
    return 1;
}

/* pg_starts(buf, layout) -> (starts, lines) | None
 * layout 0: RDS's '%t:%r:%u@%d:[%p]:', 1: Debian's '%m [%p] %q%u@%d '. starts: what _prefixed_starts(buf, 0, len(buf)) returns;
 * lines: the pgline_t records (starts, extra timestamped lines and merged secondary lines, in
 * file order) for pg_region. None: a line this scan does not decide (the Python path reads it). */
static PyObject *py_pg_starts(PyObject *self, PyObject *args) {
    PyObject *bufobj;
    int layout;
    if (!PyArg_ParseTuple(args, "Si", &bufobj, &layout)) return NULL;
    const char *b = PyBytes_AS_STRING(bufobj);
    Py_ssize_t blen = PyBytes_GET_SIZE(bufobj);
    if ((layout != 0 && layout != 1) || blen > 0x7fffffffLL) Py_RETURN_NONE;
    /* at most one record per line: the bytes object is made at that size, filled, then shrunk */
    Py_ssize_t nlines = 1;
    for (const char *p = b, *z = b + blen; (p = memchr(p, '\n', z - p)) != NULL; p++) nlines++;
    PyObject *raw = PyBytes_FromStringAndSize(NULL, nlines * (Py_ssize_t)sizeof(pgline_t));
    PyObject *out = raw ? PyList_New(0) : NULL;
    if (!out) { Py_XDECREF(raw); return NULL; }
    pgline_t *recs = (pgline_t *)PyBytes_AS_STRING(raw);
    Py_ssize_t nrec = 0, nstarts = 0, last = -1; /* the last matched start (its pid decides merging) */
    int ok = 1, undecided = 0;
    for (Py_ssize_t ls = 0; ls < blen && ok;) {
        Py_ssize_t nl = find_byte(b, ls, blen, '\n');
        Py_ssize_t le = nl < 0 ? blen : nl;
        if (pg_digit(b[ls])) {
            pgline_t L;
            memset(&L, 0, sizeof(L));
            int r = layout == 0 ? rds_match(b, blen, ls, le, &L) : debian_match(b, blen, ls, le, &L);
            if (r < 0) { undecided = 1; break; }
            L.pos = ls;
            if (r == 1) {
                if (L.level >= PL_DETAIL && nstarts > 0 && L.p1 - L.p0 == recs[last].p1 - recs[last].p0 &&
                    memcmp(b + L.p0, b + recs[last].p0, L.p1 - L.p0) == 0) {
                    L.merged = 1;
                } else {
                    ok = append_ssize(out, ls);
                    last = nrec;
                    nstarts++;
                }
                recs[nrec++] = L;
            } else if (pg_ts_head(b, le, ls) && nl >= 0) {
                /* a complete timestamped line the prefix does not read: its own entry; it does not
                 * take part in merging (the Python path adds these after the regex pass) */
                L.level = PL_EXTRA;
                ok = append_ssize(out, ls);
                recs[nrec++] = L;
            }
        }
        if (nl < 0) break;
        ls = nl + 1;
    }
    PyObject *result = NULL;
    if (ok && undecided) {
        Py_INCREF(Py_None);
        result = Py_None;
    } else if (ok && _PyBytes_Resize(&raw, nrec * (Py_ssize_t)sizeof(pgline_t)) == 0) {
        result = Py_BuildValue("(OO)", out, raw);
    }
    Py_DECREF(out);
    Py_XDECREF(raw);
    return result;
}

/* ---- classification: postgres.py _classify ---------------------------------------------------- */

enum { PK_SKIP, PK_EVENT, PK_DURATION_ONLY, PK_STATEMENT, PK_PREPARE };
enum { PS_STATEMENT, PS_EXECUTE, PS_PARSE, PS_BIND };
static const char *PG_STEPS[] = {"statement", "execute", "parse", "bind"};

typedef struct {
    int kind, step;
    double ms;
    Py_ssize_t n0, n1; /* the statement name (n0 < 0: none) */
    Py_ssize_t qstart;
} pgclass_t;

/* ':(?: |(?=\r?\n)|\Z)' at b[q]: the end of what it matches, or -1 */
static Py_ssize_t pg_colon_end(const char *b, Py_ssize_t blen, Py_ssize_t q) {
    if (q >= blen || b[q] != ':') return -1;
    Py_ssize_t t = q + 1;
    if (t < blen && b[t] == ' ') return t + 1;
    if (t == blen || b[t] == '\n' || (t + 1 < blen && b[t] == '\r' && b[t + 1] == '\n')) return t;
    return -1;
}

/* 1: *c holds the class; 0: undecided (a number float() might read differently) */
static int pg_classify(const char *b, Py_ssize_t blen, int level, Py_ssize_t msg, pgclass_t *c) {
    c->kind = PK_SKIP;
    c->n0 = c->n1 = -1;
    if (level != PL_LOG) return 1;
    if (starts_with(b, blen, msg, "duration: ")) {
        /* duration: (?P<ms>\d+(?:\.\d*)?) ms -- every part greedy and of a unique extent */
        Py_ssize_t d0 = msg + 10, d = d0;
        while (d < blen && pg_digit(b[d])) d++;
        if (d == d0) return 1;
        if (d < blen && b[d] == '.') {
            d++;
            while (d < blen && pg_digit(b[d])) d++;
        }
        if (!starts_with(b, blen, d, " ms")) return 1;
        if (to_double(b + d0, d - d0, &c->ms) != 1) return 0;
        Py_ssize_t t = d + 3, w = t;
        /* _STEP: [ \t]+(statement|execute|parse|bind)(?: (?P<name>[^\n]*?))?:(?: |(?=\r?\n)|\Z) */
        while (t < blen && (b[t] == ' ' || b[t] == '\t')) t++;
        if (t > w) {
            for (int s = 0; s < 4; s++) {
                if (!starts_with(b, blen, t, PG_STEPS[s])) continue;
                Py_ssize_t k = t + (Py_ssize_t)strlen(PG_STEPS[s]), end = -1;
                if (k < blen && b[k] == ' ') { /* the name group: lazy, up to the first colon that ends it */
                    for (Py_ssize_t q = k + 1; q < blen && b[q] != '\n'; q++) {
                        if (b[q] == ':' && (end = pg_colon_end(b, blen, q)) >= 0) { c->n0 = k + 1; c->n1 = q; break; }
                    }
                } else {
                    end = pg_colon_end(b, blen, k);
                }
                if (end < 0) break; /* no other step word starts the same way */
                c->step = s;
                c->kind = s >= PS_PARSE ? PK_PREPARE : PK_EVENT;
                c->qstart = end;
                return 1;
            }
        }
        /* _TAIL_BLANK: [ \t\r]*(?:\n|\Z) */
        Py_ssize_t r = d + 3;
        while (r < blen && (b[r] == ' ' || b[r] == '\t' || b[r] == '\r')) r++;
        if (r == blen || b[r] == '\n') c->kind = PK_DURATION_ONLY;
        return 1;
    }
    if (starts_with(b, blen, msg, "statement: ") || starts_with(b, blen, msg, "execute ")) c->kind = PK_STATEMENT;
    return 1;
}

/* postgres.py _stmt_key: 'P_1' of 'P_1/C_2', 'S_3' of 'fetch from S_3', '<unnamed>' when none */
static PyObject *pg_stmt_key(const char *b, Py_ssize_t n0, Py_ssize_t n1) {
    if (n0 < 0 || n1 <= n0) { Py_INCREF(PG_UNNAMED); return PG_UNNAMED; }
    if (starts_with(b, n1, n0, "fetch from ")) n0 += 11;
    Py_ssize_t slash = find_byte(b, n0, n1, '/');
    return PyBytes_FromStringAndSize(b + n0, (slash >= 0 ? slash : n1) - n0);
}

/* ---- fields: postgres.py _prefix_fields ------------------------------------------------------- */

/* _TZ_MINUTES, in the same order */
static const struct { const char *name; int minutes; } PG_ZONES[] = {
    {"UTC", 0}, {"GMT", 0}, {"UCT", 0}, {"UT", 0}, {"Z", 0}, {"WET", 0}, {"WEST", 60}, {"BST", 60}, {"IST", 330},
    {"CET", 60}, {"CEST", 120}, {"MET", 60}, {"MEST", 120}, {"EET", 120}, {"EEST", 180}, {"MSK", 180}, {"MSD", 240},
    {"EST", -300}, {"EDT", -240}, {"CST", -360}, {"CDT", -300}, {"MST", -420}, {"MDT", -360}, {"PST", -480},
    {"PDT", -420}, {"AKST", -540}, {"AKDT", -480}, {"HST", -600}, {"HDT", -540}, {"AST", -240}, {"ADT", -180},
    {"NST", -210}, {"NDT", -150}, {"JST", 540}, {"KST", 540}, {"HKT", 480}, {"SGT", 480}, {"AWST", 480},
    {"ACST", 570}, {"ACDT", 630}, {"AEST", 600}, {"AEDT", 660}, {"NZST", 720}, {"NZDT", 780}, {"SAST", 120},
    {"CAT", 120}, {"EAT", 180}, {"WAT", 60}, {"PKT", 300}, {"WIB", 420}, {"WITA", 480}, {"WIT", 540}, {"PHT", 480},
    {"PHST", 480}, {"ICT", 420}, {"NPT", 345}, {"BRT", -180}, {"ART", -180}, {"CLT", -240}, {"CLST", -180},
    {"UYT", -180}, {"COT", -300}, {"PET", -300}, {"ChST", 600}, {"SST", -660},
};

/* _tz_minutes of a zone abbreviation: the exact name, else its upper-case form, else UTC */
static int pg_zone_minutes(const char *s, Py_ssize_t n) {
    char up[8];
    if (n <= 0 || n > 5) return 0;
    for (int pass = 0; pass < 2; pass++) {
        for (Py_ssize_t k = 0; k < n; k++) up[k] = pass ? (char)(s[k] >= 'a' && s[k] <= 'z' ? s[k] - 32 : s[k]) : s[k];
        for (size_t z = 0; z < sizeof(PG_ZONES) / sizeof(PG_ZONES[0]); z++)
            if ((Py_ssize_t)strlen(PG_ZONES[z].name) == n && memcmp(PG_ZONES[z].name, up, n) == 0) return PG_ZONES[z].minutes;
    }
    return 0;
}

/* _ts: fromisoformat of the prefix's time in its zone, as UTC epoch us. 1 ok (*valid 0: None),
 * 0 undecided (fractions beyond microseconds, years where astimezone could overflow). */
static int pg_ts(const char *b, const pgline_t *L, long long *us, int *valid) {
    const char *s = b + L->ts0;
    Py_ssize_t n = L->ts1 - L->ts0;
    int Y = 0, M = 0, D = 0, h = 0, mi = 0, sec = 0, f = 0;
    *valid = 0;
    /* the span has pg_ts_head's shape: these cannot fail */
    digits(s, n, 0, 4, &Y); digits(s, n, 5, 2, &M); digits(s, n, 8, 2, &D);
    digits(s, n, 11, 2, &h); digits(s, n, 14, 2, &mi); digits(s, n, 17, 2, &sec);
    if (n > 19) { /* [.,] and 1..6 digits (fromisoformat pads them to microseconds) */
        Py_ssize_t k = n - 20;
        if (k < 1 || k > 6) return 0;
        for (Py_ssize_t j = 0; j < 6; j++) f = f * 10 + (j < k ? s[20 + j] - '0' : 0);
    }
    if (Y < 2 || Y > 9998) return Y >= 1 && Y <= 9999 ? 0 : 1; /* year 0: ValueError (None) */
    if (!valid_date(Y, M, D) || h > 23 || mi > 59 || sec > 59) return 1;
    int off = L->tz0 >= 0 ? pg_zone_minutes(b + L->tz0, L->tz1 - L->tz0) : 0;
    *us = (days_from_civil(Y, M, D) * 86400LL + h * 3600 + mi * 60 + sec - off * 60LL) * 1000000LL + f;
    *valid = 1;
    return 1;
}

/* ipaddress.IPv4Address's rules (3.9.5+): four decimal octets, no leading zeros, each <= 255 */
static int pg_ipv4(const char *s, Py_ssize_t n) {
    int parts = 0;
    Py_ssize_t i = 0;
    while (parts < 4) {
        Py_ssize_t j = i;
        int v = 0;
        while (j < n && pg_digit(s[j])) v = v * 10 + (s[j++] - '0');
        if (j == i || j - i > 3 || v > 255 || (j - i > 1 && s[i] == '0')) return 0;
        parts++;
        if (parts == 4) return j == n;
        if (j >= n || s[j] != '.') return 0;
        i = j + 1;
    }
    return 0;
}

/* One event's fields, as spans of the buffer (no Python objects). */
typedef struct {
    int have_ts;
    long long ts_us;
    int have_user, have_db, have_host, have_ip, have_port, have_parse, have_bind, have_params;
    Py_ssize_t h0, h1; /* host (and ip, when it is an address) */
    long long port, pid;
    double parse_ms, bind_ms;
    Py_ssize_t q0, q1, pa0, pa1;
} pgev_t;

static int pg_dec_ok(const char *b, Py_ssize_t a, Py_ssize_t z) { /* _dec: "" and "[unknown]" are None */
    return z > a && !(z - a == 9 && memcmp(b + a, "[unknown]", 9) == 0);
}

/* the prefix's fields of an event (1), or 0: undecided (Python's _prefix_fields decides) */
static int pg_fields(const char *b, const pgline_t *L, pgev_t *ev) {
    if (!pg_ts(b, L, &ev->ts_us, &ev->have_ts)) return 0;
    ev->have_user = pg_dec_ok(b, L->u0, L->u1);
    ev->have_db = pg_dec_ok(b, L->d0, L->d1);
    if (L->p1 - L->p0 > 18) return 0;
    to_ll(b + L->p0, L->p1 - L->p0, &ev->pid);
    /* _client(remote): "host(port)", "[local]", "[unknown]", an address or a name */
    Py_ssize_t r0 = L->r0, r1 = L->r1;
    ev->have_host = ev->have_ip = ev->have_port = 0;
    for (Py_ssize_t k = r0; k < r1; k++)
        if ((unsigned char)b[k] >= 0x80 || b[k] == ':') return 0; /* non-ASCII names, IPv6 (normalized by ipaddress) */
    if (r1 > r0 && b[r1 - 1] == ')') {
        Py_ssize_t open = -1;
        for (Py_ssize_t k = r1 - 2; k >= r0; k--)
            if (b[k] == '(') { open = k; break; }
        if (open >= 0) {
            Py_ssize_t p0 = open + 1, p1 = r1 - 1;
            int digits_only = p1 > p0 && p1 - p0 <= 15;
            for (Py_ssize_t k = p0; k < p1 && digits_only; k++) digits_only = pg_digit(b[k]);
            if (!digits_only && p1 - p0 > 15) return 0;
            if (digits_only) { ev->have_port = 1; to_ll(b + p0, p1 - p0, &ev->port); }
            r1 = open;
        }
    }
    ev->h0 = r0; ev->h1 = r1;
    ev->have_host = pg_dec_ok(b, r0, r1);
    ev->have_ip = ev->have_host && pg_ipv4(b + r0, r1 - r0);
    return 1;
}

/* ---- pg_region ------------------------------------------------------------------------------ */

static PyObject *pg_range(Py_ssize_t s, Py_ssize_t e) { return Py_BuildValue("(nn)", s, e); }

static int pg_append_range(PyObject *ranges, Py_ssize_t s, Py_ssize_t e) {
    PyObject *t = pg_range(s, e);
    int ok = t && PyList_Append(ranges, t) == 0;
    Py_XDECREF(t);
    return ok;
}

/* a parse/bind duration waits for the execute of its statement (the banners() loop's _PREPARE
 * branch); 1 done, 0 undecided (state not of the shape Python keeps), -1 error */
static int pg_prepare(PyObject *prepared, PyObject *pid, PyObject *key, int which, double ms) {
    PyObject *inner = PyDict_GetItemWithError(prepared, pid);
    if (!inner && PyErr_Occurred()) return -1;
    if (inner && !PyDict_CheckExact(inner)) return 0;
    PyObject *slot = inner ? PyDict_GetItemWithError(inner, key) : NULL;
    if (!slot && PyErr_Occurred()) return -1;
    if (slot && !(PyList_CheckExact(slot) && PyList_GET_SIZE(slot) == 2)) return 0;
    PyObject *old = slot ? PyList_GET_ITEM(slot, which) : Py_None;
    if (old != Py_None && !PyFloat_CheckExact(old)) return 0;
    if (PyDict_Size(prepared) > 100000) { /* `if len(prepared) > 100_000: prepared.clear()` */
        PyDict_Clear(prepared);
        inner = slot = NULL;
        old = Py_None;
    }
    if (!inner) {
        if (!(inner = PyDict_New())) return -1;
        int bad = PyDict_SetItem(prepared, pid, inner) < 0;
        Py_DECREF(inner); /* the dict holds it */
        if (bad) return -1;
    }
    if (!slot) {
        if (!(slot = PyList_New(2))) return -1;
        Py_INCREF(Py_None); PyList_SET_ITEM(slot, 0, Py_None);
        Py_INCREF(Py_None); PyList_SET_ITEM(slot, 1, Py_None);
        int bad = PyDict_SetItem(inner, key, slot) < 0;
        Py_DECREF(slot);
        if (bad) return -1;
    }
    PyObject *v = PyFloat_FromDouble(old == Py_None ? ms : PyFloat_AS_DOUBLE(old) + ms);
    if (!v) return -1;
    PyList_SetItem(slot, which, v); /* steals v */
    return 1;
}

/* the execute's waiting parse/bind durations: `waiting.pop(key, None) or waiting.pop(b"<unnamed>", None)`,
 * then the pid's entry goes when empty. 1 done, 0 undecided, -1 error */
static int pg_take_prepared(PyObject *prepared, PyObject *pid, PyObject *key, pgev_t *ev) {
    ev->have_parse = ev->have_bind = 0;
    PyObject *waiting = PyDict_GetItemWithError(prepared, pid);
    if (!waiting) return PyErr_Occurred() ? -1 : 1;
    if (!PyDict_CheckExact(waiting)) return 0;
    PyObject *keys[2] = {key, PG_UNNAMED}, *slot = NULL, *used = NULL;
    for (int a = 0; a < 2 && !slot; a++) {
        slot = PyDict_GetItemWithError(waiting, keys[a]);
        if (!slot && PyErr_Occurred()) return -1;
        used = keys[a];
    }
    if (slot) {
        if (!(PyList_CheckExact(slot) && PyList_GET_SIZE(slot) == 2)) return 0;
        PyObject *p = PyList_GET_ITEM(slot, 0), *q = PyList_GET_ITEM(slot, 1);
        if ((p != Py_None && !PyFloat_CheckExact(p)) || (q != Py_None && !PyFloat_CheckExact(q))) return 0;
        if ((ev->have_parse = p != Py_None)) ev->parse_ms = PyFloat_AS_DOUBLE(p);
        if ((ev->have_bind = q != Py_None)) ev->bind_ms = PyFloat_AS_DOUBLE(q);
        if (PyDict_DelItem(waiting, used) < 0) return -1;
    }
    if (PyDict_Size(waiting) == 0 && PyDict_DelItem(prepared, pid) < 0) return -1;
    return 1;
}

/* bytes.rstrip(): the end of b[a:z] without trailing ASCII whitespace */
static Py_ssize_t pg_rstrip(const char *b, Py_ssize_t a, Py_ssize_t z) {
    while (z > a && is_space(b[z - 1])) z--;
    return z;
}

/* pg_region(buf, lines, k, cut, pending, prepared, limit, classes, ranges)
 *   -> (k, declined_start, declined_end, segment | None)
 * Entries from the k-th line record on, up to `cut`, exactly as PostgresLogParser.banners: skipped
 * ones appended to `ranges` as (start, end), parse/bind durations folded into `prepared`, events
 * written as columns (segment: (rows, columns, extra_offsets, text_offsets, class_ids) in
 * mysql_columns' layout; source_offset relative to the buffer). Stops at `cut`, after `limit` rows,
 * or at an entry it leaves to Python (declined_start >= 0: its record index is k). */
static PyObject *py_pg_region(PyObject *self, PyObject *args) {
    PyObject *bufobj, *linesobj, *pending, *prepared, *ranges;
    ClassTable *classes;
    Py_ssize_t k, cut, limit;
    if (!PyArg_ParseTuple(args, "SSnnO!O!nO!O!", &bufobj, &linesobj, &k, &cut, &PyDict_Type, &pending, &PyDict_Type,
                          &prepared, &limit, &ClassTableType, &classes, &PyList_Type, &ranges))
        return NULL;
    const char *b = PyBytes_AS_STRING(bufobj);
    Py_ssize_t blen = PyBytes_GET_SIZE(bufobj);
    const pgline_t *lines = (const pgline_t *)PyBytes_AS_STRING(linesobj);
    Py_ssize_t nlines = PyBytes_GET_SIZE(linesobj) / (Py_ssize_t)sizeof(pgline_t);
    if (cut > blen) cut = blen;
    if (PyList_GET_SIZE(classes->fps) > classes->max_classes && !classtable_reset(classes)) return NULL;

    col_t cols[C_N];
    gbuf_t xoff = {0}, xvalid = {0}, toff = {0}, tvalid = {0}, ids = {0};
    Py_ssize_t xnulls = 0, tnulls = 0, rows = 0, declined_s = -1, declined_e = -1;
    int c, ok = 1;
    for (c = 0; c < C_N; c++) ok &= col_init(&cols[c], COL_KIND[c]);
    int32_t zero = 0;
    ok = ok && g_put(&xoff, &zero, 4) && g_put(&toff, &zero, 4);
    /* size the buffers once for the rows this call can make, as mysql_columns does */
    Py_ssize_t rows_max = 0, first = -1;
    for (Py_ssize_t j = k; j < nlines && lines[j].pos < cut && rows_max < limit; j++)
        if (!lines[j].merged) { rows_max++; if (first < 0) first = lines[j].pos; }
    if (ok && rows_max > 0) {
        for (c = 0; ok && c < C_XKEY; c++)
            ok = g_reserve(&cols[c].valid, rows_max) && g_reserve(&cols[c].vals, rows_max * 8 + 8) &&
                 (COL_KIND[c] != K_STR || g_reserve(&cols[c].data, c == C_QUERY ? cut - first : rows_max * 8));
        ok = ok && g_reserve(&ids, rows_max * 4) && g_reserve(&xoff, rows_max * 4) && g_reserve(&toff, rows_max * 4) &&
             g_reserve(&xvalid, rows_max) && g_reserve(&tvalid, rows_max) &&
             g_reserve(&cols[C_TKEY].vals, rows_max * 12) && g_reserve(&cols[C_TVAL].vals, rows_max * 12) &&
             g_reserve(&cols[C_TKEY].valid, rows_max * 3) && g_reserve(&cols[C_TVAL].valid, rows_max * 3);
    }
    while (ok) {
        while (k < nlines && lines[k].merged) k++;
        if (k >= nlines || lines[k].pos >= cut || rows >= limit) break;
        const pgline_t *L = &lines[k];
        Py_ssize_t s = L->pos, kn = k + 1;
        while (kn < nlines && lines[kn].merged) kn++;
        Py_ssize_t e = kn < nlines ? lines[kn].pos : blen;
        if (e > cut) e = cut;
        pgclass_t cl;
        if (L->level == PL_EXTRA || !pg_classify(b, blen, L->level, L->msg, &cl) || cl.kind == PK_STATEMENT) {
            declined_s = s; declined_e = e; /* log_statement lines, unreadable prefixes: Python */
            break;
        }
        if (cl.kind == PK_SKIP) {
            ok = pg_append_range(ranges, s, e);
            k = kn;
            continue;
        }
        PyObject *pid = PyBytes_FromStringAndSize(b + L->p0, L->p1 - L->p0);
        if (!pid) { ok = 0; break; }
        int r = 1;
        if (cl.kind == PK_DURATION_ONLY) {
            /* an event only when a log_statement line of the pid waits for it: Python pairs those */
            r = PyDict_Contains(pending, pid);
            r = r < 0 ? -1 : r ? 0 : pg_append_range(ranges, s, e) ? 1 : -1;
            Py_DECREF(pid);
            if (r < 0) { ok = 0; break; }
            if (r == 0) { declined_s = s; declined_e = e; break; }
            k = kn;
            continue;
        }
        PyObject *key = pg_stmt_key(b, cl.n0, cl.n1);
        if (!key) { Py_DECREF(pid); ok = 0; break; }
        if (cl.kind == PK_PREPARE) {
            r = pg_prepare(prepared, pid, key, cl.step == PS_PARSE ? 0 : 1, cl.ms);
            if (r == 1 && !pg_append_range(ranges, s, e)) r = -1;
        } else {
            /* an execution: its statement (up to the first secondary line) and DETAIL parameters */
            pgev_t ev;
            memset(&ev, 0, sizeof(ev));
            r = pg_fields(b, L, &ev);
            Py_ssize_t nl = find_byte(b, cl.qstart, e > cl.qstart ? e : cl.qstart, '\n'), qend = e;
            if (r == 1 && nl >= 0 && nl + 1 < e) {
                for (Py_ssize_t j = k + 1; j < kn; j++) {
                    const pgline_t *S = &lines[j];
                    if (S->pos < nl + 1 || S->pos >= e) continue;
                    if (qend == e) qend = S->pos;
                    if (S->level == PL_DETAIL && starts_with(b, blen, S->msg, "parameters: ")) {
                        Py_ssize_t pend = e;
                        for (Py_ssize_t j2 = j + 1; j2 < kn; j2++)
                            if (lines[j2].pos >= nl + 1 && lines[j2].pos < e) { pend = lines[j2].pos; break; }
                        ev.have_params = 1;
                        ev.pa0 = S->msg + 12;
                        ev.pa1 = pend > ev.pa0 ? pg_rstrip(b, ev.pa0, pend) : ev.pa0;
                        break;
                    }
                }
            }
            ev.q0 = cl.qstart;
            ev.q1 = qend > cl.qstart ? pg_rstrip(b, cl.qstart, qend) : cl.qstart;
            if (r == 1 && cl.step == PS_EXECUTE) r = pg_take_prepared(prepared, pid, key, &ev);
            if (r == 1 && cols[C_QUERY].data.n + (ev.q1 - ev.q0) * 3 > 0x7fff0000LL) r = 0; /* int32 offsets */
            if (r == 1) {
                int32_t cls = class_of(classes, b + ev.q0, ev.q1 - ev.q0);
                int nx = ev.have_port + ev.have_parse + ev.have_bind, ntx = 1 + (cl.n1 > cl.n0) + ev.have_params;
                const char *step = PG_STEPS[cl.step];
                ok = cls >= 0 &&
                     col_i64(&cols[C_TS], ev.ts_us, ev.have_ts) &&
                     col_str(&cols[C_USER], b + L->u0, L->u1 - L->u0, ev.have_user) &&
                     col_str(&cols[C_HOST], b + ev.h0, ev.h1 - ev.h0, ev.have_host) &&
                     col_str(&cols[C_IP], b + ev.h0, ev.h1 - ev.h0, ev.have_ip) &&
                     col_str(&cols[C_DB], b + L->d0, L->d1 - L->d0, ev.have_db) &&
                     col_i64(&cols[C_TID], ev.pid, 1) &&
                     col_f64(&cols[C_QT], cl.ms / 1000.0, 1) &&
                     col_f64(&cols[C_LT], 0, 0) && col_i64(&cols[C_RS], 0, 0) && col_i64(&cols[C_RE], 0, 0) &&
                     col_i64(&cols[C_RA], 0, 0) && col_i64(&cols[C_BS], 0, 0) &&
                     col_str(&cols[C_QUERY], b + ev.q0, ev.q1 - ev.q0, 1) &&
                     col_i64(&cols[C_OFF], s, 1) &&
                     col_i64(&cols[C_LEN], e - s, 1) &&
                     g_put(&ids, &cls, 4);
                /* extra: port (a shared dict in Python: first), then parse_time / bind_time */
                if (ok && ev.have_port) ok = col_str(&cols[C_XKEY], "port", 4, 1) && col_f64(&cols[C_XVAL], (double)ev.port, 1);
                if (ok && ev.have_parse) ok = col_str(&cols[C_XKEY], "parse_time", 10, 1) && col_f64(&cols[C_XVAL], ev.parse_ms / 1000.0, 1);
                if (ok && ev.have_bind) ok = col_str(&cols[C_XKEY], "bind_time", 9, 1) && col_f64(&cols[C_XVAL], ev.bind_ms / 1000.0, 1);
                /* extra_text: step, statement_name, parameters */
                if (ok) ok = col_str(&cols[C_TKEY], "step", 4, 1) && col_str(&cols[C_TVAL], step, (Py_ssize_t)strlen(step), 1);
                if (ok && cl.n1 > cl.n0)
                    ok = col_str(&cols[C_TKEY], "statement_name", 14, 1) && col_str(&cols[C_TVAL], b + cl.n0, cl.n1 - cl.n0, 1);
                if (ok && ev.have_params)
                    ok = col_str(&cols[C_TKEY], "parameters", 10, 1) && col_str(&cols[C_TVAL], b + ev.pa0, ev.pa1 - ev.pa0, 1);
                if (ok) {
                    int32_t xo = (int32_t)cols[C_XVAL].valid.n, to = (int32_t)cols[C_TVAL].valid.n;
                    char xv = nx > 0, tv = ntx > 0; /* an empty map is null, as the reference path */
                    xnulls += !xv;
                    tnulls += !tv;
                    ok = g_put(&xoff, &xo, 4) && g_put(&xvalid, &xv, 1) && g_put(&toff, &to, 4) && g_put(&tvalid, &tv, 1);
                }
                rows++;
            }
        }
        Py_DECREF(pid);
        Py_DECREF(key);
        if (r < 0) ok = 0;
        if (!ok) break;
        if (r == 0) { declined_s = s; declined_e = e; break; }
        k = kn;
    }
    PyObject *result = NULL;
    if (ok) {
        PyObject *seg = Py_None;
        Py_INCREF(seg);
        if (rows) {
            Py_DECREF(seg);
            seg = NULL;
            PyObject *colt = PyTuple_New(C_N);
            for (c = 0; colt && c < C_N; c++) {
                PyObject *o = col_export(&cols[c]);
                if (!o) { Py_CLEAR(colt); break; }
                PyTuple_SET_ITEM(colt, c, o);
            }
            col_t xm = {K_I64, xvalid, xoff, {0}, xnulls}, tm = {K_I64, tvalid, toff, {0}, tnulls};
            PyObject *xmap = colt ? col_export(&xm) : NULL, *tmap = colt ? col_export(&tm) : NULL;
            PyObject *idb = PyBytes_FromStringAndSize(ids.p ? ids.p : "", ids.n);
            if (colt && xmap && tmap && idb) seg = Py_BuildValue("(nNNNN)", rows, colt, xmap, tmap, idb);
            else { Py_XDECREF(colt); Py_XDECREF(xmap); Py_XDECREF(tmap); Py_XDECREF(idb); }
        }
        if (seg) result = Py_BuildValue("(nnnN)", k, declined_s, declined_e, seg);
    }
    for (c = 0; c < C_N; c++) col_free(&cols[c]);
    PyMem_Free(xoff.p); PyMem_Free(xvalid.p); PyMem_Free(toff.p); PyMem_Free(tvalid.p); PyMem_Free(ids.p);
    return result;
}

/* ---- part 5: fingerprint_pg ------------------------------------------------------------------
 * A port of fingerprint_pg.py's fast tokenizer (the _MASTER regex, alternatives in its order), sign
 * folding, IN / ARRAY / VALUES collapsing and rendering, on UTF-8 bytes: every non-ASCII character
 * is an identifier character there, so every byte >= 0x80 is one here. Before it, the number mask
 * of fingerprint_pg_cached (digit runs -> "1"), so the result is what the cached path returns.
 * Declined (None): invalid UTF-8, nested comments (the Python character-level tokenizer), a digit
 * run right after a non-ASCII character (Unicode \w decides the mask there). */

enum { PT_WORD, PT_QIDENT, PT_LIT, PT_OP, PT_PUNCT, PT_COLLAPSED };
typedef struct { int kind, space; const char *t; Py_ssize_t n; } pgtok_t;

static inline int pt_word_start(unsigned char c) { return pg_alpha(c) || c == '_' || c >= 0x80; }
static inline int pt_word_char(unsigned char c) { return pt_word_start(c) || pg_digit(c) || c == '$'; }
static inline int pt_tag_char(unsigned char c) { return pt_word_start(c) || pg_digit(c); }
static inline int pt_hex(unsigned char c) { return pg_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static inline int pt_op_char(unsigned char c) { return c && strchr("+*<>=~!@#%^&|`", c) != NULL; }
static inline int pt_eq(const pgtok_t *t, const char *lit) {
    Py_ssize_t k = (Py_ssize_t)strlen(lit);
    return t->n == k && memcmp(t->t, lit, k) == 0;
}

static const char *PT_SIGN_CONTEXT[] = {
    "select", "where", "and", "or", "not", "when", "then", "else", "case", "return", "returning", "values", "in",
    "by", "limit", "offset", "between", "like", "ilike", "similar", "is", "on", "set", "having", "any", "all",
    "some", "array", "distinct", "as", "from", "with", "fetch", "rows", "row", NULL};

/* _operand_end: does the token end an operand (so a following +/- is binary)? */
static int pt_operand_end(const pgtok_t *t) {
    if (t->kind == PT_LIT || t->kind == PT_QIDENT || t->kind == PT_COLLAPSED) return 1;
    if (t->kind == PT_WORD) {
        for (int k = 0; PT_SIGN_CONTEXT[k]; k++)
            if (pt_eq(t, PT_SIGN_CONTEXT[k])) return 0;
        return 1;
    }
    return t->kind == PT_PUNCT && (pt_eq(t, ")") || pt_eq(t, "]"));
}

/* _fold_signs: unary signs before a literal go with it; returns the space flag it takes over */
static int pt_fold_signs(pgtok_t *out, Py_ssize_t *m, int space) {
    while (*m > 0 && out[*m - 1].kind == PT_OP && (pt_eq(&out[*m - 1], "-") || pt_eq(&out[*m - 1], "+")) &&
           (*m < 2 || !pt_operand_end(&out[*m - 2])))
        space = out[--*m].space;
    return space;
}

/* a literal ("?") token, the sign before it folded in; the next token starts without a space */
static inline void pt_literal(pgtok_t *out, Py_ssize_t *m, int *space) {
    *space = pt_fold_signs(out, m, *space);
    out[(*m)++] = (pgtok_t){PT_LIT, *space, "?", 1};
    *space = 0;
}

/* the end of a '..'-style body with doubled quotes (the opening quote is before i) */
static Py_ssize_t pt_quoted_end(const char *q, Py_ssize_t n, Py_ssize_t i, char quote) {
    for (;;) {
        const char *p = memchr(q + i, quote, n - i);
        if (!p) return n;
        Py_ssize_t k = p - q;
        if (k + 1 < n && q[k + 1] == quote) { i = k + 2; continue; }
        return k + 1;
    }
}

/* _tokens: 1 ok (*count tokens), 0 declined (a nested comment) */
static int pt_tokens(const char *q, Py_ssize_t n, pgtok_t *out, Py_ssize_t *count, char *arena) {
    Py_ssize_t i = 0, m = 0, an = 0;
    int space = 0;
    while (i < n) {
        unsigned char c = q[i];
        unsigned char c1 = i + 1 < n ? q[i + 1] : 0, c2 = i + 2 < n ? q[i + 2] : 0;
        Py_ssize_t j;
        if (is_space(c)) { /* ws */
            while (i < n && is_space(q[i])) i++;
            space = 1;
            continue;
        }
        if (c == '-' && c1 == '-') { /* lc: --[^\n]* */
            const char *p = memchr(q + i, '\n', n - i);
            i = p ? p - q : n;
            space = 1;
            continue;
        }
        if (c == '/' && c1 == '*') { /* bc: a comment without "/" "*" inside, to its end or the text's */
            for (j = i + 2;; j++) {
                if (j >= n) break;
                if (q[j] == '*' && j + 1 < n && q[j + 1] == '/') { j += 2; break; }
                if (q[j] == '/' && j + 1 < n && q[j + 1] == '*') return 0; /* nested: the slow tokenizer */
            }
            i = j;
            space = 1;
            continue;
        }
        /* lit: E'..' with backslash escapes; [bBxXnN]'..' / U&'..' / '..'; $tag$..$tag$ */
        j = -1;
        if ((c == 'e' || c == 'E') && c1 == '\'') {
            j = i + 2;
            while (j < n) {
                if (q[j] == '\\') { if (j + 1 >= n) break; j += 2; }
                else if (q[j] == '\'') { if (j + 1 < n && q[j + 1] == '\'') j += 2; else break; }
                else j++;
            }
            if (j < n && q[j] == '\'') j++;
        } else if (c1 == '\'' && c && strchr("bBxXnN", c)) {
            j = pt_quoted_end(q, n, i + 2, '\'');
        } else if ((c == 'u' || c == 'U') && c1 == '&' && c2 == '\'') {
            j = pt_quoted_end(q, n, i + 3, '\'');
        } else if (c == '\'') {
            j = pt_quoted_end(q, n, i + 1, '\'');
        } else if (c == '$') {
            Py_ssize_t t = i + 1;
            if (t < n && pt_word_start(q[t]))
                while (t < n && pt_tag_char(q[t])) t++;
            if (t < n && q[t] == '$') {
                Py_ssize_t taglen = t - i + 1; /* "$tag$" */
                const char *p = taglen <= n - (t + 1) ? memmem(q + t + 1, n - (t + 1), q + i, taglen) : NULL;
                j = p ? (p - q) + taglen : n;
            }
        }
        if (j >= 0) {
            pt_literal(out, &m, &space);
            i = j;
            continue;
        }
        /* qid: (U&)?"..." kept verbatim */
        if (c == '"' || ((c == 'u' || c == 'U') && c1 == '&' && c2 == '"')) {
            j = pt_quoted_end(q, n, c == '"' ? i + 1 : i + 3, '"');
            out[m++] = (pgtok_t){PT_QIDENT, space, q + i, j - i};
            i = j;
            space = 0;
            continue;
        }
        /* num: $n, ?, 0x.. / 0o.. / 0b.., decimals with an optional exponent */
        j = -1;
        if (c == '$' && pg_digit(c1)) {
            for (j = i + 1; j < n && pg_digit(q[j]); j++) {}
        } else if (c == '?') {
            j = i + 1;
        } else if (c == '0' && (c1 == 'x' || c1 == 'X') && i + 2 < n && (pt_hex(c2) || c2 == '_')) {
            for (j = i + 2; j < n && (pt_hex(q[j]) || q[j] == '_'); j++) {}
        } else if (c == '0' && (c1 == 'o' || c1 == 'O') && ((c2 >= '0' && c2 <= '7') || c2 == '_')) {
            for (j = i + 2; j < n && ((q[j] >= '0' && q[j] <= '7') || q[j] == '_'); j++) {}
        } else if (c == '0' && (c1 == 'b' || c1 == 'B') && (c2 == '0' || c2 == '1' || c2 == '_')) {
            for (j = i + 2; j < n && (q[j] == '0' || q[j] == '1' || q[j] == '_'); j++) {}
        } else if (pg_digit(c) || (c == '.' && pg_digit(c1))) {
            j = i + 1;
            while (j < n && (pg_digit(q[j]) || q[j] == '_')) j++;
            if (pg_digit(c) && j < n && q[j] == '.') {
                j++;
                while (j < n && (pg_digit(q[j]) || q[j] == '_')) j++;
            }
            if (j < n && (q[j] == 'e' || q[j] == 'E')) {
                Py_ssize_t k = j + 1;
                if (k < n && (q[k] == '+' || q[k] == '-')) k++;
                if (k < n && pg_digit(q[k])) {
                    while (k < n && pg_digit(q[k])) k++;
                    j = k;
                }
            }
        }
        if (j >= 0) {
            pt_literal(out, &m, &space);
            i = j;
            continue;
        }
        /* coll: already collapsed lists (keeps the function idempotent) */
        if (i + 4 <= n && (memcmp(q + i, "(?+)", 4) == 0 || memcmp(q + i, "[?+]", 4) == 0)) {
            out[m++] = (pgtok_t){PT_COLLAPSED, space, c == '(' ? "(?+)" : "[?+]", 4};
            i += 4;
            space = 0;
            continue;
        }
        if (i + 5 <= n && memcmp(q + i, "(...)", 5) == 0) {
            out[m++] = (pgtok_t){PT_COLLAPSED, space, "(?+)", 4};
            i += 5;
            space = 0;
            continue;
        }
        if (c == ':' && c1 == ':') { /* cast */
            out[m++] = (pgtok_t){PT_PUNCT, space, "::", 2};
            i += 2;
            space = 0;
            continue;
        }
        /* op: (?:[+*<>=~!@#%^&|`]|-(?!-)|/(?!\*))+ */
        j = i;
        while (j < n && (pt_op_char(q[j]) || (q[j] == '-' && !(j + 1 < n && q[j + 1] == '-')) ||
                         (q[j] == '/' && !(j + 1 < n && q[j + 1] == '*'))))
            j++;
        if (j > i) {
            Py_ssize_t len = j - i, rest = len;
            int keep_sign = 0;
            for (Py_ssize_t k = i; k < j; k++) keep_sign |= strchr("~!@#%^&|`", q[k]) != NULL;
            if (len > 1 && (q[j - 1] == '+' || q[j - 1] == '-') && !keep_sign) {
                /* a multi-character operator cannot end in + or -: "=-1" is "=" then "-1" */
                while (rest > 0 && (q[i + rest - 1] == '+' || q[i + rest - 1] == '-')) rest--;
                if (!rest) rest = 1;
                out[m++] = (pgtok_t){PT_OP, space, q + i, rest};
                for (Py_ssize_t k = i + rest; k < j; k++) out[m++] = (pgtok_t){PT_OP, 0, q + k, 1};
            } else {
                out[m++] = (pgtok_t){PT_OP, space, q + i, len};
            }
            i = j;
            space = 0;
            continue;
        }
        if (pt_word_start(c)) { /* word: lower-cased (ASCII only); true / false are literals */
            for (j = i + 1; j < n && pt_word_char(q[j]); j++) {}
            char *w = arena + an;
            for (Py_ssize_t k = i; k < j; k++) w[k - i] = (char)lower((unsigned char)q[k]);
            an += j - i;
            pgtok_t t = {PT_WORD, space, w, j - i};
            if (pt_eq(&t, "true") || pt_eq(&t, "false")) {
                space = pt_fold_signs(out, &m, space);
                t = (pgtok_t){PT_LIT, space, "?", 1};
            }
            out[m++] = t;
            i = j;
            space = 0;
            continue;
        }
        out[m++] = (pgtok_t){PT_PUNCT, space, q + i, 1}; /* other: one (ASCII) character */
        i++;
        space = 0;
    }
    *count = m;
    return 1;
}

/* _is_value: toks[i] starts `?` or `?::type...`: the index after it, else -1 */
static Py_ssize_t pt_is_value(const pgtok_t *t, Py_ssize_t n, Py_ssize_t i) {
    if (i >= n || t[i].kind != PT_LIT) return -1;
    i++;
    while (i + 1 < n && pt_eq(&t[i], "::") && (t[i + 1].kind == PT_WORD || t[i + 1].kind == PT_QIDENT)) {
        i += 2;
        if (i < n && pt_eq(&t[i], "(")) { /* type modifiers: varchar(?) */
            Py_ssize_t j = i + 1;
            while (j < n && !pt_eq(&t[j], ")")) j++;
            i = j + 1;
        }
        while (i + 1 < n && pt_eq(&t[i], "[") && pt_eq(&t[i + 1], "]")) i += 2; /* int[] */
    }
    return i;
}

/* _value_list: `v, v, ...` + close from toks[i]: the index after close, else -1 */
static Py_ssize_t pt_value_list(const pgtok_t *t, Py_ssize_t n, Py_ssize_t i, const char *close) {
    Py_ssize_t j = pt_is_value(t, n, i);
    if (j < 0) return -1;
    while (j < n && pt_eq(&t[j], ",")) {
        j = pt_is_value(t, n, j + 1);
        if (j < 0) return -1;
    }
    return j < n && pt_eq(&t[j], close) ? j + 1 : -1;
}

/* _tuple_end: toks[i] is '(': the index after its matching ')', or -1 */
static Py_ssize_t pt_tuple_end(const pgtok_t *t, Py_ssize_t n, Py_ssize_t i) {
    int depth = 0;
    for (Py_ssize_t j = i; j < n; j++) {
        if (t[j].kind == PT_PUNCT && pt_eq(&t[j], "(")) depth++;
        else if (t[j].kind == PT_PUNCT && pt_eq(&t[j], ")") && --depth == 0) return j + 1;
    }
    return -1;
}

/* _collapse: IN (?, ..) -> in (?+), ARRAY[?, ..] -> array[?+], VALUES rows -> values (?+) or the
 * first of identical rows. rows: scratch room for n (start, end) pairs. */
static Py_ssize_t pt_collapse(const pgtok_t *t, Py_ssize_t n, pgtok_t *out, Py_ssize_t *rows) {
    Py_ssize_t m = 0, i = 0;
    while (i < n) {
        const pgtok_t *tok = &t[i];
        out[m++] = *tok;
        i++;
        if (tok->kind != PT_WORD || i >= n) continue;
        const pgtok_t *nxt = &t[i];
        if (pt_eq(tok, "in") && nxt->kind == PT_PUNCT && pt_eq(nxt, "(")) {
            Py_ssize_t j = pt_value_list(t, n, i + 1, ")");
            if (j > 0) { out[m++] = (pgtok_t){PT_COLLAPSED, 1, "(?+)", 4}; i = j; }
        } else if (pt_eq(tok, "array") && nxt->kind == PT_PUNCT && pt_eq(nxt, "[")) {
            Py_ssize_t j = pt_value_list(t, n, i + 1, "]");
            if (j > 0) { out[m++] = (pgtok_t){PT_COLLAPSED, 0, "[?+]", 4}; i = j; }
        } else if (pt_eq(tok, "values") && nxt->kind == PT_PUNCT && pt_eq(nxt, "(")) {
            Py_ssize_t nrows = 0, j = i;
            for (;;) {
                Py_ssize_t end = pt_tuple_end(t, n, j);
                if (end < 0) break;
                rows[2 * nrows] = j; rows[2 * nrows + 1] = end; nrows++;
                if (end < n && pt_eq(&t[end], ",") && end + 1 < n && pt_eq(&t[end + 1], "(")) { j = end + 1; continue; }
                break;
            }
            if (!nrows) continue;
            int all_values = 1;
            for (Py_ssize_t r = 0; r < nrows && all_values; r++)
                all_values = pt_value_list(t, n, rows[2 * r] + 1, ")") == rows[2 * r + 1];
            if (all_values) {
                out[m++] = (pgtok_t){PT_COLLAPSED, 1, "(?+)", 4};
                i = rows[2 * nrows - 1];
            } else if (nrows > 1) {
                Py_ssize_t a0 = rows[0], len = rows[1] - rows[0];
                int same = 1;
                for (Py_ssize_t r = 1; r < nrows && same; r++) {
                    Py_ssize_t a = rows[2 * r];
                    same = rows[2 * r + 1] - a == len;
                    for (Py_ssize_t k = 0; k < len && same; k++)
                        same = t[a + k].n == t[a0 + k].n && memcmp(t[a + k].t, t[a0 + k].t, t[a0 + k].n) == 0;
                }
                if (same) {
                    for (Py_ssize_t k = 0; k < len; k++) out[m++] = t[a0 + k];
                    i = rows[2 * nrows - 1];
                }
            }
        }
    }
    return m;
}

/* fingerprint_pg_cached's mask: (?<![\w$])(?!0(?![0-9]))[0-9]+ -> "1" (unless the query has a '"'
 * or more than 65536 characters). 1 ok (*len), 0 declined (a digit run after a non-ASCII character) */
static int pt_mask(const char *q, Py_ssize_t n, char *dst, Py_ssize_t *len) {
    Py_ssize_t chars = 0, i = 0, m = 0;
    for (Py_ssize_t k = 0; k < n; k++) chars += ((unsigned char)q[k] & 0xC0) != 0x80;
    if (chars > 65536 || memchr(q, '"', n)) {
        memcpy(dst, q, n);
        *len = n;
        return 1;
    }
    while (i < n) {
        unsigned char c = q[i];
        if (!pg_digit(c)) { dst[m++] = (char)c; i++; continue; }
        unsigned char prev = i ? (unsigned char)q[i - 1] : 0;
        if (prev >= 0x80) return 0;
        Py_ssize_t j = i;
        while (j < n && pg_digit(q[j])) j++;
        if (is_word(prev) || prev == '$' || (c == '0' && j == i + 1)) {
            memcpy(dst + m, q + i, j - i); /* inside a word / $n / a lone 0: kept */
            m += j - i;
        } else {
            dst[m++] = '1';
        }
        i = j;
    }
    *len = m;
    return 1;
}

static PyObject *fingerprint_pg_bytes(const char *src, Py_ssize_t n) {
    if (!utf8_valid((const unsigned char *)src, n)) Py_RETURN_NONE;
    /* one allocation: masked text, lower-cased words, tokens (twice), VALUES rows, the output */
    Py_ssize_t ntok = n + 2;
    size_t size = (size_t)n * 2 + 2 * n + 32 + sizeof(pgtok_t) * 2 * ntok + sizeof(Py_ssize_t) * 2 * ntok;
    char *mem = (char *)PyMem_Malloc(size);
    if (!mem) return PyErr_NoMemory();
    char *masked = mem, *arena = mem + n + 1, *render = arena + n + 1;
    pgtok_t *toks = (pgtok_t *)(render + 2 * n + 16 + (8 - ((uintptr_t)(render + 2 * n + 16) & 7)) % 8);
    pgtok_t *coll = toks + ntok;
    Py_ssize_t *rows = (Py_ssize_t *)(coll + ntok);
    PyObject *result = NULL;
    Py_ssize_t qn, m;
    if (!pt_mask(src, n, masked, &qn) || !pt_tokens(masked, qn, toks, &m, arena)) {
        Py_INCREF(Py_None);
        result = Py_None;
    } else {
        while (m > 0 && toks[m - 1].kind == PT_PUNCT && pt_eq(&toks[m - 1], ";")) m--;
        Py_ssize_t c = pt_collapse(toks, m, coll, rows), r = 0;
        for (Py_ssize_t k = 0; k < c; k++) {
            if (coll[k].space && r) render[r++] = ' ';
            memcpy(render + r, coll[k].t, coll[k].n);
            r += coll[k].n;
        }
        result = PyBytes_FromStringAndSize(render, r);
    }
    PyMem_Free(mem);
    return result;
}

static PyObject *py_fingerprint_pg(PyObject *self, PyObject *arg) {
    char *s;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(arg, &s, &n) < 0) return NULL;
    return fingerprint_pg_bytes(s, n);
}
