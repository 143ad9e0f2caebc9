/*
 * Optional C accelerator for the slowlog core (same results as the Python reference paths, which
 * the tests compare it with). Four parts:
 *   1. pt-query-digest's fingerprint on bytes (below);
 *   2. MySQL slow-log entry starts and entry headers;
 *   3. mysql_columns: runs of common-shape entries written straight into Arrow buffers, with a
 *      bounded query -> class table (ClassTable), so no Python object is made per event;
 *   4. PostgreSQL stderr logs (_speedups_pg.c, included before the method table): entry starts,
 *      the parse/bind folding and the events' columns with the same column builders, and a port of
 *      fingerprint_pg for the ClassTable's kind="postgres".
 *
 * Part 1:
 * A step-by-step port of fingerprint.py (itself a port of Percona Toolkit's
 * QueryRewriter::fingerprint), each regex turned into an explicit scan with the same
 * leftmost/greedy/lazy semantics on bytes (Perl's byte semantics: ASCII-only \w \s \b, lc on
 * A-Z). fingerprint.py stays the reference: tests compare both on pt's vectors, on real logs
 * and on random input. Queries containing " union" return None (the Python path handles pt's
 * back-referencing UNION rule).
 */
#define _GNU_SOURCE /* memmem */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    char *p;
    Py_ssize_t n;
    Py_ssize_t cap;
} buf_t;


static inline void buf_put(buf_t *b, char c) { b->p[b->n++] = c; }
static inline void buf_putn(buf_t *b, const char *s, Py_ssize_t k) {
    memcpy(b->p + b->n, s, k);
    b->n += k;
}

/* character classes by table: Perl/Python ASCII \s (1) and \w (2) */
static const unsigned char CCLASS[256] = {
    ['\t'] = 1, ['\n'] = 1, ['\v'] = 1, ['\f'] = 1, ['\r'] = 1, [' '] = 1,
    ['0'] = 2, ['1'] = 2, ['2'] = 2, ['3'] = 2, ['4'] = 2, ['5'] = 2, ['6'] = 2, ['7'] = 2, ['8'] = 2, ['9'] = 2,
    ['A'] = 2, ['B'] = 2, ['C'] = 2, ['D'] = 2, ['E'] = 2, ['F'] = 2, ['G'] = 2, ['H'] = 2, ['I'] = 2, ['J'] = 2,
    ['K'] = 2, ['L'] = 2, ['M'] = 2, ['N'] = 2, ['O'] = 2, ['P'] = 2, ['Q'] = 2, ['R'] = 2, ['S'] = 2, ['T'] = 2,
    ['U'] = 2, ['V'] = 2, ['W'] = 2, ['X'] = 2, ['Y'] = 2, ['Z'] = 2, ['_'] = 2,
    ['a'] = 2, ['b'] = 2, ['c'] = 2, ['d'] = 2, ['e'] = 2, ['f'] = 2, ['g'] = 2, ['h'] = 2, ['i'] = 2, ['j'] = 2,
    ['k'] = 2, ['l'] = 2, ['m'] = 2, ['n'] = 2, ['o'] = 2, ['p'] = 2, ['q'] = 2, ['r'] = 2, ['s'] = 2, ['t'] = 2,
    ['u'] = 2, ['v'] = 2, ['w'] = 2, ['x'] = 2, ['y'] = 2, ['z'] = 2,
};
static inline __attribute__((always_inline)) int is_space(unsigned char c) { return CCLASS[c] == 1; }
static inline __attribute__((always_inline)) int is_word(unsigned char c) { return CCLASS[c] == 2; }
static inline unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

static inline __attribute__((always_inline)) int ci_eq(const char *s, Py_ssize_t n, Py_ssize_t i, const char *lit) {
    Py_ssize_t k = (Py_ssize_t)strlen(lit);
    if (i < 0 || i + k > n) return 0;
    for (Py_ssize_t j = 0; j < k; j++)
        if (lower((unsigned char)s[i + j]) != (unsigned char)lit[j]) return 0;
    return 1;
}

/* does the word occur (ASCII case-insensitively) anywhere? lit is lower-case */
static int has_ci(const char *s, Py_ssize_t n, const char *lit) {
    Py_ssize_t k = (Py_ssize_t)strlen(lit);
    unsigned char c0 = (unsigned char)lit[0], C0 = c0 - 32;
    for (Py_ssize_t i = 0; i + k <= n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c == c0 || c == C0) && ci_eq(s, n, i, lit)) return 1;
    }
    return 0;
}

/* is some '?' preceded by one of x b . + - ? */
static int has_prefixed_qmark(const char *s, Py_ssize_t n) {
    const char *p = s, *end = s + n;
    while ((p = memchr(p, '?', end - p)) != NULL) {
        if (p > s) {
            char c = p[-1];
            if (c == 'x' || c == 'b' || c == '.' || c == '+' || c == '-') return 1;
        }
        p++;
    }
    return 0;
}

/* swap: result of a step becomes the input of the next */
#define STEP_BEGIN { buf_t out; out.p = (q == fp_base) ? fp_base + half : fp_base; out.n = 0; out.cap = half;
#define STEP_END q = out.p; n = out.n; }

static PyObject *mk(const char *s, Py_ssize_t n) { return PyBytes_FromStringAndSize(s, n); }

