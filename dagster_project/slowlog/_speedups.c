/*
 * Optional C accelerator for the slowlog core: pt-query-digest's fingerprint on bytes.
 *
 * A step-by-step port of fingerprint.py (itself a port of Percona Toolkit's
 * QueryRewriter::fingerprint), each regex turned into an explicit scan with the same
 * leftmost/greedy/lazy semantics on bytes (Perl's byte semantics: ASCII-only \w \s \b, lc on
 * A-Z). fingerprint.py stays the reference: tests compare both on pt's vectors, on real logs
 * and on random input. Queries containing " union" return None (the Python path handles pt's
 * back-referencing UNION rule).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    char *p;
    Py_ssize_t n;
    Py_ssize_t cap;
} buf_t;

static int buf_init(buf_t *b, Py_ssize_t cap) {
    b->p = (char *)PyMem_Malloc(cap + 16);
    b->n = 0;
    b->cap = cap + 16;
    return b->p != NULL;
}

static inline void buf_put(buf_t *b, char c) { b->p[b->n++] = c; }
static inline void buf_putn(buf_t *b, const char *s, Py_ssize_t k) {
    memcpy(b->p + b->n, s, k);
    b->n += k;
}

static inline int is_space(unsigned char c) { /* Perl/Python ASCII \s */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
static inline int is_word(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
static inline unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

static int ci_eq(const char *s, Py_ssize_t n, Py_ssize_t i, const char *lit) {
    Py_ssize_t k = (Py_ssize_t)strlen(lit);
    if (i < 0 || i + k > n) return 0;
    for (Py_ssize_t j = 0; j < k; j++)
        if (lower((unsigned char)s[i + j]) != (unsigned char)lit[j]) return 0;
    return 1;
}

/* swap: result of a step becomes the input of the next */
#define STEP_BEGIN { buf_t out; if (!buf_init(&out, n * 2 + 8)) goto nomem;
#define STEP_END PyMem_Free(q); q = out.p; n = out.n; }

static PyObject *mk(const char *s, Py_ssize_t n) { return PyBytes_FromStringAndSize(s, n); }

static PyObject *fingerprint_bytes(const char *src, Py_ssize_t n0) {
    Py_ssize_t n = n0;
    char *q = (char *)PyMem_Malloc(n + 16);
    if (!q) return PyErr_NoMemory();
    memcpy(q, src, n);
    Py_ssize_t i, j;

    /* mysqldump */
    {
        static const char md[] = "SELECT /*!40001 SQL_NO_CACHE */ * FROM `";
        Py_ssize_t k = sizeof(md) - 1;
        if (n >= k && memcmp(q, md, k) == 0) { PyMem_Free(q); return mk("mysqldump", 9); }
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
                PyMem_Free(q);
                return mk("percona-toolkit", 15);
            }
        }
    }
    /* administrator command */
    if (n >= 23 && memcmp(q, "administrator command: ", 23) == 0) {
        PyObject *r = mk(q, n);
        PyMem_Free(q);
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
                    if (!r) { PyMem_Free(q); return NULL; }
                    char *d = PyBytes_AS_STRING(r);
                    for (Py_ssize_t k = i; k < paren; k++) d[k - i] = (char)lower((unsigned char)q[k]);
                    PyMem_Free(q);
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
            PyMem_Free(q);
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
    /* \bfalse\b|\btrue\b (ci) -> ? */
    {
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
    {
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
    {
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
    /* \b(in|values?)(?:[\s,]*\([\s?,]*\))+ -> $1(?+) */
    {
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
        if (q[i] == ' ' && memcmp(q + i + 1, "union", 5) == 0) { PyMem_Free(q); Py_RETURN_NONE; }
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
        PyMem_Free(q);
        return r;
    }
nomem:
    PyMem_Free(q);
    return PyErr_NoMemory();
}


/* ---------------------------------------------------------------------------------------------
 * MySQL slow-log entry header (the fast path of engines/mysql.py::parse_entry).
 * Returns None whenever the entry is not of the common shape; Python then takes its reference
 * line-by-line path, so this function only has to be right for the shapes it accepts.
 * ------------------------------------------------------------------------------------------- */

static int starts_with(const char *s, Py_ssize_t n, Py_ssize_t i, const char *lit) {
    Py_ssize_t k = (Py_ssize_t)strlen(lit);
    return i + k <= n && memcmp(s + i, lit, k) == 0;
}

static Py_ssize_t find_byte(const char *s, Py_ssize_t from, Py_ssize_t to, char c) {
    const char *p = memchr(s + from, c, to - from);
    return p ? p - s : -1;
}

static Py_ssize_t find_sub(const char *s, Py_ssize_t from, Py_ssize_t to, const char *lit) {
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

enum { F_QT, F_LT, F_RS, F_RE, F_RA, F_BS, F_TID, F_N };
static const char *FIELD_NAMES[] = {"Query_time", "Lock_time", "Rows_sent", "Rows_examined", "Rows_affected", "Bytes_sent", "Thread_id"};

#define FAIL_NONE() do { Py_XDECREF(extra); Py_XDECREF(extra_text); Py_XDECREF(schema); Py_RETURN_NONE; } while (0)

static PyObject *py_mysql_header(PyObject *self, PyObject *args) {
    const char *b;
    Py_ssize_t blen, start, end;
    if (!PyArg_ParseTuple(args, "y#nn", &b, &blen, &start, &end)) return NULL;
    if (start < 0 || end > blen || start >= end) Py_RETURN_NONE;
    PyObject *extra = NULL, *extra_text = NULL, *schema = NULL;

    /* the header block */
    Py_ssize_t pos = start;
    while (pos < end) {
        if (b[pos] == '#' || starts_with(b, end, pos, "use ") || starts_with(b, end, pos, "SET last_insert_id") ||
            starts_with(b, end, pos, "SET insert_id") || starts_with(b, end, pos, "SET timestamp")) {
            Py_ssize_t nl = find_byte(b, pos, end, '\n');
            if (nl < 0) break; /* an unterminated line is not part of the block */
            pos = nl + 1;
        } else break;
    }
    Py_ssize_t qs = pos;
    if (qs >= end) Py_RETURN_NONE;
    /* an unterminated header line, or an entry not ending in a newline (the input was cut):
     * the reference path decides */
    if (b[qs] == '#' || b[end - 1] != '\n') Py_RETURN_NONE;
    if (find_sub(b, start, qs, "# administrator command:") >= 0) Py_RETURN_NONE;
    if (find_sub(b, start, qs, "Host: ") < 0) Py_RETURN_NONE;
    Py_ssize_t first_nl = find_byte(b, start, qs, '\n');
    if (find_sub(b, start + 1, first_nl, "# User@Host:") >= 0) Py_RETURN_NONE;

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
            if (r < 0) Py_RETURN_NONE;
            have_ts = r;
        }
    }
    if (!have_ts) { /* SET ... timestamp=N */
        for (Py_ssize_t l = start; l < qs;) {
            Py_ssize_t nl = find_byte(b, l, qs, '\n');
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
                            while (j < nl && b[j] >= '0' && b[j] <= '9') { v = v * 10 + (b[j] - '0'); j++; if (j - d0 > 11) Py_RETURN_NONE; }
                            if (j > d0) { ts_us = v * 1000000LL; have_ts = 1; break; }
                        }
                    }
                }
                break; /* pt reads only the first SET line of an entry */
            }
            l = nl + 1;
        }
    }
    if (!have_ts && time_line) have_ts = old_us(b + tr_s, tr_e - tr_s, &ts_us);

    /* # User@Host: user[user] @ host [ip]  Id: N  (only the unambiguous shape) */
    PyObject *user = NULL, *host = NULL, *ip = NULL;
    long long tid = -1;
    Py_ssize_t uh = -1;
    for (Py_ssize_t l = start; l < qs;) {
        Py_ssize_t nl = find_byte(b, l, qs, '\n');
        if (starts_with(b, nl, l, "# User@Host: ")) { uh = l; break; }
        l = nl + 1;
    }
    Py_ssize_t uh_end = uh >= 0 ? find_byte(b, uh, qs, '\n') : -1;
    Py_ssize_t u0 = uh + 13, lb = -1, at = -1, h0 = 0, h1 = 0, i0 = 0, i1 = 0;
    if (uh >= 0) {
        if (u0 >= uh_end || b[u0] == '[') Py_RETURN_NONE;
        lb = find_byte(b, u0, uh_end, '[');
        if (lb < 0) Py_RETURN_NONE;
        at = find_sub(b, u0, uh_end, "@ ");
        if (at < lb || find_sub(b, at + 1, uh_end, "@ ") >= 0) Py_RETURN_NONE;
        h0 = at + 2;
        h1 = h0;
        while (h1 < uh_end && !is_space(b[h1])) h1++;
        if (h1 + 1 >= uh_end || b[h1] != ' ' || b[h1 + 1] != '[') Py_RETURN_NONE;
        i0 = h1 + 2;
        i1 = find_byte(b, i0, uh_end, ']');
        if (i1 < 0) Py_RETURN_NONE;
        Py_ssize_t k = i1 + 1;
        while (k < uh_end && is_space(b[k])) k++;
        if (starts_with(b, uh_end, k, "Id:")) {
            k += 3;
            while (k < uh_end && is_space(b[k])) k++;
            Py_ssize_t d0 = k;
            long long v = 0;
            while (k < uh_end && b[k] >= '0' && b[k] <= '9') { v = v * 10 + (b[k] - '0'); k++; if (k - d0 > 18) Py_RETURN_NONE; }
            if (k > d0) tid = v;
        }
    }

    /* attribute lines: "# Name: value  Name: value ..." */
    int have[F_N] = {0};
    double fval[2] = {0, 0};
    long long ival[F_N] = {0};
    for (Py_ssize_t l = start; l < qs;) {
        Py_ssize_t nl = find_byte(b, l, qs, '\n');
        Py_ssize_t le = nl;
        if (b[l] == '#' && l + 1 < le && b[l + 1] == ' ') {
            Py_ssize_t k = l + 1;
            while (k < le && b[k] == ' ') k++;
            int is_prop = !(starts_with(b, le, k, "User@Host: ") || starts_with(b, le, k, "Time: "));
            if (is_prop) {
                Py_ssize_t w = k;
                if (!(w < le && b[w] >= 'A' && b[w] <= 'Z')) is_prop = 0;
                else {
                    w++;
                    Py_ssize_t w0 = w;
                    while (w < le && ((b[w] >= 'A' && b[w] <= 'Z') || (b[w] >= 'a' && b[w] <= 'z') || b[w] == '_')) w++;
                    if (w == w0 || !(w + 2 < le + 1 && w + 1 < le && b[w] == ':' && b[w + 1] == ' ' && w + 2 < le && !is_space(b[w + 2])))
                        is_prop = 0;
                }
            }
            if (is_prop) {
                Py_ssize_t i = l;
                while (i < le) {
                    if (!is_word(b[i])) { i++; continue; }
                    Py_ssize_t n0 = i;
                    while (i < le && is_word(b[i])) i++;
                    Py_ssize_t n1 = i;
                    if (i >= le || b[i] != ':') continue;
                    if (n1 - n0 > 6 && memcmp(b + n1 - 6, "Schema", 6) == 0) FAIL_NONE(); /* "XSchema:": Python decides */
                    Py_ssize_t j = i + 1;
                    while (j < le && is_space(b[j])) j++;
                    if (j == i + 1) { i = i + 1; continue; }
                    Py_ssize_t v0 = j;
                    while (j < le && !is_space(b[j])) j++;
                    Py_ssize_t v1 = j;
                    if (v0 == v1 && j < le) { i = j; continue; }
                    /* "Schema: Next: v" -> the empty Schema is dropped (pt's bug 1104 workaround) */
                    if (n1 - n0 == 6 && memcmp(b + n0, "Schema", 6) == 0 && v1 > v0) {
                        Py_ssize_t x = v0;
                        while (x < le && is_word(b[x])) x++;
                        if (x > v0 && x + 1 < le && b[x] == ':' && b[x + 1] == ' ') { i = v0; continue; }
                    }
                    i = v1;
                    int f = -1;
                    for (int q = 0; q < F_N; q++)
                        if ((Py_ssize_t)strlen(FIELD_NAMES[q]) == n1 - n0 && memcmp(b + n0, FIELD_NAMES[q], n1 - n0) == 0) { f = q; break; }
                    if (f == F_QT || f == F_LT) {
                        double d;
                        int r = to_double(b + v0, v1 - v0, &d);
                        if (r < 0) FAIL_NONE();
                        if (r) { have[f] = 1; fval[f] = d; } /* an unreadable repeat keeps the earlier value */
                    } else if (f >= 0) {
                        long long v;
                        if (to_ll(b + v0, v1 - v0, &v) < 0) FAIL_NONE();
                        have[f] = 1;
                        ival[f] = v;
                    } else if (n1 - n0 == 6 && memcmp(b + n0, "Schema", 6) == 0) {
                        Py_XDECREF(schema);
                        schema = PyUnicode_DecodeUTF8(b + v0, v1 - v0, "replace");
                        if (!schema) goto error;
                    } else {
                        PyObject *name = PyUnicode_DecodeASCII(b + n0, n1 - n0, "replace");
                        if (!name) goto error;
                        double d;
                        int r = to_double(b + v0, v1 - v0, &d);
                        PyObject *val = NULL;
                        int text = 0;
                        if (r == 1) val = PyFloat_FromDouble(d);
                        else if (r == 0) { Py_DECREF(name); FAIL_NONE(); }
                        else if ((v1 - v0 == 3 && (memcmp(b + v0, "Yes", 3) == 0 || memcmp(b + v0, "yes", 3) == 0 || memcmp(b + v0, "YES", 3) == 0)))
                            val = PyFloat_FromDouble(1.0);
                        else if ((v1 - v0 == 2 && (memcmp(b + v0, "No", 2) == 0 || memcmp(b + v0, "no", 2) == 0 || memcmp(b + v0, "NO", 2) == 0)))
                            val = PyFloat_FromDouble(0.0);
                        else {
                            /* words Python's float() would still accept (inf, nan, ...) go the slow way */
                            char c0 = v0 < v1 ? (char)lower((unsigned char)b[v0]) : 0;
                            if (c0 == 'i' || c0 == 'n' || c0 == '+' || c0 == '-' || c0 == '.' || (c0 >= '0' && c0 <= '9')) { Py_DECREF(name); FAIL_NONE(); }
                            val = PyUnicode_DecodeUTF8(b + v0, v1 - v0, "replace");
                            text = 1;
                        }
                        if (!val) { Py_DECREF(name); goto error; }
                        PyObject **lst = text ? &extra_text : &extra;
                        if (!*lst && !(*lst = PyList_New(0))) { Py_DECREF(name); Py_DECREF(val); goto error; }
                        PyObject *pair = PyTuple_Pack(2, name, val);
                        Py_DECREF(name);
                        Py_DECREF(val);
                        if (!pair || PyList_Append(*lst, pair) < 0) { Py_XDECREF(pair); goto error; }
                        Py_DECREF(pair);
                    }
                }
            }
        }
        l = nl + 1;
    }

    /* first `use db` line */
    PyObject *db = NULL;
    for (Py_ssize_t l = start; l < qs;) {
        Py_ssize_t nl = find_byte(b, l, qs, '\n');
        if (starts_with(b, nl, l, "use ")) {
            Py_ssize_t e = l + 4;
            while (e < nl && b[e] != ';') e++;
            if (e > l + 4) { db = PyUnicode_DecodeUTF8(b + l + 4, e - l - 4, "replace"); if (!db) goto error; break; }
        }
        l = nl + 1;
    }

    /* the query: rstrip ASCII whitespace, then one trailing ';' */
    Py_ssize_t qe = end;
    while (qe > qs && (b[qe - 1] == ' ' || b[qe - 1] == '\t' || b[qe - 1] == '\n' || b[qe - 1] == '\r' || b[qe - 1] == '\x0b' || b[qe - 1] == '\x0c')) qe--;
    if (qe > qs && b[qe - 1] == ';') qe--;

    if (uh >= 0) {
        user = PyUnicode_DecodeUTF8(b + u0, lb - u0, "replace");
        ip = PyUnicode_DecodeUTF8(b + i0, i1 - i0, "replace");
        host = h1 > h0 ? PyUnicode_DecodeUTF8(b + h0, h1 - h0, "replace") : (Py_XINCREF(ip), ip);
        if (!user || !host || !ip) { Py_XDECREF(user); Py_XDECREF(host); Py_XDECREF(ip); Py_XDECREF(db); goto error; }
    } else {
        user = Py_None; host = Py_None; ip = Py_None;
        Py_INCREF(Py_None); Py_INCREF(Py_None); Py_INCREF(Py_None);
    }
    if (!have[F_TID] && tid >= 0) { have[F_TID] = 1; ival[F_TID] = tid; }

