/* memtech._fastpath: the hot loop of a faulty write, compiled.
 *
 * A write of the default MLP's weights at a write error rate of 1e-4 meets ~15 candidate failures, of which
 * only the bits that actually switch fail (STT-MRAM's switch-only write errors), or all of them (errors that
 * hit any written bit alike). Checking each candidate in Python costs more than the rest of the training step
 * can hide; this module does the walk, the check, the copy of the new words and the failures in one call. It
 * changes no draw: memtech/storage/writes.py keeps an
 * equivalent pure-Python path (used where this module could not be built) and the tests pin the two to give
 * bit-identical words and counts.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <limits.h>
#include <string.h>

static inline uint64_t load_word(const char *base, Py_ssize_t i, int width) {
    const char *p = base + i * width;
    switch (width) {
        case 1: return *(const uint8_t *)p;
        case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
        case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
        default: { uint64_t v; memcpy(&v, p, 8); return v; }
    }
}

static inline void flip_bit(char *base, Py_ssize_t i, int width, int bit) {
    uint64_t v = load_word(base, i, width) ^ ((uint64_t)1 << bit);
    char *p = base + i * width;
    switch (width) {
        case 1: *(uint8_t *)p = (uint8_t)v; break;
        case 2: { uint16_t w = (uint16_t)v; memcpy(p, &w, 2); break; }
        case 4: { uint32_t w = (uint32_t)v; memcpy(p, &w, 4); break; }
        default: memcpy(p, &v, 8); break;
    }
}

PyDoc_STRVAR(switch_only_write_doc,
"switch_only_write(hits, index, first, words, new_words, start, shift, histogram[, every]) -> (stop, next_hit, failed)\n"
"\n"
"Store ``new_words`` into ``words[start:start + len(new_words)]`` with switch-only write errors (with\n"
"``every`` true: with errors that flip every candidate bit, switching or not).\n"
"\n"
"``hits`` holds sorted absolute stream positions (int64) of candidate failures; those from ``hits[index]``\n"
"up to (not including) stream position ``first + len(new_words) << shift`` belong to this write, position\n"
"``first`` being its bit 0. A candidate fails exactly when its bit changes value, and a failed bit keeps\n"
"its old value. Each failure adds one to ``histogram[bit]``. Words are 2**shift bits wide (shift 3..6).\n"
"Returns the index of the first hit past this write, that hit's position (-1 past the buffer's end) and\n"
"the number of failed switches.");

static PyObject *switch_only_write(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 8 && nargs != 9) {
        PyErr_Format(PyExc_TypeError, "switch_only_write() takes 8 or 9 arguments (%zd given)", nargs);
        return NULL;
    }
    int every = 0;
    if (nargs == 9 && (every = PyObject_IsTrue(args[8])) < 0) return NULL;
    /* any integer, NumPy's included (__index__) */
    Py_ssize_t index = PyNumber_AsSsize_t(args[1], PyExc_OverflowError);
    Py_ssize_t start = PyNumber_AsSsize_t(args[5], PyExc_OverflowError);
    Py_ssize_t shift = PyNumber_AsSsize_t(args[6], PyExc_OverflowError);
    long long first = -1;
    PyObject *first_int = PyNumber_Index(args[2]);
    if (first_int != NULL) {
        first = PyLong_AsLongLong(first_int);
        Py_DECREF(first_int);
    }
    PyObject *histogram = args[7];
    if (PyErr_Occurred()) return NULL;
    if (shift < 3 || shift > 6) {
        PyErr_Format(PyExc_ValueError, "shift must be 3 to 6 (8- to 64-bit words), got %zd", shift);
        return NULL;
    }
    if (!PyList_Check(histogram) || PyList_GET_SIZE(histogram) < (1 << shift)) {
        PyErr_SetString(PyExc_TypeError, "histogram must be a list with one count per bit of a word");
        return NULL;
    }
    const int width = 1 << (shift - 3);
    const long long low = (1LL << shift) - 1;

    /* C-contiguous buffers (arrays or memoryviews), with their item sizes checked below */
    Py_buffer hits, words, fresh;
    if (PyObject_GetBuffer(args[0], &hits, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return NULL;
    if (PyObject_GetBuffer(args[3], &words, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&hits);
        return NULL;
    }
    if (PyObject_GetBuffer(args[4], &fresh, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(&hits);
        PyBuffer_Release(&words);
        return NULL;
    }
    PyObject *result = NULL;
    long long *failed = NULL;
    PyObject *counts[64] = {NULL};
    const char *hit_format = hits.format ? hits.format : "B";
    const char *hit_code = hit_format + (hit_format[0] == '@' || hit_format[0] == '=' || hit_format[0] == '<');
    if (hits.itemsize != (Py_ssize_t)sizeof(int64_t) || (hit_code[0] != 'q' && hit_code[0] != 'l')) {
        PyErr_Format(PyExc_TypeError, "hits must be int64, got format '%s'", hit_format);
        goto done;
    }
    if (words.itemsize != width || fresh.itemsize != width) {
        PyErr_Format(PyExc_TypeError, "words and new_words must hold %d-byte words (shift %zd), got %zd and %zd bytes",
                     width, shift, words.itemsize, fresh.itemsize);
        goto done;
    }
    const Py_ssize_t n_hits = hits.len / (Py_ssize_t)sizeof(int64_t);
    const Py_ssize_t n_new = fresh.len / width, n_words = words.len / width;
    if (start < 0 || start > n_words - n_new || index < 0 || index > n_hits) {
        PyErr_Format(PyExc_IndexError, "write of %zd words at %zd into %zd words (hit index %zd of %zd)",
                     n_new, start, n_words, index, n_hits);
        goto done;
    }
    const int64_t *hit = (const int64_t *)hits.buf;
    const long long end = first + ((long long)n_new << shift);
    char *old = (char *)words.buf + start * width;
    const char *new_ = (const char *)fresh.buf;

    /* Pass 1, before the copy: which candidates fail (with switch-only errors, those that switch)? */
    Py_ssize_t i = index, n_failed = 0, capacity = 0;
    for (; i < n_hits && hit[i] < end; i++) {
        long long at = hit[i] - first;
        if (at < 0) {
            PyErr_SetString(PyExc_ValueError, "a hit lies before the start of the write");
            goto done;
        }
        Py_ssize_t word = (Py_ssize_t)(at >> shift);
        int bit = (int)(at & low);
        if (every || ((load_word(old, word, width) ^ load_word(new_, word, width)) >> bit) & 1) {
            if (n_failed == capacity) {
                capacity = capacity ? 2 * capacity : 64;
                long long *grown = PyMem_Realloc(failed, capacity * sizeof(long long));
                if (grown == NULL) {
                    PyErr_NoMemory();
                    goto done;
                }
                failed = grown;
            }
            failed[n_failed++] = at;
        }
    }
    /* The new per-bit counts are made before anything is stored, so an error leaves the words untouched. */
    long long added[64] = {0};
    for (Py_ssize_t k = 0; k < n_failed; k++) added[failed[k] & low]++;
    for (int bit = 0; bit <= low; bit++) {
        if (!added[bit]) continue;
        long long count = PyLong_AsLongLong(PyList_GET_ITEM(histogram, bit));
        if (count == -1 && PyErr_Occurred()) goto done;
        if (count > LLONG_MAX - added[bit]) {
            PyErr_SetString(PyExc_OverflowError, "histogram count overflows");
            goto done;
        }
        if ((counts[bit] = PyLong_FromLongLong(count + added[bit])) == NULL) goto done;
    }
    result = Py_BuildValue("(nLn)", i, i < n_hits ? (long long)hit[i] : -1LL, n_failed);
    if (result == NULL) goto done;
    /* Pass 2: store the new words, then flip each failed bit (a failed switch keeps its old value). */
    memmove(old, new_, (size_t)n_new * width);
    for (Py_ssize_t k = 0; k < n_failed; k++)
        flip_bit(old, (Py_ssize_t)(failed[k] >> shift), width, (int)(failed[k] & low));
    for (int bit = 0; bit <= low; bit++) {
        if (counts[bit] != NULL) {
            PyObject *previous = PyList_GET_ITEM(histogram, bit);
            PyList_SET_ITEM(histogram, bit, counts[bit]);  /* steals the new count */
            Py_DECREF(previous);
            counts[bit] = NULL;
        }
    }
done:
    for (int bit = 0; bit < 64; bit++) Py_XDECREF(counts[bit]);
    PyMem_Free(failed);
    PyBuffer_Release(&hits);
    PyBuffer_Release(&words);
    PyBuffer_Release(&fresh);
    return result;
}

static PyMethodDef fastpath_methods[] = {
    {"switch_only_write", (PyCFunction)(void (*)(void))switch_only_write, METH_FASTCALL, switch_only_write_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fastpath_module = {
    PyModuleDef_HEAD_INIT, "memtech._fastpath", "Compiled hot loop of memtech's faulty writes.", -1, fastpath_methods,
};

PyMODINIT_FUNC PyInit__fastpath(void) { return PyModule_Create(&fastpath_module); }