static PyObject *fingerprint_bytes(const char *src, Py_ssize_t n0) {
    Py_ssize_t n = n0;
    /* two halves used in turn by the steps (no allocation per step): no step makes the text
     * longer than 1.5x ("in()" -> "in(?+)"), so 2*n0+16 bytes per half always suffice */
    Py_ssize_t half = 2 * n0 + 16;
    char *fp_base = (char *)PyMem_Malloc(2 * half);
    if (!fp_base) return PyErr_NoMemory();
    char *q = fp_base;
    memcpy(q, src, n);
    Py_ssize_t i, j;

    /* mysqldump */
    {
        static const char md[] = "SELECT /*!40001 SQL_NO_CACHE */ * FROM `";
        Py_ssize_t k = sizeof(md) - 1;
        if (n >= k && memcmp(q, md, k) == 0) { PyMem_Free(fp_base); return mk("mysqldump", 9); }
    }
    /* percona-toolkit: /\*\w+\.\w+:[0-9]/[0-9]\*\/ anywhere */
    for (i = 0; i + 1 < n; i++) {
        if (q[i] == '/' && q[i + 1] == '*') {
            j = i + 2;
            Py_ssize_t s = j;
            while (j < n && is_word(q[j])) j++;
            if (j == s || j >= n || q[j] != '.') continue;
            j++; s = j;
            while (j < n && is_word(q[j])) j++;
            if (j == s || j >= n || q[j] != ':') continue;
            j++;
            if (j + 4 < n && q[j] >= '0' && q[j] <= '9' && q[j + 1] == '/' && q[j + 2] >= '0' && q[j + 2] <= '9' &&
                q[j + 3] == '*' && q[j + 4] == '/') {
                PyMem_Free(fp_base);
                return mk("percona-toolkit", 15);
            }
        }
    }
    /* administrator command */
    if (n >= 23 && memcmp(q, "administrator command: ", 23) == 0) {
        PyObject *r = mk(q, n);
        PyMem_Free(fp_base);
        return r;
    }
    /* \A\s*(call\s+\S+)\( -> lc($1) */
    {
        i = 0;
        while (i < n && is_space(q[i])) i++;
        if (ci_eq(q, n, i, "call")) {
            j = i + 4;
            Py_ssize_t s = j;
            while (j < n && is_space(q[j])) j++;
            if (j > s) {
                Py_ssize_t t = j;
                while (t < n && !is_space(q[t])) t++; /* \S+ greedy run is q[j..t) */
                Py_ssize_t paren = -1;
                for (Py_ssize_t k = t - 1; k > j; k--) /* last '(' with >= 1 char before it in the run */
                    if (q[k] == '(') { paren = k; break; }
                if (paren > j) {
                    PyObject *r = PyBytes_FromStringAndSize(NULL, paren - i);
                    if (!r) { PyMem_Free(fp_base); return NULL; }
                    char *d = PyBytes_AS_STRING(r);
                    for (Py_ssize_t k = i; k < paren; k++) d[k - i] = (char)lower((unsigned char)q[k]);
                    PyMem_Free(fp_base);
                    return r;
                }
            }
        }
    }
    /* \A((?:INSERT|REPLACE)(?: IGNORE)?\s+INTO.+?VALUES\s*\(.*?\))\s*,\s*\(  /is -> $1 */
    {
        Py_ssize_t p = -1;
        if (ci_eq(q, n, 0, "insert")) p = 6;
        else if (ci_eq(q, n, 0, "replace")) p = 7;
        if (p > 0) {
            if (ci_eq(q, n, p, " ignore")) p += 7;
            Py_ssize_t s = p;
            while (p < n && is_space(q[p])) p++;
            if (p > s && ci_eq(q, n, p, "into")) {
                Py_ssize_t v = p + 4 + 1; /* .+? needs at least one char */
                int done = 0;
                for (; v + 6 <= n && !done; v++) {
                    if (!ci_eq(q, n, v, "values")) continue;
                    Py_ssize_t k = v + 6;
                    while (k < n && is_space(q[k])) k++;
                    if (k >= n || q[k] != '(') continue;
                    for (Py_ssize_t r = k + 1; r < n; r++) {
                        if (q[r] != ')') continue;
                        Py_ssize_t t = r + 1;
                        while (t < n && is_space(q[t])) t++;
                        if (t >= n || q[t] != ',') continue;
                        t++;
                        while (t < n && is_space(q[t])) t++;
                        if (t < n && q[t] == '(') { n = r + 1; done = 1; break; }
                    }
                }
            }
        }
    }
    /* multi-line comments: /\*[^!].*?\*\/ (dotall) -> '' */
    if (memchr(q, '*', n)) {
        STEP_BEGIN
        for (i = 0; i < n;) {
            if (q[i] == '/' && i + 2 < n && q[i + 1] == '*' && q[i + 2] != '!') {
                Py_ssize_t e = -1;
                for (j = i + 3; j + 1 < n; j++)
                    if (q[j] == '*' && q[j + 1] == '/') { e = j + 2; break; }
                if (e > 0) { i = e; continue; }
            }
            buf_put(&out, q[i]);
            i++;
        }
        STEP_END
    }
    /* one-line comments: (?:--|#)[^'"\r\n]*(?=[\r\n]|\Z) -> '' */
    if (memchr(q, '#', n) || memchr(q, '-', n)) {
        STEP_BEGIN
        for (i = 0; i < n;) {
            Py_ssize_t k = 0;
            if (q[i] == '#') k = 1;
            else if (q[i] == '-' && i + 1 < n && q[i + 1] == '-') k = 2;
            if (k) {
                j = i + k;
                while (j < n && q[j] != '\'' && q[j] != '"' && q[j] != '\r' && q[j] != '\n') j++;
                if (j == n || q[j] == '\r' || q[j] == '\n') { i = j; continue; }
            }
            buf_put(&out, q[i]);
            i++;
        }
        STEP_END
    }
    /* \Ause \S+\Z -> "use ?" (return) */
    if (ci_eq(q, n, 0, "use ")) {
        j = 4;
        while (j < n && !is_space(q[j])) j++;
        if (j > 4 && (j == n || (j == n - 1 && q[j] == '\n'))) {
            PyObject *r = (j == n) ? mk("use ?", 5) : mk("use ?\n", 6);
            PyMem_Free(fp_base);
            return r;
        }
    }
    /* escaped backslashes, then escaped quotes */
    if (memchr(q, '\\', n)) {
        STEP_BEGIN
        for (i = 0; i < n;) {
            if (q[i] == '\\' && i + 1 < n && q[i + 1] == '\\') { i += 2; continue; }
            buf_put(&out, q[i]);
            i++;
        }
        STEP_END
        STEP_BEGIN
        for (i = 0; i < n;) {
            if (q[i] == '\\' && i + 1 < n && (q[i + 1] == '"' || q[i + 1] == '\'')) { i += 2; continue; }
            buf_put(&out, q[i]);
            i++;
        }
        STEP_END
    }
    /* ".*?" then '.*?' -> ? */
    for (int pass = 0; pass < 2; pass++) {
        char quote = pass == 0 ? '"' : '\'';
        if (!memchr(q, quote, n)) continue;
        STEP_BEGIN
        for (i = 0; i < n;) {
            if (q[i] == quote) {
                char *e = memchr(q + i + 1, quote, n - i - 1);
                if (e) { buf_put(&out, '?'); i = (e - q) + 1; continue; }
            }
            buf_put(&out, q[i]);
            i++;
        }
        STEP_END
    }
    /* a quote left over is unpaired: a literal the log cut short (RDS truncates long statements);
     * pt keeps its text, we end the query there: -> ? (fingerprint.py: _UNPAIRED_QUOTE) */
    for (i = 0; i < n; i++)
        if (q[i] == '\'' || q[i] == '"') { q[i] = '?'; n = i + 1; break; }
    /* \bfalse\b|\btrue\b (ci) -> ? ; the copying pass only runs when either word occurs */
    if (has_ci(q, n, "true") || has_ci(q, n, "false")) {
        STEP_BEGIN
        for (i = 0; i < n;) {
            if ((i == 0 || !is_word(q[i - 1]))) {
                if (ci_eq(q, n, i, "false") && (i + 5 == n || !is_word(q[i + 5]))) { buf_put(&out, '?'); i += 5; continue; }
                if (ci_eq(q, n, i, "true") && (i + 4 == n || !is_word(q[i + 4]))) { buf_put(&out, '?'); i += 4; continue; }
            }
            buf_put(&out, q[i]);
            i++;
        }
        STEP_END
    }
    /* [0-9+-][0-9a-f.xb+-]* -> ? */
    {
        STEP_BEGIN
        for (i = 0; i < n;) {
            unsigned char c = q[i];
            if ((c >= '0' && c <= '9') || c == '+' || c == '-') {
                i++;
                while (i < n) {
                    c = q[i];
                    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '.' || c == 'x' || c == 'b' || c == '+' || c == '-') i++;
                    else break;
                }
                buf_put(&out, '?');
                continue;
            }
            buf_put(&out, c);
            i++;
        }
        STEP_END
    }
    /* [xb.+-]\? -> ? */
    if (has_prefixed_qmark(q, n)) {
        STEP_BEGIN
        for (i = 0; i < n;) {
            unsigned char c = q[i];
            if ((c == 'x' || c == 'b' || c == '.' || c == '+' || c == '-') && i + 1 < n && q[i + 1] == '?') {
                buf_put(&out, '?');
                i += 2;
                continue;
            }
            buf_put(&out, c);
            i++;
        }
        STEP_END
    }
    /* leading \s, chomp, squeeze [ \n\t\r\f] runs to one space, lc */
    {
        Py_ssize_t s = 0;
        while (s < n && is_space(q[s])) s++;
        Py_ssize_t e = n;
        if (e > s && q[e - 1] == '\n') e--;
        STEP_BEGIN
        for (i = s; i < e;) {
            unsigned char c = q[i];
            if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f') {
                while (i < e && (q[i] == ' ' || q[i] == '\n' || q[i] == '\t' || q[i] == '\r' || q[i] == '\f')) i++;
                buf_put(&out, ' ');
                continue;
            }
            buf_put(&out, (char)lower(c));
            i++;
        }
        STEP_END
    }
    /* \bnull\b -> ? */
    if (memmem(q, n, "null", 4)) {
        STEP_BEGIN
        for (i = 0; i < n;) {
            if ((i == 0 || !is_word(q[i - 1])) && i + 4 <= n && memcmp(q + i, "null", 4) == 0 &&
                (i + 4 == n || !is_word(q[i + 4]))) {
                buf_put(&out, '?');
                i += 4;
                continue;
            }
            buf_put(&out, q[i]);
            i++;
        }
        STEP_END
    }
    /* \b(in|values?)(?:[\s,]*\([\s?,]*\))+ -> $1(?+) ; needs a '(' */
    if (memchr(q, '(', n)) {
        STEP_BEGIN
        for (i = 0; i < n;) {
            if (i == 0 || !is_word(q[i - 1])) {
                Py_ssize_t kwlens[3];
                int nk = 0;
                if (i + 2 <= n && q[i] == 'i' && q[i + 1] == 'n') kwlens[nk++] = 2;
                if (i + 6 <= n && memcmp(q + i, "values", 6) == 0) kwlens[nk++] = 6;
                if (i + 5 <= n && memcmp(q + i, "value", 5) == 0) kwlens[nk++] = 5;
                int matched = 0;
                for (int a = 0; a < nk && !matched; a++) {
                    Py_ssize_t p = i + kwlens[a], end = -1;
                    for (;;) {
                        Py_ssize_t t = p;
                        while (t < n && (is_space(q[t]) || q[t] == ',')) t++;
                        if (t >= n || q[t] != '(') break;
                        t++;
                        while (t < n && (is_space(q[t]) || q[t] == '?' || q[t] == ',')) t++;
                        if (t >= n || q[t] != ')') break;
                        p = t + 1;
                        end = p;
                    }
                    if (end > 0) {
                        buf_putn(&out, q + i, kwlens[a]);
                        buf_putn(&out, "(?+)", 4);
                        i = end;
                        matched = 1;
                    }
                }
                if (matched) continue;
            }
            buf_put(&out, q[i]);
            i++;
        }
        STEP_END
    }
    /* UNION with a back-reference: leave to the Python reference implementation */
    for (i = 0; i + 6 <= n; i++)
        if (q[i] == ' ' && memcmp(q + i + 1, "union", 5) == 0) { PyMem_Free(fp_base); Py_RETURN_NONE; }
    /* \blimit \?(?:, ?\?| offset \?)? -> "limit ?" (first occurrence) */
    for (i = 0; i + 7 <= n; i++) {
        if ((i == 0 || !is_word(q[i - 1])) && memcmp(q + i, "limit ?", 7) == 0) {
            Py_ssize_t e = i + 7;
            if (e + 2 <= n && q[e] == ',' && q[e + 1] == '?') e += 2;
            else if (e + 3 <= n && q[e] == ',' && q[e + 1] == ' ' && q[e + 2] == '?') e += 3;
            else if (e + 9 <= n && memcmp(q + e, " offset ?", 9) == 0) e += 9;
            if (e != i + 7) {
                memmove(q + i + 7, q + e, n - e);
                n -= e - (i + 7);
            }
            break;
        }
    }
    /* ORDER BY: drop each "\s+asc" reachable by contiguous lazy matches from the anchor */
    for (i = 0; i + 9 <= n; i++) {
        if ((i == 0 || !is_word(q[i - 1])) && memcmp(q + i, "order by ", 9) == 0) {
            Py_ssize_t pos = i + 9;
            STEP_BEGIN
            buf_putn(&out, q, pos);
            for (;;) {
                Py_ssize_t found = -1, mend = -1;
                for (Py_ssize_t L = pos + 1; L < n; L++) {
                    if (q[L - 1] == '\n') break; /* '.' does not match a newline */
                    if (!is_space(q[L])) continue;
                    Py_ssize_t e = L;
                    while (e < n && is_space(q[e])) e++;
                    if (ci_eq(q, n, e, "asc")) { found = L; mend = e + 3; break; }
                }
                if (found < 0) break;
                buf_putn(&out, q + pos, found - pos);
                pos = mend;
            }
            buf_putn(&out, q + pos, n - pos);
            STEP_END
            break;
        }
    }
    {
        PyObject *r = mk(q, n);
        PyMem_Free(fp_base);
        return r;
    }
}