#define OPT_F(k) (have[k] ? PyFloat_FromDouble(fval[k]) : (Py_INCREF(Py_None), Py_None))
#define OPT_I(k) (have[k] ? PyLong_FromLongLong(ival[k]) : (Py_INCREF(Py_None), Py_None))
    PyObject *ts = have_ts ? PyLong_FromLongLong(ts_us) : (Py_INCREF(Py_None), Py_None);
    PyObject *query = PyBytes_FromStringAndSize(b + qs, qe - qs);
    if (!db) { db = Py_None; Py_INCREF(db); }
    if (!schema) { schema = Py_None; Py_INCREF(schema); }
    if (!extra) { extra = Py_None; Py_INCREF(extra); }
    if (!extra_text) { extra_text = Py_None; Py_INCREF(extra_text); }
    PyObject *res = Py_BuildValue("(NNNNNNNNNNNNNNNN)", ts, user, host, ip, db, schema, OPT_I(F_TID), OPT_F(F_QT),
                                  OPT_F(F_LT), OPT_I(F_RS), OPT_I(F_RE), OPT_I(F_RA), OPT_I(F_BS), query, extra, extra_text);
    return res;
error:
    Py_XDECREF(extra);
    Py_XDECREF(extra_text);
    Py_XDECREF(schema);
    return NULL;
}


