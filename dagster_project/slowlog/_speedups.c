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

static PyObject *py_fingerprint(PyObject *self, PyObject *arg) {
    char *s;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(arg, &s, &n) < 0) return NULL;
    return fingerprint_bytes(s, n);
}

static PyMethodDef methods[] = {
    {"fingerprint_bytes", py_fingerprint, METH_O,
     "pt-query-digest fingerprint of a query given as bytes; None when the Python path must decide."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