/* ---------------------------------------------------------------------------------------------
 * MySQL slow-log entries (the fast path of engines/mysql.py::parse_entry).
 * An entry that is not of the common shape ends the C run; Python then takes its reference
 * line-by-line path, so this code only has to be right for the shapes it accepts.
 * ------------------------------------------------------------------------------------------- */

/* always inlined: strlen of the literal folds to a constant */
static inline __attribute__((always_inline)) int starts_with(const char *s, Py_ssize_t n, Py_ssize_t i, const char *lit) {
    Py_ssize_t k = (Py_ssize_t)strlen(lit);
    return i + k <= n && memcmp(s + i, lit, k) == 0;
}

static inline Py_ssize_t find_byte(const char *s, Py_ssize_t from, Py_ssize_t to, char c) {
    const char *p = memchr(s + from, c, to - from);
    return p ? p - s : -1;
}

static inline __attribute__((always_inline)) Py_ssize_t find_sub(const char *s, Py_ssize_t from, Py_ssize_t to, const char *lit) {
    Py_ssize_t k = (Py_ssize_t)strlen(lit);
    for (Py_ssize_t i = from; i + k <= to; i++) {
        const char *p = memchr(s + i, lit[0], to - i);
        if (!p) return -1;
        i = p - s;
        if (i + k <= to && memcmp(s + i, lit, k) == 0) return i;
    }
    return -1;
}

/* days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm) */
static long long days_from_civil(long long y, unsigned m, unsigned d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static int valid_date(int y, int m, int d) {
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

static int digits(const char *s, Py_ssize_t n, Py_ssize_t i, int k, int *out) {
    if (i + k > n) return 0;
    int v = 0;
    for (int j = 0; j < k; j++) {
        unsigned char c = s[i + j];
        if (c < '0' || c > '9') return 0;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return 1;
}

/* ISO timestamp token "YYYY-MM-DDTHH:MM:SS[.ffffff|.fff][Z|+HH:MM]" -> epoch us.
 * 1 = ok, 0 = invalid (Python: None), -1 = a form left to Python's fromisoformat. */
static int iso_us(const char *s, Py_ssize_t n, long long *us) {
    int Y, M, D, h, mi, sec, f = 0, oh = 0, om = 0, sign = 0;
    if (n < 19 || !digits(s, n, 0, 4, &Y) || s[4] != '-' || !digits(s, n, 5, 2, &M) || s[7] != '-' ||
        !digits(s, n, 8, 2, &D) || (s[10] != 'T' && s[10] != ' ') || !digits(s, n, 11, 2, &h) || s[13] != ':' ||
        !digits(s, n, 14, 2, &mi) || s[16] != ':' || !digits(s, n, 17, 2, &sec))
        return -1;
    Py_ssize_t i = 19;
    if (i < n && s[i] == '.') {
        if (digits(s, n, i + 1, 6, &f) && (i + 7 == n || s[i + 7] == 'Z' || s[i + 7] == '+' || s[i + 7] == '-')) i += 7;
        else if (digits(s, n, i + 1, 3, &f) && (i + 4 == n || s[i + 4] == 'Z' || s[i + 4] == '+' || s[i + 4] == '-')) { f *= 1000; i += 4; }
        else return -1;
    }
    if (i < n) {
        if (s[i] == 'Z' && i + 1 == n) i++;
        else if ((s[i] == '+' || s[i] == '-') && i + 6 == n && digits(s, n, i + 1, 2, &oh) && s[i + 3] == ':' && digits(s, n, i + 4, 2, &om)) {
            sign = s[i] == '-' ? -1 : 1;
            i += 6;
        } else return -1;
    }
    if (!valid_date(Y, M, D) || h > 23 || mi > 59 || sec > 59 || oh > 23 || om > 59) return 0;
    long long t = days_from_civil(Y, M, D) * 86400LL + h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60);
    *us = t * 1000000LL + f;
    return 1;
}

/* "071015 21:43:52" (YYMMDD H:MM:SS, server-local, taken as UTC) at the start of s */
static int old_us(const char *s, Py_ssize_t n, long long *us) {
    int yy, mo, dd, hh = 0, mi, ss;
    if (!digits(s, n, 0, 2, &yy) || !digits(s, n, 2, 2, &mo) || !digits(s, n, 4, 2, &dd)) return 0;
    Py_ssize_t i = 6, k = 0;
    while (i < n && is_space(s[i])) { i++; k++; }
    if (!k) return 0;
    if (digits(s, n, i, 2, &hh)) i += 2;
    else if (digits(s, n, i, 1, &hh)) i += 1;
    else return 0;
    if (i >= n || s[i] != ':' || !digits(s, n, i + 1, 2, &mi) || i + 3 >= n || s[i + 3] != ':' || !digits(s, n, i + 4, 2, &ss)) return 0;
    if (!valid_date(2000 + yy, mo, dd) || hh > 23 || mi > 59 || ss > 59) return 0;
    *us = (days_from_civil(2000 + yy, mo, dd) * 86400LL + hh * 3600 + mi * 60 + ss) * 1000000LL;
    return 1;
}

static int numeric_chars(const char *s, Py_ssize_t n) {
    if (n == 0 || n > 60) return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) return 0;
    }
    return 1;
}

/* Python float() of an ASCII numeric token: 1 ok, 0 not a float, -1 undecided (leave to Python) */
static int to_double(const char *s, Py_ssize_t n, double *out) {
    /* Clinger's fast path for "digits[.digits]" (what the logs write): a mantissa below 2^53
     * and a power of ten up to 1e22 are exact doubles, so one division rounds correctly. */
    static const double P10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (n > 0 && n <= 17) {
        unsigned long long m = 0;
        int frac = -1, nd = 0;
        Py_ssize_t i = 0;
        for (; i < n; i++) {
            unsigned char c = s[i];
            if (c >= '0' && c <= '9') { m = m * 10 + (c - '0'); nd++; if (frac >= 0) frac++; }
            else if (c == '.' && frac < 0) frac = 0;
            else break;
        }
        if (i == n && nd > 0 && nd <= 15) {
            *out = frac > 0 ? (double)m / P10[frac] : (double)m;
            return 1;
        }
    }
    char tmp[64];
    if (!numeric_chars(s, n)) return -1;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    char *end;
    *out = PyOS_string_to_double(tmp, &end, NULL);
    if (*out == -1.0 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
    return end == tmp + n ? 1 : 0;
}

static int to_ll(const char *s, Py_ssize_t n, long long *out) {
    Py_ssize_t i = 0;
    int neg = 0;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) { neg = s[0] == '-'; i = 1; }
    if (i >= n || n - i > 18) return -1;
    long long v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = neg ? -v : v;
    return 1;
}

/* "# +[A-Z][A-Za-z_]+: \S" at b[l] (engines/mysql.py _PROP_START; le: the line's end) */
static int is_prop_start(const char *b, Py_ssize_t l, Py_ssize_t le) {
    Py_ssize_t i = l + 1, w;
    if (i >= le || b[l] != '#' || b[i] != ' ') return 0;
    while (i < le && b[i] == ' ') i++;
    if (i >= le || b[i] < 'A' || b[i] > 'Z') return 0;
    w = ++i;
    while (i < le && ((b[i] >= 'A' && b[i] <= 'Z') || (b[i] >= 'a' && b[i] <= 'z') || b[i] == '_')) i++;
    return i > w && i + 2 < le && b[i] == ':' && b[i + 1] == ' ' && !is_space(b[i + 2]);
}