/* Entry starts of a MySQL slow log in buf[0:end] (engines/mysql.py::MySQLSlowLogParser.starts):
 * "# Time: " / "# User@Host: " lines (a User@Host line right after a Time line belongs to it),
 * the '#' of every ";\n#" / ";\r\n#" whose line is not a `use`/`SET` attribute, and 0 when the
 * buffer starts with '#'. Sorted, unique. */
static PyObject *py_mysql_starts(PyObject *self, PyObject *args) {
    const char *b;
    Py_ssize_t n, end;
    if (!PyArg_ParseTuple(args, "y#n", &b, &n, &end)) return NULL;
    if (end > n) end = n;
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    Py_ssize_t prev_time_end = -1, last = -1;
    for (Py_ssize_t ls = 0; ls < end;) {
        Py_ssize_t nl = find_byte(b, ls, end, '\n');
        Py_ssize_t start = -1;
        if (b[ls] == '#') {
            if (starts_with(b, end, ls, "# Time: ")) {
                start = ls;
                prev_time_end = nl < 0 ? -1 : nl + 1;
            } else if (starts_with(b, end, ls, "# User@Host: ")) {
                if (ls != prev_time_end) start = ls;
            }
            if (start < 0 && ls == 0) start = 0;
            if (start < 0 && ls >= 2 && b[ls - 1] == '\n') {
                /* ";\n#" or ";\r\n#": the previous line ends with ';' and is not use/SET */
                Py_ssize_t semi = ls - 2;
                if (semi >= 0 && b[semi] == '\r') semi--;
                if (semi >= 0 && b[semi] == ';') {
                    Py_ssize_t pls = semi;
                    while (pls > 0 && b[pls - 1] != '\n') pls--;
                    if (!starts_with(b, end, pls, "use ") && !starts_with(b, end, pls, "SET ")) start = ls;
                }
            }
        }
        if (start >= 0 && start != last) {
            PyObject *v = PyLong_FromSsize_t(start);
            if (!v || PyList_Append(out, v) < 0) { Py_XDECREF(v); Py_DECREF(out); return NULL; }
            Py_DECREF(v);
            last = start;
        }
        if (nl < 0) break;
        ls = nl + 1;
    }
    return out;
}