/* " +(?:User@Host|[A-Z][A-Za-z_]+): \S" at b[l]: a first header line that lost its '#' (_HEADLESS_FIRST) */
static int is_headless_first(const char *b, Py_ssize_t l, Py_ssize_t le) {
    Py_ssize_t i = l, w;
    while (i < le && b[i] == ' ') i++;
    if (i == l) return 0;
    if (starts_with(b, le, i, "User@Host: ")) return i + 11 < le && !is_space(b[i + 11]);
    if (i >= le || b[i] < 'A' || b[i] > 'Z') return 0;
    w = ++i;
    while (i < le && ((b[i] >= 'A' && b[i] <= 'Z') || (b[i] >= 'a' && b[i] <= 'z') || b[i] == '_')) i++;
    return i > w && i + 2 < le && b[i] == ':' && b[i + 1] == ' ' && !is_space(b[i + 2]);
}

/* the whole line b[l:le] is "(?: +[A-Z][A-Za-z_]+: +\S+)+[ \r]*" (_CONT_LINE): Percona Server 8's
 * `  Tmp_tables: 1  Tmp_disk_tables: 0  Tmp_table_sizes: 0` header line without '#' */
static int is_cont_line(const char *b, Py_ssize_t l, Py_ssize_t le) {
    Py_ssize_t i = l;
    int pairs = 0;
    for (;;) {
        Py_ssize_t s0 = i, j;
        while (i < le && b[i] == ' ') i++;
        for (j = s0; j < le && (b[j] == ' ' || b[j] == '\r'); j++) {}
        if (j == le) return pairs > 0;
        if (i == s0 || b[i] < 'A' || b[i] > 'Z') return 0;
        Py_ssize_t w = ++i;
        while (i < le && ((b[i] >= 'A' && b[i] <= 'Z') || (b[i] >= 'a' && b[i] <= 'z') || b[i] == '_')) i++;
        if (i == w || i >= le || b[i] != ':') return 0;
        Py_ssize_t sp = ++i;
        while (i < le && b[i] == ' ') i++;
        if (i == sp) return 0;
        Py_ssize_t v0 = i;
        while (i < le && !is_space(b[i])) i++;
        if (i == v0) return 0;
        pairs++;
    }
}

enum { F_QT, F_LT, F_RS, F_RE, F_RA, F_BS, F_TID, F_N };
static const char *FIELD_NAMES[] = {"Query_time", "Lock_time", "Rows_sent", "Rows_examined", "Rows_affected", "Bytes_sent", "Thread_id"};
static const Py_ssize_t FIELD_LENS[] = {10, 9, 9, 13, 13, 10, 9};

/* One entry's header, as offsets into the buffer (no Python objects): what parse_entry reads. */
#define MAX_ATTRS 64
#define MAX_LINES 64 /* header lines; more: the reference path */
typedef struct { Py_ssize_t n0, n1; double v; } num_attr_t;
typedef struct { Py_ssize_t n0, n1, v0, v1; } text_attr_t;
typedef struct {
    int have_ts;
    long long ts_us;
    int have_uh;
    Py_ssize_t u0, u1, h0, h1, i0, i1; /* user, host (empty: the ip stands in), ip */
    int have[F_N];
    double fval[2];
    long long ival[F_N];
    int have_schema, have_db;
    Py_ssize_t s0, s1, d0, d1; /* last `Schema:` value, first `use db` name */
    Py_ssize_t qs, qe;         /* the query, without trailing whitespace and one ';' */
    int n_num, n_text;
    num_attr_t num[MAX_ATTRS];
    text_attr_t text[MAX_ATTRS];
} hdr_t;

/* 1: the entry buf[start:end] is of the common shape and *h describes it; 0: anything else
 * (Python's reference line-by-line path decides, so this only has to be right for what it takes). */
static int parse_header(const char *b, Py_ssize_t blen, Py_ssize_t start, Py_ssize_t end, hdr_t *h) {
    if (start < 0 || end > blen || start >= end) return 0;
    h->n_num = h->n_text = 0;
    h->have_schema = h->have_db = 0;

    /* the header block, its lines found once: ls[k] .. le[k] (without the newline) */
    Py_ssize_t ls[MAX_LINES], le[MAX_LINES];
    int nlines = 0;
    Py_ssize_t pos = start;
    while (pos < end) {
        int cont = 0; /* Percona Server 8's attribute line without '#' */
        if (b[pos] == '#' || starts_with(b, end, pos, "use ") || starts_with(b, end, pos, "SET last_insert_id") ||
            starts_with(b, end, pos, "SET insert_id") || starts_with(b, end, pos, "SET timestamp") ||
            (b[pos] == ' ' && nlines > 0 && (cont = 1))) {
            Py_ssize_t nl = find_byte(b, pos, end, '\n');
            if (nl < 0) break; /* an unterminated line is not part of the block */
            if (cont && !is_cont_line(b, pos, nl)) break;
            if (nlines == MAX_LINES) return 0;
            if (nlines > 0 && pos + 2 < nl && b[pos + 2] == 'T' && starts_with(b, end, pos, "# Time: "))
                return 0; /* a Time line after other header lines: the reference path reads it */
            ls[nlines] = pos;
            le[nlines++] = nl;
            pos = nl + 1;
        } else break;
    }
    Py_ssize_t qs = pos;
    if (qs >= end || nlines == 0) return 0;
    /* an unterminated header line, or an entry not ending in a newline (the input was cut) */
    if (b[qs] == '#' || b[end - 1] != '\n') return 0;
    if (memmem(b + start, qs - start, "# administrator command:", 24)) return 0;
    if (!memmem(b + start, qs - start, "Host: ", 6)) return 0;
    Py_ssize_t first_nl = le[0];
    if (first_nl > start + 1 && memmem(b + start + 1, first_nl - start - 1, "# User@Host:", 12)) return 0;

    long long ts_us = 0;
    int have_ts = 0;
    int time_line = starts_with(b, qs, start, "# Time: ");
    Py_ssize_t tr_s = 0, tr_e = 0;
    if (time_line) {
        tr_s = start + 8;
        tr_e = first_nl;
        while (tr_s < tr_e && is_space(b[tr_s])) tr_s++;
        while (tr_e > tr_s && is_space(b[tr_e - 1])) tr_e--;
        if (tr_e > tr_s && memchr(b + tr_s, '-', tr_e - tr_s < 5 ? tr_e - tr_s : 5)) {
            Py_ssize_t tok_e = tr_s;
            while (tok_e < tr_e && !is_space(b[tok_e])) tok_e++;
            int r = iso_us(b + tr_s, tok_e - tr_s, &ts_us);
            if (r < 0) return 0;
            have_ts = r;
        }
    }
    if (!have_ts) { /* SET ... timestamp=N */
        for (int li = 0; li < nlines; li++) {
            Py_ssize_t l = ls[li], nl = le[li];
            if (starts_with(b, nl, l, "SET ")) {
                for (Py_ssize_t k = l + 4; k + 9 <= nl; k++) {
                    if (memcmp(b + k, "timestamp", 9) == 0 && !is_word(b[k - 1])) {
                        Py_ssize_t j = k + 9;
                        while (j < nl && is_space(b[j])) j++;
                        if (j < nl && b[j] == '=') {
                            j++;
                            while (j < nl && is_space(b[j])) j++;
                            Py_ssize_t d0 = j;
                            long long v = 0;
                            while (j < nl && b[j] >= '0' && b[j] <= '9') { v = v * 10 + (b[j] - '0'); j++; if (j - d0 > 11) return 0; }
                            if (j > d0) { ts_us = v * 1000000LL; have_ts = 1; break; }
                        }
                    }
                }
                break; /* pt reads only the first SET line of an entry */
            }
        }
    }
    if (!have_ts && time_line) have_ts = old_us(b + tr_s, tr_e - tr_s, &ts_us);
    h->have_ts = have_ts;
    h->ts_us = ts_us;

    /* # User@Host: user[user] @ host [ip]  Id: N  (only the unambiguous shape) */
    long long tid = -1;
    Py_ssize_t uh = -1;
    Py_ssize_t uh_end = -1;
    for (int li = 0; li < nlines; li++)
        if (starts_with(b, le[li], ls[li], "# User@Host: ")) { uh = ls[li]; uh_end = le[li]; break; }
    h->have_uh = uh >= 0;
    if (uh >= 0) {
        Py_ssize_t u0 = uh + 13, lb, at, h0, h1, i0, i1;
        if (u0 >= uh_end || b[u0] == '[') return 0;
        lb = find_byte(b, u0, uh_end, '[');
        if (lb < 0) return 0;
        at = find_sub(b, u0, uh_end, "@ ");
        if (at < lb || find_sub(b, at + 1, uh_end, "@ ") >= 0) return 0;
        h0 = at + 2;
        h1 = h0;
        while (h1 < uh_end && !is_space(b[h1])) h1++;
        if (h1 + 1 >= uh_end || b[h1] != ' ' || b[h1 + 1] != '[') return 0;
        i0 = h1 + 2;
        i1 = find_byte(b, i0, uh_end, ']');
        if (i1 < 0) return 0;
        Py_ssize_t k = i1 + 1;
        while (k < uh_end && is_space(b[k])) k++;
        if (starts_with(b, uh_end, k, "Id:")) {
            k += 3;
            while (k < uh_end && is_space(b[k])) k++;
            Py_ssize_t d0 = k;
            long long v = 0;
            while (k < uh_end && b[k] >= '0' && b[k] <= '9') { v = v * 10 + (b[k] - '0'); k++; if (k - d0 > 18) return 0; }
            if (k > d0) tid = v;
        }
        h->u0 = u0; h->u1 = lb; h->i0 = i0; h->i1 = i1;
        if (h1 > h0) { h->h0 = h0; h->h1 = h1; }
        else { h->h0 = i0; h->h1 = i1; } /* skip-name-resolve leaves host empty: pt shows the ip */
    }

    /* attribute lines: "# Name: value  Name: value ..." */
    for (int f = 0; f < F_N; f++) h->have[f] = 0;
    for (int li = 0; li < nlines; li++) {
        Py_ssize_t l = ls[li], le_ = le[li];
        int cont = b[l] == ' '; /* a header line without '#' (checked by is_cont_line) */
        if (cont || (b[l] == '#' && l + 1 < le_ && b[l + 1] == ' ')) {
            Py_ssize_t k = l + 1;
            while (k < le_ && b[k] == ' ') k++;
            int is_prop = cont || !(starts_with(b, le_, k, "User@Host: ") || starts_with(b, le_, k, "Time: "));
            if (is_prop && !cont) {
                Py_ssize_t w = k;
                if (!(w < le_ && b[w] >= 'A' && b[w] <= 'Z')) is_prop = 0;
                else {
                    w++;
                    Py_ssize_t w0 = w;
                    while (w < le_ && ((b[w] >= 'A' && b[w] <= 'Z') || (b[w] >= 'a' && b[w] <= 'z') || b[w] == '_')) w++;
                    if (w == w0 || !(w + 2 < le_ + 1 && w + 1 < le_ && b[w] == ':' && b[w + 1] == ' ' && w + 2 < le_ && !is_space(b[w + 2])))
                        is_prop = 0;
                }
            }
            if (is_prop) {
                Py_ssize_t i = l;
                while (i < le_) {
                    if (!is_word(b[i])) { i++; continue; }
                    Py_ssize_t n0 = i;
                    while (i < le_ && is_word(b[i])) i++;
                    Py_ssize_t n1 = i;
                    if (i >= le_ || b[i] != ':') continue;
                    if (n1 - n0 > 6 && memcmp(b + n1 - 6, "Schema", 6) == 0) return 0; /* "XSchema:": Python decides */
                    Py_ssize_t j = i + 1;
                    while (j < le_ && is_space(b[j])) j++;
                    if (j == i + 1) { i = i + 1; continue; }
                    Py_ssize_t v0 = j;
                    while (j < le_ && !is_space(b[j])) j++;
                    Py_ssize_t v1 = j;
                    if (v0 == v1 && j < le_) { i = j; continue; }
                    /* "Schema: Next: v" -> the empty Schema is dropped (pt's bug 1104 workaround) */
                    if (n1 - n0 == 6 && memcmp(b + n0, "Schema", 6) == 0 && v1 > v0) {
                        Py_ssize_t x = v0;
                        while (x < le_ && is_word(b[x])) x++;
                        if (x > v0 && x + 1 < le_ && b[x] == ':' && b[x + 1] == ' ') { i = v0; continue; }
                    }
                    i = v1;
                    int f = -1;
                    for (int q = 0; q < F_N; q++)
                        if (FIELD_LENS[q] == n1 - n0 && memcmp(b + n0, FIELD_NAMES[q], n1 - n0) == 0) { f = q; break; }
                    if (f == F_QT || f == F_LT) {
                        double d;
                        int r = to_double(b + v0, v1 - v0, &d);
                        if (r < 0) return 0;
                        if (r) { h->have[f] = 1; h->fval[f] = d; } /* an unreadable repeat keeps the earlier value */
                    } else if (f >= 0) {
                        long long v;
                        if (to_ll(b + v0, v1 - v0, &v) < 0) return 0;
                        h->have[f] = 1;
                        h->ival[f] = v;
                    } else if (n1 - n0 == 6 && memcmp(b + n0, "Schema", 6) == 0) {
                        h->have_schema = 1;
                        h->s0 = v0;
                        h->s1 = v1;
                    } else {
                        double d;
                        int r = to_double(b + v0, v1 - v0, &d);
                        if (r == 0) return 0;
                        int text = 0;
                        if (r == 1) {
                        } else if ((v1 - v0 == 3 && (memcmp(b + v0, "Yes", 3) == 0 || memcmp(b + v0, "yes", 3) == 0 || memcmp(b + v0, "YES", 3) == 0)))
                            d = 1.0;
                        else if ((v1 - v0 == 2 && (memcmp(b + v0, "No", 2) == 0 || memcmp(b + v0, "no", 2) == 0 || memcmp(b + v0, "NO", 2) == 0)))
                            d = 0.0;
                        else {
                            /* words Python's float() would still accept (inf, nan, ...) go the slow way */
                            char c0 = v0 < v1 ? (char)lower((unsigned char)b[v0]) : 0;
                            if (c0 == 'i' || c0 == 'n' || c0 == '+' || c0 == '-' || c0 == '.' || (c0 >= '0' && c0 <= '9')) return 0;
                            text = 1;
                        }
                        if (text) {
                            if (h->n_text >= MAX_ATTRS) return 0;
                            text_attr_t *t = &h->text[h->n_text++];
                            t->n0 = n0; t->n1 = n1; t->v0 = v0; t->v1 = v1;
                        } else {
                            if (h->n_num >= MAX_ATTRS) return 0;
                            num_attr_t *a = &h->num[h->n_num++];
                            a->n0 = n0; a->n1 = n1; a->v = d;
                        }
                    }
                }
            }
        }
    }

    /* first `use db` line */
    for (int li = 0; li < nlines; li++) {
        Py_ssize_t l = ls[li], nl = le[li];
        if (starts_with(b, nl, l, "use ")) {
            Py_ssize_t e = l + 4;
            while (e < nl && b[e] != ';') e++;
            if (e > l + 4) { h->have_db = 1; h->d0 = l + 4; h->d1 = e; break; }
        }
    }

    /* the query: rstrip ASCII whitespace, then one trailing ';' */
    Py_ssize_t qe = end;
    while (qe > qs && (b[qe - 1] == ' ' || b[qe - 1] == '\t' || b[qe - 1] == '\n' || b[qe - 1] == '\r' || b[qe - 1] == '\x0b' || b[qe - 1] == '\x0c')) qe--;
    if (qe > qs && b[qe - 1] == ';') qe--;
    h->qs = qs;
    h->qe = qe;
    if (!h->have[F_TID] && tid >= 0) { h->have[F_TID] = 1; h->ival[F_TID] = tid; }
    return 1;
}


static int append_ssize(PyObject *list, Py_ssize_t v) {
    PyObject *o = PyLong_FromSsize_t(v);
    int ok = o && PyList_Append(list, o) == 0;
    Py_XDECREF(o);
    return ok;
}

/* Entry starts of a MySQL slow log in buf[0:end], exactly engines/mysql.py::MySQLSlowLogParser.starts
 * (its docstring has the rules): "# Time: " / "# User@Host: " lines unless they continue the header
 * block of the entry before, the '#' of every ";\n#" / ";\r\n#" whose line is not a `use`/`SET`
 * attribute, 0 when the buffer starts with a (possibly '#'-less) header line, and the first of the
 * `# Name: value` lines right above a Time/User@Host line that follows a non-'#' line. Sorted,
 * unique. Returns (starts, banner_candidates): the starts of the only lines where a server banner
 * can begin (a line starting with 'T' -- "Tcp port", "Time Id Command" -- or one not starting with
 * '#' that contains "Version", and the line before it), so the banner regex is tried there instead
 * of over the whole buffer. */