/* A run of consecutive entries: points[i] .. points[j] are entry starts (the last one is the
 * chunk's cut). Parses entries until one is not of the common shape (or `limit` rows), applying
 * ts/db inheritance; returns (rows, next_index, last_ts, last_db, event_bytes). Each row is the
 * RecordSink tuple (ts_us, user, host, ip, db, thread_id, query_time, lock_time, rows_sent,
 * rows_examined, rows_affected, bytes_sent, query_bytes, extra, extra_text, offset, length). */
static PyObject *py_mysql_entries(PyObject *self, PyObject *args) {
    PyObject *bufobj, *points, *last_ts, *last_db;
    Py_ssize_t i, base, limit;
    if (!PyArg_ParseTuple(args, "SO!nnOOn", &bufobj, &PyList_Type, &points, &i, &base, &last_ts, &last_db, &limit))
        return NULL;
    Py_ssize_t npoints = PyList_GET_SIZE(points);
    PyObject *rows = PyList_New(0);
    if (!rows) return NULL;
    Py_INCREF(last_ts);
    Py_INCREF(last_db);
    long long event_bytes = 0;
    while (i + 1 < npoints && PyList_GET_SIZE(rows) < limit) {
        Py_ssize_t pos = PyLong_AsSsize_t(PyList_GET_ITEM(points, i));
        Py_ssize_t nxt = PyLong_AsSsize_t(PyList_GET_ITEM(points, i + 1));
        if (pos == -1 && PyErr_Occurred()) goto error;
        if (nxt <= pos) break;
        PyObject *a = Py_BuildValue("(Onn)", bufobj, pos, nxt);
        if (!a) goto error;
        PyObject *r = py_mysql_header(NULL, a);
        Py_DECREF(a);
        if (!r) goto error;
        if (r == Py_None) { Py_DECREF(r); break; }
        /* r = (ts, user, host, ip, db, schema, tid, qt, lt, rs, re, ra, bs, query, extra, extra_text) */
        PyObject *ts = PyTuple_GET_ITEM(r, 0);
        if (ts == Py_None) ts = last_ts;
        PyObject *db = PyTuple_GET_ITEM(r, 4);
        if (db == Py_None) {
            PyObject *schema = PyTuple_GET_ITEM(r, 5);
            db = (schema != Py_None && PyUnicode_GET_LENGTH(schema) > 0) ? schema : last_db;
        }
        Py_INCREF(ts);
        Py_DECREF(last_ts);
        last_ts = ts;
        Py_INCREF(db);
        Py_DECREF(last_db);
        last_db = db;
        PyObject *row = PyTuple_New(17);
        if (!row) { Py_DECREF(r); goto error; }
        Py_INCREF(ts); PyTuple_SET_ITEM(row, 0, ts);
        for (int k = 1; k <= 3; k++) { PyObject *v = PyTuple_GET_ITEM(r, k); Py_INCREF(v); PyTuple_SET_ITEM(row, k, v); }
        Py_INCREF(db); PyTuple_SET_ITEM(row, 4, db);
        for (int k = 6; k <= 15; k++) { PyObject *v = PyTuple_GET_ITEM(r, k); Py_INCREF(v); PyTuple_SET_ITEM(row, k - 1, v); }
        PyTuple_SET_ITEM(row, 15, PyLong_FromSsize_t(base + pos));
        PyTuple_SET_ITEM(row, 16, PyLong_FromSsize_t(nxt - pos));
        Py_DECREF(r);
        if (!PyTuple_GET_ITEM(row, 15) || !PyTuple_GET_ITEM(row, 16) || PyList_Append(rows, row) < 0) { Py_DECREF(row); goto error; }
        Py_DECREF(row);
        event_bytes += nxt - pos;
        i++;
    }
    return Py_BuildValue("(NnNNL)", rows, i, last_ts, last_db, event_bytes);
error:
    Py_DECREF(rows);
    Py_DECREF(last_ts);
    Py_DECREF(last_db);
    return NULL;
}

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
    {"mysql_entries", py_mysql_entries, METH_VARARGS, "Parse a run of common-shape entries into RecordSink rows."},
    {"mysql_header", py_mysql_header, METH_VARARGS,
     "Parse a MySQL slow-log entry buf[start:end] of the common shape; None for anything else."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