static PyObject *py_mysql_starts(PyObject *self, PyObject *args) {
    const char *b;
    Py_ssize_t n, end;
    if (!PyArg_ParseTuple(args, "y#n", &b, &n, &end)) return NULL;
    if (end > n) end = n;
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    Py_ssize_t last = -1, pend = -1; /* pend: first of the attribute lines right above, outside a header */
    int in_head = 0, seen_time = 0, seen_uh = 0, seen_admin = 0, prev_semi = 0;
    PyObject *cands = PyList_New(0);
    if (!cands) { Py_DECREF(out); return NULL; }
    Py_ssize_t prev_ls = -1;
    for (Py_ssize_t ls = 0; ls < end;) {
        Py_ssize_t nl = find_byte(b, ls, end, '\n');
        Py_ssize_t start = -1;
        if (b[ls] != '#') {
            int version = b[ls] != 'T' && memmem(b + ls, (nl < 0 ? end : nl) - ls, "Version", 7) != NULL;
            /* "mysqld,\nVersion" ("\s" may be a newline): the line before may start the banner */
            if (version && prev_ls >= 0 && !append_ssize(cands, prev_ls)) { Py_DECREF(out); Py_DECREF(cands); return NULL; }
            if ((b[ls] == 'T' || version) && !append_ssize(cands, ls)) { Py_DECREF(out); Py_DECREF(cands); return NULL; }
        }
        prev_ls = ls;
        Py_ssize_t le = nl < 0 ? end : nl;
        if (b[ls] == '#') {
            int is_time = starts_with(b, end, ls, "# Time: ");
            int is_uh = !is_time && starts_with(b, end, ls, "# User@Host: ");
            if (is_time || is_uh) {
                if (!(in_head && !seen_admin && !seen_uh && (is_uh || !seen_time))) { /* else: the same header */
                    start = !in_head && pend >= 0 ? pend : ls;
                    in_head = 1;
                    seen_time = seen_uh = seen_admin = 0;
                }
                if (is_time) seen_time = 1;
                else seen_uh = 1;
            } else if (ls == 0 || prev_semi) {
                start = ls;
                in_head = 1;
                seen_time = seen_uh = 0;
                seen_admin = starts_with(b, end, ls, "# administrator command:");
            } else if (starts_with(b, end, ls, "# administrator command:")) {
                seen_admin = in_head;
                pend = -1;
            } else if (!in_head) { /* attribute lines outside a header block may belong to the next entry */
                if (!is_prop_start(b, ls, le)) pend = -1;
                else if (pend < 0) pend = ls;
            }
        } else if (b[ls] == ' ' && ls == 0 && is_headless_first(b, ls, le)) {
            start = ls;
            in_head = 1;
            seen_admin = 0;
            seen_time = starts_with(b, end, ls, " Time: ");
            seen_uh = starts_with(b, end, ls, " User@Host: ");
        } else if (!(in_head && b[ls] == ' ' && is_cont_line(b, ls, le))) {
            in_head = 0;
            pend = -1;
        }
        if (start >= 0) pend = -1;
        /* ";\n#" / ";\r\n#" for the next line: this one ends with ';' and is not a use/SET attribute */
        {
            Py_ssize_t k = le > ls && b[le - 1] == '\r' ? le - 1 : le;
            prev_semi = k > ls && b[k - 1] == ';' && !starts_with(b, end, ls, "use ") && !starts_with(b, end, ls, "SET ");
        }
        if (start >= 0 && start != last) {
            if (!append_ssize(out, start)) { Py_DECREF(out); Py_DECREF(cands); return NULL; }
            last = start;
        }
        if (nl < 0) break;
        ls = nl + 1;
    }
    return Py_BuildValue("(NN)", out, cands);
}


/* ---------------------------------------------------------------------------------------------
 * Columnar output: runs of common-shape entries written straight into Arrow buffers (validity
 * bitmaps, int64/float64 values, int32 offsets + UTF-8 data), so no Python object is made per
 * event. engines/mysql.py wraps the buffers with pyarrow.Array.from_buffers (zero copy).
 * ------------------------------------------------------------------------------------------- */

typedef struct { char *p; Py_ssize_t n, cap; } gbuf_t;

static int g_reserve(gbuf_t *g, Py_ssize_t k) {
    if (g->n + k <= g->cap) return 1;
    Py_ssize_t cap = g->cap ? g->cap * 2 : 4096;
    while (cap < g->n + k) cap *= 2;
    char *p = (char *)PyMem_Realloc(g->p, cap);
    if (!p) { PyErr_NoMemory(); return 0; }
    g->p = p;
    g->cap = cap;
    return 1;
}
static inline int g_put(gbuf_t *g, const void *s, Py_ssize_t k) {
    if (!g_reserve(g, k)) return 0;
    memcpy(g->p + g->n, s, k);
    g->n += k;
    return 1;
}

/* Strict UTF-8 as CPython decodes it (no surrogates, no overlongs, <= U+10FFFF). */
static int utf8_valid(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            unsigned long long w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ULL)) { i += 8; continue; }
        }
        unsigned char c = s[i];
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) return 0;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (i + 2 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80) return 0;
            if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] >= 0xA0)) return 0;
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (i + 3 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80) return 0;
            if ((c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] >= 0x90)) return 0;
            i += 4;
        } else return 0;
    }
    return 1;
}

/* bytes.decode("utf-8", "replace"), encoded back: what the reference path stores */
static int put_utf8(gbuf_t *g, const char *s, Py_ssize_t n) {
    if (utf8_valid((const unsigned char *)s, n)) return g_put(g, s, n);
    PyObject *u = PyUnicode_DecodeUTF8(s, n, "replace");
    if (!u) return 0;
    Py_ssize_t k;
    const char *p = PyUnicode_AsUTF8AndSize(u, &k);
    int ok = p && g_put(g, p, k);
    Py_DECREF(u);
    return ok;
}

enum { K_I64, K_F64, K_STR };
typedef struct {
    int kind;
    gbuf_t valid; /* one byte per row (packed into a bitmap at the end) */
    gbuf_t vals;  /* int64 / float64 values, or int32 offsets (one more than rows) */
    gbuf_t data;  /* string bytes */
    Py_ssize_t nulls;
} col_t;

static int col_init(col_t *c, int kind) {
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    if (kind == K_STR) { int32_t z = 0; return g_put(&c->vals, &z, 4); }
    return 1;
}
static void col_free(col_t *c) { PyMem_Free(c->valid.p); PyMem_Free(c->vals.p); PyMem_Free(c->data.p); }
static inline int col_valid(col_t *c, int ok) {
    char v = (char)(ok != 0);
    c->nulls += !ok;
    return g_put(&c->valid, &v, 1);
}
static inline int col_i64(col_t *c, long long v, int ok) { if (!ok) v = 0; return col_valid(c, ok) && g_put(&c->vals, &v, 8); }
static inline int col_f64(col_t *c, double v, int ok) { if (!ok) v = 0.0; return col_valid(c, ok) && g_put(&c->vals, &v, 8); }
static inline int col_end_str(col_t *c, int ok) {
    if (c->data.n > 0x7fffffffLL) { PyErr_SetString(PyExc_OverflowError, "string column over 2 GiB"); return 0; }
    int32_t off = (int32_t)c->data.n;
    return col_valid(c, ok) && g_put(&c->vals, &off, 4);
}
static inline int col_str(col_t *c, const char *s, Py_ssize_t n, int ok) {
    return (!ok || put_utf8(&c->data, s, n)) && col_end_str(c, ok);
}

/* (validity bitmap or None, values, data or None) as bytes objects */
static PyObject *col_export(col_t *c) {
    PyObject *bitmap = Py_None;
    Py_ssize_t rows = c->valid.n;
    if (c->nulls) {
        bitmap = PyBytes_FromStringAndSize(NULL, (rows + 7) / 8);
        if (!bitmap) return NULL;
        unsigned char *bm = (unsigned char *)PyBytes_AS_STRING(bitmap);
        memset(bm, 0, (rows + 7) / 8);
        for (Py_ssize_t r = 0; r < rows; r++)
            if (c->valid.p[r]) bm[r >> 3] |= (unsigned char)(1u << (r & 7));
    } else Py_INCREF(bitmap);
    PyObject *vals = PyBytes_FromStringAndSize(c->vals.p ? c->vals.p : "", c->vals.n);
    PyObject *data = c->kind == K_STR ? PyBytes_FromStringAndSize(c->data.p ? c->data.p : "", c->data.n) : (Py_INCREF(Py_None), Py_None);
    if (!vals || !data) { Py_DECREF(bitmap); Py_XDECREF(vals); Py_XDECREF(data); return NULL; }
    return Py_BuildValue("(NNN)", bitmap, vals, data);
}

/* ---- query -> class: pt's fingerprint (or fingerprint_pg), remembered per distinct query text */

/* _speedups_pg.c: fingerprint_pg_cached on UTF-8 bytes; None when the Python path must decide */
static PyObject *fingerprint_pg_bytes(const char *s, Py_ssize_t n);

#define QCACHE_SLOTS (1 << 17)          /* open addressing, at most half full */
#define QCACHE_MAX_QUERY 4096           /* longer queries are fingerprinted every time */
#define QCACHE_ARENA (16 << 20)         /* query bytes kept; cleared when full (bounded memory) */

typedef struct { unsigned long long h; Py_ssize_t at; int32_t id; int32_t len; } qslot_t;

typedef struct {
    PyObject_HEAD
    PyObject *fallback; /* callable(query bytes) -> fingerprint bytes, when the C port declines */
    int postgres;       /* kind="postgres": fingerprint_pg's classes, else pt's (MySQL) */
    PyObject *fp_ids;   /* fingerprint bytes -> class id */
    PyObject *fps;      /* class id -> fingerprint bytes */
    Py_ssize_t max_classes;
    long generation;    /* bumped when the table is cleared: ids restart */
    qslot_t *slots;
    Py_ssize_t used;
    char *arena;
    Py_ssize_t arena_n;
} ClassTable;

static unsigned long long hash_bytes(const char *s, Py_ssize_t n) {
    unsigned long long h = 0x9E3779B97F4A7C15ULL ^ (unsigned long long)n;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        unsigned long long w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    unsigned long long w = 0;
    memcpy(&w, s + i, n - i);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 29;
    return h;
}

static void qcache_clear(ClassTable *t) {
    for (Py_ssize_t k = 0; k < QCACHE_SLOTS; k++) t->slots[k].id = -1;
    t->used = 0;
    t->arena_n = 0;
}

static int classtable_reset(ClassTable *t) {
    qcache_clear(t);
    PyDict_Clear(t->fp_ids);
    if (PyList_SetSlice(t->fps, 0, PyList_GET_SIZE(t->fps), NULL) < 0) return 0;
    t->generation++;
    return 1;
}

/* class id of a query (-1: error set) */
static int32_t class_of(ClassTable *t, const char *q, Py_ssize_t n) {
    unsigned long long h = 0;
    Py_ssize_t slot = -1;
    if (n <= QCACHE_MAX_QUERY) {
        h = hash_bytes(q, n);
        slot = (Py_ssize_t)(h & (QCACHE_SLOTS - 1));
        while (t->slots[slot].id >= 0) {
            qslot_t *s = &t->slots[slot];
            if (s->h == h && s->len == n && memcmp(t->arena + s->at, q, n) == 0) return s->id;
            slot = (slot + 1) & (QCACHE_SLOTS - 1);
        }
    }
    PyObject *fp = t->postgres ? fingerprint_pg_bytes(q, n) : fingerprint_bytes(q, n);
    if (fp == Py_None) {
        Py_DECREF(fp);
        fp = PyObject_CallFunction(t->fallback, "y#", q, n);
        if (fp && !PyBytes_Check(fp)) { Py_DECREF(fp); PyErr_SetString(PyExc_TypeError, "fingerprint fallback must return bytes"); return -1; }
    }
    if (!fp) return -1;
    int32_t id;
    PyObject *known = PyDict_GetItemWithError(t->fp_ids, fp);
    if (known) id = (int32_t)PyLong_AsLong(known);
    else {
        if (PyErr_Occurred()) { Py_DECREF(fp); return -1; }
        id = (int32_t)PyList_GET_SIZE(t->fps);
        PyObject *v = PyLong_FromLong(id);
        if (!v || PyDict_SetItem(t->fp_ids, fp, v) < 0 || PyList_Append(t->fps, fp) < 0) { Py_XDECREF(v); Py_DECREF(fp); return -1; }
        Py_DECREF(v);
    }
    Py_DECREF(fp);
    if (slot >= 0) {
        if (t->used * 2 >= QCACHE_SLOTS || t->arena_n + n > QCACHE_ARENA) {
            qcache_clear(t);
            slot = (Py_ssize_t)(h & (QCACHE_SLOTS - 1));
        }
        qslot_t *s = &t->slots[slot];
        memcpy(t->arena + t->arena_n, q, n);
        s->h = h; s->at = t->arena_n; s->len = (int32_t)n; s->id = id;
        t->arena_n += n;
        t->used++;
    }
    return id;
}

static int ClassTable_init(ClassTable *t, PyObject *args, PyObject *kw) {
    static char *names[] = {"fallback", "max_classes", "kind", NULL};
    PyObject *fallback;
    Py_ssize_t max_classes = 50000;
    const char *kind = "mysql";
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|n$s", names, &fallback, &max_classes, &kind)) return -1;
    if (strcmp(kind, "mysql") != 0 && strcmp(kind, "postgres") != 0) {
        PyErr_SetString(PyExc_ValueError, "ClassTable kind: 'mysql' or 'postgres'");
        return -1;
    }
    t->postgres = strcmp(kind, "postgres") == 0;
    Py_INCREF(fallback);
    Py_XSETREF(t->fallback, fallback);
    t->max_classes = max_classes;
    if (!t->fp_ids && !(t->fp_ids = PyDict_New())) return -1;
    if (!t->fps && !(t->fps = PyList_New(0))) return -1;
    if (!t->slots && !(t->slots = (qslot_t *)PyMem_Malloc(sizeof(qslot_t) * QCACHE_SLOTS))) { PyErr_NoMemory(); return -1; }
    if (!t->arena && !(t->arena = (char *)PyMem_Malloc(QCACHE_ARENA))) { PyErr_NoMemory(); return -1; }
    return classtable_reset(t) ? 0 : -1;
}

static void ClassTable_dealloc(ClassTable *t) {
    Py_XDECREF(t->fallback);
    Py_XDECREF(t->fp_ids);
    Py_XDECREF(t->fps);
    PyMem_Free(t->slots);
    PyMem_Free(t->arena);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static PyObject *ClassTable_get_fps(ClassTable *t, void *unused) { Py_INCREF(t->fps); return t->fps; }
static PyObject *ClassTable_get_generation(ClassTable *t, void *unused) { return PyLong_FromLong(t->generation); }

static PyGetSetDef ClassTable_getset[] = {
    {"fps", (getter)ClassTable_get_fps, NULL, "fingerprint bytes by class id (do not modify)", NULL},
    {"generation", (getter)ClassTable_get_generation, NULL, "bumped whenever the ids restart", NULL},
    {NULL},
};

static PyTypeObject ClassTableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dagster_project.slowlog._speedups.ClassTable",
    .tp_basicsize = sizeof(ClassTable),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "query text -> class id, by pt's fingerprint (kind='mysql') or fingerprint_pg (kind='postgres'); "
              "bounded (cleared when full)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)ClassTable_init,
    .tp_dealloc = (destructor)ClassTable_dealloc,
    .tp_getset = ClassTable_getset,
};

/* ---- mysql_columns ---------------------------------------------------------------------- */

enum { C_TS, C_USER, C_HOST, C_IP, C_DB, C_TID, C_QT, C_LT, C_RS, C_RE, C_RA, C_BS, C_QUERY, C_OFF, C_LEN,
       C_XKEY, C_XVAL, C_TKEY, C_TVAL, C_N };
static const int COL_KIND[C_N] = {K_I64, K_STR, K_STR, K_STR, K_STR, K_I64, K_F64, K_F64, K_I64, K_I64, K_I64, K_I64,
                                  K_STR, K_I64, K_I64, K_STR, K_F64, K_STR, K_STR};

/* mysql_columns(buf, points, i, base, last_ts, last_db, limit, classes)
 *   -> (next_index, event_bytes, rows, last_ts, last_db, columns, extra_offsets, text_offsets, class_ids)
 * Parses consecutive entries points[i]..points[j] (the last point is the chunk's cut) until one
 * is not of the common shape or `limit` rows are done, with ts/db inheritance as parse_entry.
 * columns: one (bitmap|None, values, data|None) per C_* column; the two map columns are
 * (bitmap|None, int32 offsets) over their key/value columns; class_ids: int32 per row. */
static PyObject *py_mysql_columns(PyObject *self, PyObject *args) {
    PyObject *bufobj, *points, *last_ts, *last_db;
    ClassTable *classes;
    Py_ssize_t i, base, limit;
    if (!PyArg_ParseTuple(args, "SO!nnOOnO!", &bufobj, &PyList_Type, &points, &i, &base, &last_ts, &last_db, &limit,
                          &ClassTableType, &classes))
        return NULL;
    if (last_ts != Py_None && !PyLong_Check(last_ts)) { PyErr_SetString(PyExc_TypeError, "last_ts: int or None"); return NULL; }
    if (last_db != Py_None && !PyUnicode_Check(last_db)) { PyErr_SetString(PyExc_TypeError, "last_db: str or None"); return NULL; }
    const char *b = PyBytes_AS_STRING(bufobj);
    Py_ssize_t blen = PyBytes_GET_SIZE(bufobj);
    Py_ssize_t npoints = PyList_GET_SIZE(points);
    if (PyList_GET_SIZE(classes->fps) > classes->max_classes && !classtable_reset(classes)) return NULL;

    /* inherited state: the previous ts (int) and db (span in buf, or the caller's str) */
    int have_last_ts = last_ts != Py_None;
    long long last_ts_us = have_last_ts ? PyLong_AsLongLong(last_ts) : 0;
    if (have_last_ts && last_ts_us == -1 && PyErr_Occurred()) return NULL;
    const char *ldb = NULL;
    Py_ssize_t ldb_n = 0;
    int ldb_valid = last_db != Py_None, ldb_from_buf = 0;
    if (ldb_valid && !(ldb = PyUnicode_AsUTF8AndSize(last_db, &ldb_n))) return NULL;

    col_t cols[C_N];
    gbuf_t xoff = {0}, xvalid = {0}, toff = {0}, tvalid = {0}, ids = {0};
    Py_ssize_t xnulls = 0, tnulls = 0;
    int k, ok = 1;
    for (k = 0; k < C_N; k++) ok &= col_init(&cols[k], COL_KIND[k]);
    int32_t zero = 0;
    ok = ok && g_put(&xoff, &zero, 4) && g_put(&toff, &zero, 4);
    /* size the buffers once for the rows this call can make (no regrowth, no page re-faults) */
    Py_ssize_t rows_max = npoints - 1 - i < limit ? npoints - 1 - i : limit;
    if (ok && rows_max > 0) {
        Py_ssize_t last = PyLong_AsSsize_t(PyList_GET_ITEM(points, i + rows_max));
        Py_ssize_t first = PyLong_AsSsize_t(PyList_GET_ITEM(points, i));
        Py_ssize_t span = last > first ? last - first : 0;
        for (k = 0; ok && k < C_XKEY; k++) { /* the map entry columns grow as they come */
            ok = g_reserve(&cols[k].valid, rows_max) && g_reserve(&cols[k].vals, rows_max * 8 + 8) &&
                 (COL_KIND[k] != K_STR || g_reserve(&cols[k].data, k == C_QUERY ? span : rows_max * 16));
        }
        ok = ok && g_reserve(&ids, rows_max * 4) && g_reserve(&xoff, rows_max * 4) && g_reserve(&toff, rows_max * 4) &&
             g_reserve(&xvalid, rows_max) && g_reserve(&tvalid, rows_max);
        if (PyErr_Occurred()) ok = 0;
    }
    long long event_bytes = 0;
    Py_ssize_t rows = 0;
    hdr_t h;
    while (ok && i + 1 < npoints && rows < limit) {
        Py_ssize_t pos = PyLong_AsSsize_t(PyList_GET_ITEM(points, i));
        Py_ssize_t nxt = PyLong_AsSsize_t(PyList_GET_ITEM(points, i + 1));
        if ((pos == -1 || nxt == -1) && PyErr_Occurred()) { ok = 0; break; }
        if (nxt <= pos || !parse_header(b, blen, pos, nxt, &h)) break;
        /* "throttle: N '...' warning(s) suppressed.": a summary, not a statement; the reference
         * path counts it (engines/mysql_throttle.py) and no run of events includes it */
        if (h.qe - h.qs >= 10 && memcmp(b + h.qs, "throttle: ", 10) == 0) break;
        if (cols[C_QUERY].data.n + (h.qe - h.qs) * 3 > 0x7fff0000LL) break; /* keep offsets in int32 */
        if (h.have_ts) { have_last_ts = 1; last_ts_us = h.ts_us; }
        if (h.have_db) { ldb = b + h.d0; ldb_n = h.d1 - h.d0; ldb_valid = 1; ldb_from_buf = 1; }
        else if (h.have_schema && h.s1 > h.s0) { ldb = b + h.s0; ldb_n = h.s1 - h.s0; ldb_valid = 1; ldb_from_buf = 1; }
        int32_t cls = class_of(classes, b + h.qs, h.qe - h.qs);
        if (cls < 0) { ok = 0; break; }
        ok = col_i64(&cols[C_TS], last_ts_us, have_last_ts) &&
             col_str(&cols[C_USER], b + h.u0, h.u1 - h.u0, h.have_uh) &&
             col_str(&cols[C_HOST], b + h.h0, h.h1 - h.h0, h.have_uh) &&
             col_str(&cols[C_IP], b + h.i0, h.i1 - h.i0, h.have_uh) &&
             col_str(&cols[C_DB], ldb, ldb_n, ldb_valid) &&
             col_i64(&cols[C_TID], h.ival[F_TID], h.have[F_TID]) &&
             col_f64(&cols[C_QT], h.fval[F_QT], h.have[F_QT]) &&
             col_f64(&cols[C_LT], h.fval[F_LT], h.have[F_LT]) &&
             col_i64(&cols[C_RS], h.ival[F_RS], h.have[F_RS]) &&
             col_i64(&cols[C_RE], h.ival[F_RE], h.have[F_RE]) &&
             col_i64(&cols[C_RA], h.ival[F_RA], h.have[F_RA]) &&
             col_i64(&cols[C_BS], h.ival[F_BS], h.have[F_BS]) &&
             col_str(&cols[C_QUERY], b + h.qs, h.qe - h.qs, 1) &&
             col_i64(&cols[C_OFF], base + pos, 1) &&
             col_i64(&cols[C_LEN], nxt - pos, 1) &&
             g_put(&ids, &cls, 4);
        for (int a = 0; ok && a < h.n_num; a++)
            ok = col_str(&cols[C_XKEY], b + h.num[a].n0, h.num[a].n1 - h.num[a].n0, 1) && col_f64(&cols[C_XVAL], h.num[a].v, 1);
        for (int a = 0; ok && a < h.n_text; a++)
            ok = col_str(&cols[C_TKEY], b + h.text[a].n0, h.text[a].n1 - h.text[a].n0, 1) &&
                 col_str(&cols[C_TVAL], b + h.text[a].v0, h.text[a].v1 - h.text[a].v0, 1);
        if (ok) {
            int32_t xo = (int32_t)cols[C_XVAL].valid.n, to = (int32_t)cols[C_TVAL].valid.n;
            char xv = h.n_num > 0, tv = h.n_text > 0; /* an empty map is null, as the reference path */
            xnulls += !xv;
            tnulls += !tv;
            ok = g_put(&xoff, &xo, 4) && g_put(&xvalid, &xv, 1) && g_put(&toff, &to, 4) && g_put(&tvalid, &tv, 1);
        }
        event_bytes += nxt - pos;
        rows++;
        i++;
    }
    PyObject *result = NULL;
    if (ok) {
        PyObject *colt = PyTuple_New(C_N);
        PyObject *new_ts = have_last_ts ? PyLong_FromLongLong(last_ts_us) : (Py_INCREF(Py_None), Py_None);
        PyObject *new_db;
        if (!ldb_valid) { new_db = Py_None; Py_INCREF(new_db); }
        else if (ldb_from_buf) new_db = PyUnicode_DecodeUTF8(ldb, ldb_n, "replace");
        else { new_db = last_db; Py_INCREF(new_db); }
        for (k = 0; colt && k < C_N; k++) {
            PyObject *c = col_export(&cols[k]);
            if (!c) { Py_CLEAR(colt); break; }
            PyTuple_SET_ITEM(colt, k, c);
        }
        /* map validity: reuse the column export on a fake column */
        col_t xm = {K_I64, xvalid, xoff, {0}, xnulls}, tm = {K_I64, tvalid, toff, {0}, tnulls};
        PyObject *xmap = colt ? col_export(&xm) : NULL, *tmap = colt ? col_export(&tm) : NULL;
        PyObject *idb = PyBytes_FromStringAndSize(ids.p ? ids.p : "", ids.n);
        if (colt && new_ts && new_db && xmap && tmap && idb)
            result = Py_BuildValue("(nLnNNNNNN)", i, event_bytes, rows, new_ts, new_db, colt, xmap, tmap, idb);
        else {
            Py_XDECREF(colt); Py_XDECREF(new_ts); Py_XDECREF(new_db); Py_XDECREF(xmap); Py_XDECREF(tmap); Py_XDECREF(idb);
        }
    }
    for (k = 0; k < C_N; k++) col_free(&cols[k]);
    PyMem_Free(xoff.p); PyMem_Free(xvalid.p); PyMem_Free(toff.p); PyMem_Free(tvalid.p); PyMem_Free(ids.p);
    return result;
}

#include "_speedups_pg.c"

static PyObject *py_fingerprint(PyObject *self, PyObject *arg) {
    char *s;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(arg, &s, &n) < 0) return NULL;
    return fingerprint_bytes(s, n);
}


static PyMethodDef methods[] = {
    {"fingerprint_bytes", py_fingerprint, METH_O,
     "pt-query-digest fingerprint of a query given as bytes; None when the Python path must decide."},
    {"mysql_starts", py_mysql_starts, METH_VARARGS, "Entry start offsets of a MySQL slow log buffer."},
    {"mysql_columns", py_mysql_columns, METH_VARARGS, "Parse a run of common-shape entries into Arrow column buffers."},
    {"fingerprint_pg_bytes", py_fingerprint_pg, METH_O,
     "fingerprint_pg_cached of a query given as UTF-8 bytes; None when the Python path must decide."},
    {"pg_starts", py_pg_starts, METH_VARARGS, "Entry starts of a PostgreSQL stderr buffer (RDS prefix); None: undecided."},
    {"pg_region", py_pg_region, METH_VARARGS, "Classify, pair and build the event columns of consecutive PostgreSQL entries."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) {
    if (PyType_Ready(&ClassTableType) < 0) return NULL;
    if (!(PG_UNNAMED = PyBytes_FromString("<unnamed>"))) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&ClassTableType);
    if (PyModule_AddObject(m, "ClassTable", (PyObject *)&ClassTableType) < 0) {
        Py_DECREF(&ClassTableType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
