/* The compiled hot paths of statetrail.frozen (CPython C API).
 *
 * The same functions as the pure-Python modules, over the same tuples: the
 * CHAMP trie of _hamt.py (lookup, locate, replace_at, assoc, build), the
 * reads and path writes of FrozenDict (__getitem__, _find, _put) and the
 * freezing of plain dicts and lists (_freeze.py). _native.py chooses this
 * module at import unless STATETRAIL_PURE=1 or it was not built; the pure
 * modules stay the reference, and the frozen/ tests run against both.
 *
 * Rules kept from the Python code:
 *  - keys are compared as ``k is key or k == key`` (PyObject_RichCompareBool,
 *    stored key on the left), hashed with PyObject_Hash: a key's __hash__ and
 *    __eq__ run exactly as they do in Python, and their exceptions propagate;
 *  - a write that changes nothing returns the very same node or map;
 *  - every node is a plain tuple, laid out as _hamt.py describes.
 *
 * The garbage collector: a tuple, FrozenDict or FrozenList made here whose
 * every member is untracked (an int, a str, or a container untracked by the
 * same rule) is untracked at once, as CPython untracks such tuples at their
 * first collection. Such an object can be in no reference cycle (it is
 * immutable, and nothing it reaches can reach it), so the collector has
 * nothing to find in it; a history of thousands of versions then costs the
 * collector nothing to walk (issue 10). A subclass (which may have a __dict__)
 * is never untracked.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>

#define BITS 5
#define MASK 31
#define MAX_SHIFT 60

/* Set once by configure(): the classes and objects of the Python modules. */
static PyObject *FrozenDictType = NULL;
static PyObject *FrozenListType = NULL;
static PyObject *VecType = NULL;
static PyObject *OpaqueType = NULL;
static PyObject *MISSING = NULL;
static PyObject *EMPTY = NULL;
static PyObject *IMMUTABLE = NULL;   /* the set of scalar types kept as they are */
static PyObject *FROZEN = NULL;      /* the set of frozen container types */
static PyObject *py_freeze = NULL;   /* _freeze._freeze(obj, depth) */
static PyObject *py_freeze_dict = NULL;
static PyObject *py_freeze_list = NULL;
static PyObject *py_check_key = NULL;
static PyObject *py_dict_of = NULL;  /* FrozenDict._of(plain) */
static PyObject *py_list_of = NULL;  /* FrozenList._of_frozen(items) */
static Py_ssize_t SMALL = 8;
static Py_ssize_t WIDTH = 32;
static long MAX_NESTING = 100;
static Py_ssize_t off_keys, off_vals, off_root, off_len, off_hashed;
static Py_ssize_t off_vec, off_lhashed;
/* The keys tuple of the last small map frozen: the next one with the very same
 * key objects shares it (the entries of a state mostly have one shape). */
static PyObject *last_keys = NULL;

#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

static inline int
popcount(uint32_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_popcount(x);
#else
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    return (int)((((x + (x >> 4)) & 0x0F0F0F0Fu) * 0x01010101u) >> 24);
#endif
}

static inline int
untracked(PyObject *o)
{
    return !PyObject_IS_GC(o) || !PyObject_GC_IsTracked(o);
}

/* Untrack a tuple made here when every member is untracked. */
static void
maybe_untrack_tuple(PyObject *t)
{
    Py_ssize_t n = PyTuple_GET_SIZE(t);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!untracked(PyTuple_GET_ITEM(t, i))) {
            return;
        }
    }
    if (PyObject_GC_IsTracked(t)) {
        PyObject_GC_UnTrack(t);
    }
}

/* -- hashes ------------------------------------------------------------------- */

/* A key's hash as given: an int of 64 bits (every hash() is) read once, any
 * other int through Python's own >> and &, as the pure code computes it. */
typedef struct {
    PyObject *obj;   /* borrowed; NULL when made here from v */
    long long v;
    int big;
} hinfo;

static int
hinfo_set(hinfo *h, PyObject *obj)
{
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (v == -1 && !overflow && PyErr_Occurred()) {
        return -1;
    }
    h->obj = obj;
    h->v = v;
    h->big = overflow != 0;
    return 0;
}

static int
fragment(const hinfo *h, int shift)
{
    if (!h->big) {
        return (int)((h->v >> shift) & MASK);
    }
    PyObject *s = PyLong_FromLong(shift);
    if (s == NULL) {
        return -1;
    }
    PyObject *shifted = PyNumber_Rshift(h->obj, s);
    Py_DECREF(s);
    if (shifted == NULL) {
        return -1;
    }
    PyObject *mask = PyLong_FromLong(MASK);
    if (mask == NULL) {
        Py_DECREF(shifted);
        return -1;
    }
    PyObject *f = PyNumber_And(shifted, mask);
    Py_DECREF(shifted);
    Py_DECREF(mask);
    if (f == NULL) {
        return -1;
    }
    long r = PyLong_AsLong(f);
    Py_DECREF(f);
    return (int)r;
}

static PyObject *
hinfo_object(const hinfo *h)
{
    if (h->obj != NULL) {
        return Py_NewRef(h->obj);
    }
    return PyLong_FromLongLong(h->v);
}

/* -- nodes -------------------------------------------------------------------- */

static int
bad_node(void)
{
    PyErr_SetString(PyExc_TypeError, "not a trie node (a tuple of the _hamt layout)");
    return -1;
}

static int
read_maps(PyObject *node, uint32_t *datamap, uint32_t *nodemap)
{
    if (!PyTuple_Check(node) || PyTuple_GET_SIZE(node) < 2) {
        return bad_node();
    }
    unsigned long d = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(node, 0));
    if (d == (unsigned long)-1 && PyErr_Occurred()) {
        return -1;
    }
    unsigned long n = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(node, 1));
    if (n == (unsigned long)-1 && PyErr_Occurred()) {
        return -1;
    }
    if (d > 0xffffffffUL || n > 0xffffffffUL) {
        return bad_node();
    }
    *datamap = (uint32_t)d;
    *nodemap = (uint32_t)n;
    return 0;
}

static PyObject *
replaced(PyObject *node, Py_ssize_t i, PyObject *value)
{
    /* The node with item i replaced by value (a new reference is taken). */
    Py_ssize_t n = PyTuple_GET_SIZE(node);
    PyObject *out = PyTuple_New(n);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t j = 0; j < n; j++) {
        PyObject *item = j == i ? value : PyTuple_GET_ITEM(node, j);
        PyTuple_SET_ITEM(out, j, Py_NewRef(item));
    }
    maybe_untrack_tuple(out);
    return out;
}

/* Where key sits in a node: 1 found (*at is the value's index), 0 absent,
 * -1 error. *next is the sub-node to descend into when 0 and non-NULL. */
static int
step(PyObject *node, const hinfo *h, int shift, PyObject *key,
     Py_ssize_t *at, PyObject **next)
{
    uint32_t datamap, nodemap;
    *next = NULL;
    if (read_maps(node, &datamap, &nodemap) < 0) {
        return -1;
    }
    int f = fragment(h, shift);
    if (f < 0) {
        return -1;
    }
    uint32_t bit = 1u << f;
    Py_ssize_t size = PyTuple_GET_SIZE(node);
    if (datamap & bit) {
        Py_ssize_t i = 2 + 2 * popcount(datamap & (bit - 1));
        if (i + 1 >= size) {
            return bad_node();
        }
        PyObject *k = PyTuple_GET_ITEM(node, i);
        int eq = PyObject_RichCompareBool(k, key, Py_EQ);
        if (eq < 0) {
            return -1;
        }
        if (eq) {
            *at = i + 1;
            return 1;
        }
        return 0;
    }
    if (!(nodemap & bit)) {
        return 0;
    }
    Py_ssize_t j = 2 + 2 * popcount(datamap) + popcount(nodemap & (bit - 1));
    if (j >= size) {
        return bad_node();
    }
    *at = j;
    *next = PyTuple_GET_ITEM(node, j);
    return 0;
}

/* The index of key's value in a collision node: > 0 found, 0 absent, -1 error. */
static Py_ssize_t
collision_find(PyObject *node, PyObject *key)
{
    if (!PyTuple_Check(node)) {
        return bad_node();
    }
    for (Py_ssize_t i = 1; i + 1 < PyTuple_GET_SIZE(node); i += 2) {
        int eq = PyObject_RichCompareBool(PyTuple_GET_ITEM(node, i), key, Py_EQ);
        if (eq < 0) {
            return -1;
        }
        if (eq) {
            return i + 1;
        }
    }
    return 0;
}

/* A borrowed reference to key's value, NULL with no error when absent. */
static PyObject *
find(PyObject *node, const hinfo *h, PyObject *key)
{
    int shift = 0;
    for (;;) {
        Py_ssize_t at;
        PyObject *next;
        int r = step(node, h, shift, key, &at, &next);
        if (r < 0) {
            return NULL;
        }
        if (r) {
            return PyTuple_GET_ITEM(node, at);
        }
        if (next == NULL) {
            return NULL;
        }
        node = next;
        shift += BITS;
        if (shift > MAX_SHIFT) {
            Py_ssize_t i = collision_find(node, key);
            return i > 0 ? PyTuple_GET_ITEM(node, i) : NULL;
        }
    }
}

static PyObject *
hamt_lookup(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "lookup(node, h, key, default)");
        return NULL;
    }
    hinfo h;
    if (hinfo_set(&h, args[1]) < 0) {
        return NULL;
    }
    /* The root is args[0], alive for the call; every node below is held by it. */
    PyObject *value = find(args[0], &h, args[2]);
    if (value == NULL) {
        return PyErr_Occurred() ? NULL : Py_NewRef(args[3]);
    }
    return Py_NewRef(value);
}

/* The path down to key as a list [node0, i0, node1, i1, ...], Py_None when absent. */
static PyObject *
locate_path(PyObject *node, const hinfo *h, PyObject *key)
{
    PyObject *place = PyList_New(0);
    if (place == NULL) {
        return NULL;
    }
    int shift = 0;
    for (;;) {
        Py_ssize_t at;
        PyObject *next;
        int r = step(node, h, shift, key, &at, &next);
        if (r < 0) {
            goto error;
        }
        if (r == 0 && next == NULL) {
            Py_DECREF(place);
            Py_RETURN_NONE;
        }
        PyObject *index = PyLong_FromSsize_t(at);
        if (index == NULL) {
            goto error;
        }
        if (PyList_Append(place, node) < 0 || PyList_Append(place, index) < 0) {
            Py_DECREF(index);
            goto error;
        }
        Py_DECREF(index);
        if (r) {
            return place;
        }
        node = next;
        shift += BITS;
        if (shift > MAX_SHIFT) {
            Py_ssize_t i = collision_find(node, key);
            if (i < 0) {
                goto error;
            }
            if (i == 0) {
                Py_DECREF(place);
                Py_RETURN_NONE;
            }
            index = PyLong_FromSsize_t(i);
            if (index == NULL) {
                goto error;
            }
            if (PyList_Append(place, node) < 0 || PyList_Append(place, index) < 0) {
                Py_DECREF(index);
                goto error;
            }
            Py_DECREF(index);
            return place;
        }
    }
error:
    Py_DECREF(place);
    return NULL;
}

static PyObject *
hamt_locate(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "locate(node, h, key)");
        return NULL;
    }
    hinfo h;
    if (hinfo_set(&h, args[1]) < 0) {
        return NULL;
    }
    return locate_path(args[0], &h, args[2]);
}

static PyObject *
replace_path(PyObject *place, PyObject *value)
{
    if (!PyList_Check(place) || PyList_GET_SIZE(place) % 2) {
        PyErr_SetString(PyExc_TypeError, "replace_at() takes a place locate() gave");
        return NULL;
    }
    Py_INCREF(value);
    for (Py_ssize_t j = PyList_GET_SIZE(place) - 2; j >= 0; j -= 2) {
        if (j + 1 >= PyList_GET_SIZE(place)) {
            PyErr_SetString(PyExc_RuntimeError, "the place changed during replace_at()");
            Py_DECREF(value);
            return NULL;
        }
        PyObject *node = PyList_GET_ITEM(place, j);
        if (!PyTuple_Check(node)) {
            Py_DECREF(value);
            bad_node();
            return NULL;
        }
        Py_ssize_t i = PyLong_AsSsize_t(PyList_GET_ITEM(place, j + 1));
        if (i == -1 && PyErr_Occurred()) {
            Py_DECREF(value);
            return NULL;
        }
        Py_ssize_t n = PyTuple_GET_SIZE(node);
        if (i < 0) {
            i += n;
        }
        if (i < 0 || i >= n) {
            Py_DECREF(value);
            PyErr_SetString(PyExc_IndexError, "list assignment index out of range");
            return NULL;
        }
        PyObject *out = replaced(node, i, value);
        Py_DECREF(value);
        if (out == NULL) {
            return NULL;
        }
        value = out;
    }
    return value;
}

static PyObject *
hamt_replace_at(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "replace_at(place, value)");
        return NULL;
    }
    return replace_path(args[0], args[1]);
}

/* -- assoc -------------------------------------------------------------------- */

static PyObject *
pair(int shift, const hinfo *h1, PyObject *k1, PyObject *v1,
     const hinfo *h2, PyObject *k2, PyObject *v2)
{
    if (shift > MAX_SHIFT) {
        PyObject *hobj = hinfo_object(h1);
        if (hobj == NULL) {
            return NULL;
        }
        PyObject *out = PyTuple_Pack(5, hobj, k1, v1, k2, v2);
        Py_DECREF(hobj);
        if (out != NULL) {
            maybe_untrack_tuple(out);
        }
        return out;
    }
    int f1 = fragment(h1, shift);
    int f2 = fragment(h2, shift);
    if (f1 < 0 || f2 < 0) {
        return NULL;
    }
    PyObject *out;
    if (f1 == f2) {
        PyObject *sub = pair(shift + BITS, h1, k1, v1, h2, k2, v2);
        if (sub == NULL) {
            return NULL;
        }
        PyObject *nodemap = PyLong_FromUnsignedLong(1UL << f1);
        if (nodemap == NULL) {
            Py_DECREF(sub);
            return NULL;
        }
        PyObject *zero = PyLong_FromLong(0);
        out = PyTuple_Pack(3, zero, nodemap, sub);
        Py_DECREF(zero);
        Py_DECREF(nodemap);
        Py_DECREF(sub);
    }
    else {
        PyObject *datamap = PyLong_FromUnsignedLong((1UL << f1) | (1UL << f2));
        if (datamap == NULL) {
            return NULL;
        }
        PyObject *zero = PyLong_FromLong(0);
        if (f1 < f2) {
            out = PyTuple_Pack(6, datamap, zero, k1, v1, k2, v2);
        }
        else {
            out = PyTuple_Pack(6, datamap, zero, k2, v2, k1, v1);
        }
        Py_DECREF(zero);
        Py_DECREF(datamap);
    }
    if (out != NULL) {
        maybe_untrack_tuple(out);
    }
    return out;
}

static PyObject *
assoc_node(PyObject *node, int shift, const hinfo *h, PyObject *key,
           PyObject *value, int *added)
{
    if (shift > MAX_SHIFT) {
        Py_ssize_t i = collision_find(node, key);
        if (i < 0) {
            return NULL;
        }
        if (i > 0) {
            *added = 0;
            if (PyTuple_GET_ITEM(node, i) == value) {
                return Py_NewRef(node);
            }
            return replaced(node, i, value);
        }
        Py_ssize_t n = PyTuple_GET_SIZE(node);
        PyObject *out = PyTuple_New(n + 2);
        if (out == NULL) {
            return NULL;
        }
        for (Py_ssize_t j = 0; j < n; j++) {
            PyTuple_SET_ITEM(out, j, Py_NewRef(PyTuple_GET_ITEM(node, j)));
        }
        PyTuple_SET_ITEM(out, n, Py_NewRef(key));
        PyTuple_SET_ITEM(out, n + 1, Py_NewRef(value));
        maybe_untrack_tuple(out);
        *added = 1;
        return out;
    }
    uint32_t datamap, nodemap;
    if (read_maps(node, &datamap, &nodemap) < 0) {
        return NULL;
    }
    int f = fragment(h, shift);
    if (f < 0) {
        return NULL;
    }
    uint32_t bit = 1u << f;
    Py_ssize_t size = PyTuple_GET_SIZE(node);
    if (datamap & bit) {
        Py_ssize_t i = 2 + 2 * popcount(datamap & (bit - 1));
        if (i + 1 >= size) {
            bad_node();
            return NULL;
        }
        PyObject *k = PyTuple_GET_ITEM(node, i);
        int eq = PyObject_RichCompareBool(k, key, Py_EQ);
        if (eq < 0) {
            return NULL;
        }
        if (eq) {
            *added = 0;
            if (PyTuple_GET_ITEM(node, i + 1) == value) {
                return Py_NewRef(node);
            }
            return replaced(node, i + 1, value);
        }
        /* Two keys share this fragment: push both into a new sub-node. */
        Py_hash_t hk = PyObject_Hash(k);
        if (hk == -1) {
            return NULL;
        }
        hinfo h1 = {NULL, (long long)hk, 0};
        PyObject *sub = pair(shift + BITS, &h1, k, PyTuple_GET_ITEM(node, i + 1),
                             h, key, value);
        if (sub == NULL) {
            return NULL;
        }
        Py_ssize_t j = 2 + 2 * popcount(datamap) + popcount(nodemap & (bit - 1));
        if (j > size) {
            Py_DECREF(sub);
            bad_node();
            return NULL;
        }
        PyObject *out = PyTuple_New(size - 1);
        PyObject *dm = PyLong_FromUnsignedLong(datamap ^ bit);
        PyObject *nm = PyLong_FromUnsignedLong(nodemap | bit);
        if (out == NULL || dm == NULL || nm == NULL) {
            Py_XDECREF(out);
            Py_XDECREF(dm);
            Py_XDECREF(nm);
            Py_DECREF(sub);
            return NULL;
        }
        PyTuple_SET_ITEM(out, 0, dm);
        PyTuple_SET_ITEM(out, 1, nm);
        Py_ssize_t o = 2;
        for (Py_ssize_t s = 2; s < size; s++) {
            if (s == j) {
                PyTuple_SET_ITEM(out, o++, sub);
                sub = NULL;
            }
            if (s == i || s == i + 1) {
                continue;
            }
            PyTuple_SET_ITEM(out, o++, Py_NewRef(PyTuple_GET_ITEM(node, s)));
        }
        if (sub != NULL) {
            PyTuple_SET_ITEM(out, o++, sub);
        }
        maybe_untrack_tuple(out);
        *added = 1;
        return out;
    }
    if (nodemap & bit) {
        Py_ssize_t j = 2 + 2 * popcount(datamap) + popcount(nodemap & (bit - 1));
        if (j >= size) {
            bad_node();
            return NULL;
        }
        PyObject *sub = PyTuple_GET_ITEM(node, j);
        PyObject *new_sub = assoc_node(sub, shift + BITS, h, key, value, added);
        if (new_sub == NULL) {
            return NULL;
        }
        if (new_sub == sub) {
            Py_DECREF(new_sub);
            *added = 0;
            return Py_NewRef(node);
        }
        PyObject *out = replaced(node, j, new_sub);
        Py_DECREF(new_sub);
        return out;
    }
    Py_ssize_t i = 2 + 2 * popcount(datamap & (bit - 1));
    if (i > size) {
        bad_node();
        return NULL;
    }
    PyObject *out = PyTuple_New(size + 2);
    PyObject *dm = PyLong_FromUnsignedLong(datamap | bit);
    if (out == NULL || dm == NULL) {
        Py_XDECREF(out);
        Py_XDECREF(dm);
        return NULL;
    }
    PyTuple_SET_ITEM(out, 0, dm);
    PyTuple_SET_ITEM(out, 1, Py_NewRef(PyTuple_GET_ITEM(node, 1)));
    Py_ssize_t o = 2;
    for (Py_ssize_t s = 2; s < size; s++) {
        if (s == i) {
            PyTuple_SET_ITEM(out, o++, Py_NewRef(key));
            PyTuple_SET_ITEM(out, o++, Py_NewRef(value));
        }
        PyTuple_SET_ITEM(out, o++, Py_NewRef(PyTuple_GET_ITEM(node, s)));
    }
    if (i == size) {
        PyTuple_SET_ITEM(out, o++, Py_NewRef(key));
        PyTuple_SET_ITEM(out, o++, Py_NewRef(value));
    }
    maybe_untrack_tuple(out);
    *added = 1;
    return out;
}

static PyObject *
hamt_assoc(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "assoc(node, shift, h, key, value)");
        return NULL;
    }
    long shift = PyLong_AsLong(args[1]);
    if (shift == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (shift < 0) {
        PyErr_SetString(PyExc_ValueError, "negative shift count");
        return NULL;
    }
    hinfo h;
    if (hinfo_set(&h, args[2]) < 0) {
        return NULL;
    }
    int added = 0;
    PyObject *node = assoc_node(args[0], shift > MAX_SHIFT + 1 ? MAX_SHIFT + 1 : (int)shift,
                                &h, args[3], args[4], &added);
    if (node == NULL) {
        return NULL;
    }
    PyObject *out = PyTuple_New(2);
    if (out == NULL) {
        Py_DECREF(node);
        return NULL;
    }
    PyTuple_SET_ITEM(out, 0, node);
    PyTuple_SET_ITEM(out, 1, Py_NewRef(added ? Py_True : Py_False));
    return out;
}

/* -- build -------------------------------------------------------------------- */

typedef struct {
    hinfo h;
    PyObject *k;   /* borrowed from the caller's tuples */
    PyObject *v;
    int frag;
} triple;

static PyObject *
build_level(triple *items, Py_ssize_t n, int shift, triple *scratch)
{
    if (shift > MAX_SHIFT) {
        PyObject *out = PyTuple_New(1 + 2 * n);
        if (out == NULL) {
            return NULL;
        }
        PyObject *hobj = hinfo_object(&items[0].h);
        if (hobj == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, 0, hobj);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyTuple_SET_ITEM(out, 1 + 2 * i, Py_NewRef(items[i].k));
            PyTuple_SET_ITEM(out, 2 + 2 * i, Py_NewRef(items[i].v));
        }
        maybe_untrack_tuple(out);
        return out;
    }
    Py_ssize_t counts[32] = {0};
    for (Py_ssize_t i = 0; i < n; i++) {
        int f = fragment(&items[i].h, shift);
        if (f < 0) {
            return NULL;
        }
        items[i].frag = f;
        counts[f]++;
    }
    /* A stable counting sort by fragment into scratch. */
    Py_ssize_t starts[33];
    starts[0] = 0;
    uint32_t datamap = 0, nodemap = 0;
    for (int f = 0; f < 32; f++) {
        starts[f + 1] = starts[f] + counts[f];
        if (counts[f] == 1) {
            datamap |= 1u << f;
        }
        else if (counts[f] > 1) {
            nodemap |= 1u << f;
        }
    }
    Py_ssize_t fill[32];
    memcpy(fill, starts, sizeof(fill));
    for (Py_ssize_t i = 0; i < n; i++) {
        scratch[fill[items[i].frag]++] = items[i];
    }
    Py_ssize_t ndata = popcount(datamap), nsubs = popcount(nodemap);
    PyObject *out = PyTuple_New(2 + 2 * ndata + nsubs);
    if (out == NULL) {
        return NULL;
    }
    PyObject *dm = PyLong_FromUnsignedLong(datamap);
    PyObject *nm = PyLong_FromUnsignedLong(nodemap);
    if (dm == NULL || nm == NULL) {
        Py_XDECREF(dm);
        Py_XDECREF(nm);
        Py_DECREF(out);
        return NULL;
    }
    PyTuple_SET_ITEM(out, 0, dm);
    PyTuple_SET_ITEM(out, 1, nm);
    Py_ssize_t d = 2, s = 2 + 2 * ndata;
    for (int f = 0; f < 32; f++) {
        Py_ssize_t c = counts[f];
        if (c == 1) {
            triple *t = &scratch[starts[f]];
            PyTuple_SET_ITEM(out, d++, Py_NewRef(t->k));
            PyTuple_SET_ITEM(out, d++, Py_NewRef(t->v));
        }
        else if (c > 1) {
            /* items' room for this bucket is free now: the next level's scratch. */
            PyObject *sub = build_level(&scratch[starts[f]], c, shift + BITS,
                                        &items[starts[f]]);
            if (sub == NULL) {
                /* Unset items are NULL: the tuple's deallocation skips them. */
                Py_DECREF(out);
                return NULL;
            }
            PyTuple_SET_ITEM(out, s++, sub);
        }
    }
    maybe_untrack_tuple(out);
    return out;
}

static PyObject *
build_triples(triple *items, Py_ssize_t n)
{
    if (n == 0) {
        return Py_BuildValue("(ii)", 0, 0);
    }
    triple *scratch = PyMem_New(triple, n);
    if (scratch == NULL) {
        return PyErr_NoMemory();
    }
    PyObject *out = build_level(items, n, 0, scratch);
    PyMem_Free(scratch);
    return out;
}

static PyObject *
hamt_build(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "build(pairs, shift=0)");
        return NULL;
    }
    if (nargs == 2) {
        long shift = PyLong_AsLong(args[1]);
        if (shift == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (shift != 0) {
            PyErr_SetString(PyExc_ValueError, "the compiled build() starts at shift 0");
            return NULL;
        }
    }
    PyObject *seq = PySequence_Tuple(args[0]);
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    triple *items = PyMem_New(triple, n ? n : 1);
    if (items == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    PyObject *out = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyTuple_GET_ITEM(seq, i);
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 3) {
            PyErr_SetString(PyExc_TypeError, "build() takes (hash, key, value) tuples");
            goto done;
        }
        if (hinfo_set(&items[i].h, PyTuple_GET_ITEM(t, 0)) < 0) {
            goto done;
        }
        items[i].k = PyTuple_GET_ITEM(t, 1);
        items[i].v = PyTuple_GET_ITEM(t, 2);
    }
    out = build_triples(items, n);
done:
    PyMem_Free(items);
    Py_DECREF(seq);
    return out;
}

/* A dict's keys and values copied out (new references, *n of them), without
 * making an object per item: a list of 100,000 item tuples, alive through a
 * freeze, would be promoted to the oldest generation and trigger full
 * collections. Free with release_items(). */
static int
snapshot_items(PyObject *d, PyObject ***ks, PyObject ***vs, Py_ssize_t *n)
{
    Py_ssize_t size = PyDict_GET_SIZE(d), pos = 0, i = 0;
    PyObject *k, *v;
    *ks = PyMem_New(PyObject *, size ? size : 1);
    *vs = PyMem_New(PyObject *, size ? size : 1);
    if (*ks == NULL || *vs == NULL) {
        PyMem_Free(*ks);
        PyMem_Free(*vs);
        PyErr_NoMemory();
        return -1;
    }
    while (i < size && PyDict_Next(d, &pos, &k, &v)) {
        (*ks)[i] = Py_NewRef(k);
        (*vs)[i] = Py_NewRef(v);
        i++;
    }
    *n = i;
    return 0;
}

static void
release_items(PyObject **ks, PyObject **vs, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(ks[i]);
        Py_DECREF(vs[i]);
    }
    PyMem_Free(ks);
    PyMem_Free(vs);
}

/* build_mapping(d): the trie of a dict's items, hashing each key once. */
static PyObject *
build_dict(PyObject *d)
{
    PyObject **ks, **vs;
    Py_ssize_t n;
    if (snapshot_items(d, &ks, &vs, &n) < 0) {
        return NULL;
    }
    triple *items = PyMem_New(triple, n ? n : 1);
    PyObject *out = NULL;
    if (items == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_hash_t hk = PyObject_Hash(ks[i]);
        if (hk == -1) {
            goto done;
        }
        items[i].h.obj = NULL;
        items[i].h.v = (long long)hk;
        items[i].h.big = 0;
        items[i].k = ks[i];
        items[i].v = vs[i];
    }
    out = build_triples(items, n);
done:
    PyMem_Free(items);
    release_items(ks, vs, n);
    return out;
}

static PyObject *
hamt_build_mapping(PyObject *module, PyObject *d)
{
    if (!PyDict_Check(d)) {
        PyErr_SetString(PyExc_TypeError, "build_mapping() takes a dict");
        return NULL;
    }
    return build_dict(d);
}

/* -- FrozenDict --------------------------------------------------------------- */

static int
configured(void)
{
    if (FrozenDictType == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "statetrail.frozen._speedups is not configured");
        return 0;
    }
    return 1;
}

/* A new map of type tp (FrozenDict or a subclass), untracked when it may be. */
static PyObject *
new_map(PyTypeObject *tp, PyObject *keys, PyObject *vals, PyObject *root,
        PyObject *length)
{
    PyObject *self = tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    SLOT(self, off_keys) = Py_NewRef(keys);
    SLOT(self, off_vals) = Py_NewRef(vals);
    SLOT(self, off_root) = Py_NewRef(root);
    SLOT(self, off_len) = Py_NewRef(length);
    SLOT(self, off_hashed) = Py_NewRef(Py_None);
    if ((PyObject *)tp != FrozenDictType) {
        return self;  /* a subclass may hold anything in its __dict__ */
    }
    if (PyTuple_CheckExact(keys) && PyObject_GC_IsTracked(keys)) {
        maybe_untrack_tuple(keys);  /* the keys of a map made in Python */
    }
    if (untracked(keys) && untracked(vals) && untracked(root) &&
        PyObject_GC_IsTracked(self)) {
        PyObject_GC_UnTrack(self);
    }
    return self;
}

static PyObject *
map_slot(PyObject *self, Py_ssize_t off, const char *name)
{
    PyObject *v = SLOT(self, off);
    if (v == NULL) {
        PyErr_Format(PyExc_AttributeError, "'%s' object has no attribute '%s'",
                     Py_TYPE(self)->tp_name, name);
    }
    return v;
}

static PyObject *
key_error(PyObject *key)
{
    PyObject *exc = PyObject_CallOneArg(PyExc_KeyError, key);
    if (exc != NULL) {
        PyErr_SetObject(PyExc_KeyError, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

/* The index of key in a small map's keys tuple as keys.index(key) finds it:
 * >= 0, -1 absent, -2 error. */
static Py_ssize_t
small_index(PyObject *keys, PyObject *key)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(keys); i++) {
        int eq = PyObject_RichCompareBool(PyTuple_GET_ITEM(keys, i), key, Py_EQ);
        if (eq < 0) {
            return -2;
        }
        if (eq) {
            return i;
        }
    }
    return -1;
}

static PyObject *
opened(PyObject *value)
{
    /* A value boxed in Opaque hands out a copy; the reference is stolen. */
    if ((PyObject *)Py_TYPE(value) == OpaqueType) {
        PyObject *copy = PyObject_CallMethod(value, "copy", NULL);
        Py_DECREF(value);
        return copy;
    }
    return value;
}

/* Where key is in the map: 1 found, with *value (and *place when place is not
 * NULL: the list locate() gives for a large map, the index for a small one) as
 * new references; 0 absent (an unhashable key is a TypeError, as in a dict);
 * -1 an error. Both forms read as FrozenDict's Python methods do. */
static int
resolve(PyObject *self, PyObject *key, PyObject **value, PyObject **place)
{
    PyObject *keys = map_slot(self, off_keys, "_keys");
    if (keys == NULL) {
        return -1;
    }
    int r = -1;
    Py_INCREF(keys);
    if (keys == Py_None) {
        PyObject *root = map_slot(self, off_root, "_root");
        Py_hash_t hk = root == NULL ? -1 : PyObject_Hash(key);
        if (hk == -1) {
            goto done;
        }
        Py_INCREF(root);
        hinfo h = {NULL, (long long)hk, 0};
        if (place == NULL) {
            *value = find(root, &h, key);
            Py_XINCREF(*value);
            r = *value != NULL ? 1 : PyErr_Occurred() ? -1 : 0;
        }
        else {
            PyObject *path = locate_path(root, &h, key);
            if (path == Py_None) {
                Py_DECREF(path);
                r = 0;
            }
            else if (path != NULL) {
                Py_ssize_t n = PyList_GET_SIZE(path);
                PyObject *node = PyList_GET_ITEM(path, n - 2);
                Py_ssize_t at = PyLong_AsSsize_t(PyList_GET_ITEM(path, n - 1));
                *value = Py_NewRef(PyTuple_GET_ITEM(node, at));
                *place = path;
                r = 1;
            }
        }
        Py_DECREF(root);
        goto done;
    }
    PyObject *vals = map_slot(self, off_vals, "_vals");
    if (vals == NULL) {
        goto done;
    }
    if (!PyTuple_Check(keys) || !PyTuple_Check(vals)) {
        bad_node();
        goto done;
    }
    Py_INCREF(vals);
    Py_ssize_t i = small_index(keys, key);
    if (i >= 0 && i >= PyTuple_GET_SIZE(vals)) {
        PyErr_SetString(PyExc_IndexError, "tuple index out of range");
    }
    else if (i >= 0) {
        *value = Py_NewRef(PyTuple_GET_ITEM(vals, i));
        r = 1;
        if (place != NULL && (*place = PyLong_FromSsize_t(i)) == NULL) {
            Py_CLEAR(*value);
            r = -1;
        }
    }
    else if (i == -1 && PyObject_Hash(key) != -1) {
        r = 0;
    }
    Py_DECREF(vals);
done:
    Py_DECREF(keys);
    return r;
}

static PyObject *
dict_getitem(PyObject *self, PyObject *key)
{
    PyObject *value = NULL;
    int r = resolve(self, key, &value, NULL);
    if (r == 0) {
        return key_error(key);
    }
    return r < 0 ? NULL : opened(value);
}

/* The mapping slot itself, so that d[key] calls dict_getitem without looking
 * __getitem__ up (the slot wrapper's lookup and call cost about a third of a
 * read). Only FrozenDict's own slot is set: a subclass defines its slot from
 * __getitem__ (the method descriptor below), and assigning __getitem__ on the
 * class resets the slot, as for any class. */
static PyObject *
dict_subscript(PyObject *self, PyObject *key)
{
    return dict_getitem(self, key);
}

static PyObject *
dict_find(PyObject *self, PyObject *key)
{
    PyObject *value = NULL, *place = NULL;
    int r = resolve(self, key, &value, &place);
    if (r == 0) {
        return PyTuple_Pack(2, MISSING, Py_None);
    }
    if (r < 0) {
        return NULL;
    }
    PyObject *out = PyTuple_Pack(2, value, place);
    Py_DECREF(value);
    Py_DECREF(place);
    return out;
}

static PyObject *
put_at(PyObject *self, PyObject *place, PyObject *value, PyObject *keys,
       PyObject *vals, PyObject *length)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (keys == Py_None) {
        if (!PyList_Check(place) || PyList_GET_SIZE(place) < 2) {
            PyErr_SetString(PyExc_TypeError, "_put() takes a place _find() gave");
            return NULL;
        }
        Py_ssize_t n = PyList_GET_SIZE(place);
        PyObject *node = PyList_GET_ITEM(place, n - 2);
        Py_ssize_t at = PyLong_AsSsize_t(PyList_GET_ITEM(place, n - 1));
        if (at == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (PyTuple_Check(node) && at >= 0 && at < PyTuple_GET_SIZE(node) &&
            PyTuple_GET_ITEM(node, at) == value) {
            return Py_NewRef(self);
        }
        PyObject *root = replace_path(place, value);
        if (root == NULL) {
            return NULL;
        }
        PyObject *out = new_map(tp, Py_None, vals, root, length);
        Py_DECREF(root);
        return out;
    }
    if (!PyTuple_Check(vals)) {
        bad_node();
        return NULL;
    }
    Py_ssize_t i = PyLong_AsSsize_t(place);
    if (i == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(vals);
    if (i < 0) {
        i += n;
    }
    if (i < 0 || i >= n) {
        PyErr_SetString(PyExc_IndexError, "tuple index out of range");
        return NULL;
    }
    if (PyTuple_GET_ITEM(vals, i) == value) {
        return Py_NewRef(self);
    }
    PyObject *new_vals = replaced(vals, i, value);
    if (new_vals == NULL) {
        return NULL;
    }
    PyObject *out = new_map(tp, keys, new_vals, EMPTY, length);
    Py_DECREF(new_vals);
    return out;
}

static PyObject *
dict_put(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "_put(place, value)");
        return NULL;
    }
    PyObject *keys = map_slot(self, off_keys, "_keys");
    PyObject *vals = keys == NULL ? NULL : map_slot(self, off_vals, "_vals");
    PyObject *length = vals == NULL ? NULL : map_slot(self, off_len, "_len");
    if (length == NULL) {
        return NULL;
    }
    /* Held for the call: an allocation may run a finalizer, which could
     * assign to the slots. */
    Py_INCREF(keys);
    Py_INCREF(vals);
    Py_INCREF(length);
    PyObject *out = put_at(self, args[0], args[1], keys, vals, length);
    Py_DECREF(keys);
    Py_DECREF(vals);
    Py_DECREF(length);
    return out;
}

static PyMethodDef dict_getitem_def = {
    "__getitem__", (PyCFunction)dict_getitem, METH_O, "The value of ``key``."};
static PyMethodDef dict_find_def = {
    "_find", (PyCFunction)dict_find, METH_O,
    "The stored value of ``key`` and its place, for ``_put`` (compiled)."};
static PyMethodDef dict_put_def = {
    "_put", (PyCFunction)(void (*)(void))dict_put, METH_FASTCALL,
    "This map with ``value`` at ``place`` (compiled)."};

/* -- freezing plain dicts and lists ---------------------------------------------- */

static PyObject *freeze_dict_at(PyObject *obj, long depth);
static PyObject *freeze_list_at(PyObject *obj, long depth);

static int
is_leaf_type(PyObject *v)
{
    /* Kept as it is: an immutable scalar or a frozen container. */
    PyTypeObject *t = Py_TYPE(v);
    if (t == &PyUnicode_Type || t == &PyLong_Type || v == Py_None ||
        t == &PyFloat_Type || t == &PyBool_Type) {
        return 1;
    }
    int r = PySet_Contains(IMMUTABLE, (PyObject *)t);
    if (r != 0) {
        return r;
    }
    return PySet_Contains(FROZEN, (PyObject *)t);
}

/* ``value`` frozen, ``depth`` levels down: a new reference. */
static PyObject *
freeze_at(PyObject *v, long depth)
{
    int leaf = is_leaf_type(v);
    if (leaf < 0) {
        return NULL;
    }
    if (leaf) {
        return Py_NewRef(v);
    }
    if (depth <= MAX_NESTING) {
        if (PyDict_CheckExact(v)) {
            return freeze_dict_at(v, depth);
        }
        if (PyList_CheckExact(v)) {
            return freeze_list_at(v, depth);
        }
    }
    /* Everything else (and the error past MAX_NESTING) as the Python code does. */
    PyObject *d = PyLong_FromLong(depth);
    if (d == NULL) {
        return NULL;
    }
    PyObject *out = PyObject_CallFunctionObjArgs(py_freeze, v, d, NULL);
    Py_DECREF(d);
    return out;
}

static int
check_key(PyObject *k)
{
    if (PyUnicode_CheckExact(k)) {
        return 0;
    }
    PyObject *r = PyObject_CallOneArg(py_check_key, k);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* The small form of a dict of n <= SMALL items: keys[] and vals[] hold new
 * references, which this steals. */
static PyObject *
small_map(PyObject **ks, PyObject **vs, Py_ssize_t n, long inner)
{
    PyObject *out = NULL, *keys = NULL, *vals = NULL;
    Py_ssize_t i;
    /* The keys are checked before any value is frozen, as the Python code does. */
    for (i = 0; i < n; i++) {
        if (check_key(ks[i]) < 0) {
            goto done;
        }
    }
    for (i = 0; i < n; i++) {
        PyObject *v = freeze_at(vs[i], inner);
        if (v == NULL) {
            goto done;
        }
        Py_SETREF(vs[i], v);
    }
    if (last_keys != NULL && PyTuple_GET_SIZE(last_keys) == n) {
        for (i = 0; i < n && PyTuple_GET_ITEM(last_keys, i) == ks[i]; i++) {
        }
        if (i == n) {
            keys = Py_NewRef(last_keys);
        }
    }
    if (keys == NULL) {
        keys = PyTuple_New(n);
        if (keys == NULL) {
            goto done;
        }
        for (i = 0; i < n; i++) {
            PyTuple_SET_ITEM(keys, i, Py_NewRef(ks[i]));
        }
        maybe_untrack_tuple(keys);
        Py_XSETREF(last_keys, Py_NewRef(keys));
    }
    vals = PyTuple_New(n);
    if (vals == NULL) {
        goto done;
    }
    for (i = 0; i < n; i++) {
        PyTuple_SET_ITEM(vals, i, vs[i]);
        vs[i] = NULL;
    }
    maybe_untrack_tuple(vals);
    PyObject *length = PyLong_FromSsize_t(n);
    if (length != NULL) {
        out = new_map((PyTypeObject *)FrozenDictType, keys, vals, EMPTY, length);
        Py_DECREF(length);
    }
done:
    for (i = 0; i < n; i++) {
        Py_XDECREF(ks[i]);
        Py_XDECREF(vs[i]);
    }
    Py_XDECREF(keys);
    Py_XDECREF(vals);
    return out;
}

static PyObject *
freeze_dict_at(PyObject *obj, long depth)
{
    if (Py_EnterRecursiveCall(" while freezing a dict")) {
        return NULL;
    }
    long inner = depth + 1;
    PyObject *out = NULL;
    if (PyDict_GET_SIZE(obj) <= SMALL) {
        /* Its items copied out first (no Python code runs while reading them):
         * freezing a value may run user code, which may change the dict. */
        PyObject *ks[64], *vs[64];
        Py_ssize_t pos = 0, n = 0;
        PyObject *k, *v;
        while (n < SMALL && PyDict_Next(obj, &pos, &k, &v)) {
            ks[n] = Py_NewRef(k);
            vs[n] = Py_NewRef(v);
            n++;
        }
        out = small_map(ks, vs, n, inner);
        goto leave;
    }
    PyObject **ks, **vs;  /* a snapshot, as above */
    Py_ssize_t n;
    if (snapshot_items(obj, &ks, &vs, &n) < 0) {
        goto leave;
    }
    PyObject *plain = PyDict_New();
    if (plain == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v;
        if (check_key(ks[i]) < 0 || (v = freeze_at(vs[i], inner)) == NULL) {
            Py_DECREF(plain);
            goto done;
        }
        int r = PyDict_SetItem(plain, ks[i], v);
        Py_DECREF(v);
        if (r < 0) {
            Py_DECREF(plain);
            goto done;
        }
    }
    out = PyObject_CallOneArg(py_dict_of, plain);
    Py_DECREF(plain);
done:
    release_items(ks, vs, n);
leave:
    Py_LeaveRecursiveCall();
    return out;
}

static PyObject *
freeze_list_at(PyObject *obj, long depth)
{
    if (Py_EnterRecursiveCall(" while freezing a list")) {
        return NULL;
    }
    long inner = depth + 1;
    PyObject *out = NULL;
    /* A snapshot (user code may run below and change the list): the items
     * tuple itself, its members then replaced by their frozen forms. */
    PyObject *items = PyList_AsTuple(obj);
    if (items == NULL) {
        goto leave;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(items);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(items, i);
        PyObject *v = freeze_at(item, inner);
        if (v == NULL) {
            Py_DECREF(items);
            goto leave;
        }
        /* items is not shared yet: its slot can be replaced in place. */
        PyTuple_SET_ITEM(items, i, v);
        Py_DECREF(item);
    }
    maybe_untrack_tuple(items);
    if (n > WIDTH || n == 0) {
        out = PyObject_CallOneArg(py_list_of, items);
        Py_DECREF(items);
        goto leave;
    }
    /* Vec(n, BITS, (), items): a vector whose items all sit in its tail. */
    PyTypeObject *vt = (PyTypeObject *)VecType;
    PyObject *vec = vt->tp_alloc(vt, 4);
    PyObject *size = PyLong_FromSsize_t(n);
    PyObject *bits = PyLong_FromLong(BITS);
    PyObject *empty = PyTuple_New(0);
    if (vec == NULL || size == NULL || bits == NULL || empty == NULL) {
        Py_XDECREF(vec);
        Py_XDECREF(size);
        Py_XDECREF(bits);
        Py_XDECREF(empty);
        Py_DECREF(items);
        goto leave;
    }
    PyTuple_SET_ITEM(vec, 0, size);
    PyTuple_SET_ITEM(vec, 1, bits);
    PyTuple_SET_ITEM(vec, 2, empty);
    PyTuple_SET_ITEM(vec, 3, items);
    maybe_untrack_tuple(vec);
    PyTypeObject *lt = (PyTypeObject *)FrozenListType;
    out = lt->tp_alloc(lt, 0);
    if (out == NULL) {
        Py_DECREF(vec);
        goto leave;
    }
    SLOT(out, off_vec) = vec;
    SLOT(out, off_lhashed) = Py_NewRef(Py_None);
    if (untracked(vec) && PyObject_GC_IsTracked(out)) {
        PyObject_GC_UnTrack(out);
    }
leave:
    Py_LeaveRecursiveCall();
    return out;
}

static int
read_depth(PyObject *const *args, Py_ssize_t nargs, const char *name, long *depth)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "%s(obj, depth)", name);
        return -1;
    }
    if (!configured()) {
        return -1;
    }
    *depth = PyLong_AsLong(args[1]);
    return *depth == -1 && PyErr_Occurred() ? -1 : 0;
}

static PyObject *
freeze_dict(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    long depth;
    if (read_depth(args, nargs, "freeze_dict", &depth) < 0) {
        return NULL;
    }
    if (!PyDict_CheckExact(args[0])) {
        /* Another Mapping: the Python handler, which reads it through items(). */
        return PyObject_Vectorcall(py_freeze_dict, args, 2, NULL);
    }
    return freeze_dict_at(args[0], depth);
}

static PyObject *
freeze_list(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    long depth;
    if (read_depth(args, nargs, "freeze_list", &depth) < 0) {
        return NULL;
    }
    if (!PyList_CheckExact(args[0])) {
        return PyObject_Vectorcall(py_freeze_list, args, 2, NULL);
    }
    return freeze_list_at(args[0], depth);
}

/* -- dict keys that are not strings -------------------------------------------------- */

static int
is_json_leaf(PyObject *v)
{
    PyTypeObject *t = Py_TYPE(v);
    return t == &PyUnicode_Type || t == &PyLong_Type || v == Py_None ||
           t == &PyFloat_Type || t == &PyBool_Type || t == &PyBytes_Type;
}

static int
push_unless_leaf(PyObject *stack, PyObject *v)
{
    return is_json_leaf(v) ? 0 : PyList_Append(stack, v);
}

/* The keys of a trie node and those below it: *found gets the first that is
 * not a str; the values go on the stack. */
static int
trie_keys(PyObject *node, int shift, PyObject *stack, PyObject **found)
{
    if (!PyTuple_Check(node)) {
        return bad_node();
    }
    Py_ssize_t size = PyTuple_GET_SIZE(node);
    if (shift > MAX_SHIFT) {
        for (Py_ssize_t i = 1; i + 1 < size; i += 2) {
            if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(node, i))) {
                *found = PyTuple_GET_ITEM(node, i);
                return 0;
            }
            if (push_unless_leaf(stack, PyTuple_GET_ITEM(node, i + 1)) < 0) {
                return -1;
            }
        }
        return 0;
    }
    uint32_t datamap, nodemap;
    if (read_maps(node, &datamap, &nodemap) < 0) {
        return -1;
    }
    Py_ssize_t end = 2 + 2 * popcount(datamap);
    if (end > size) {
        return bad_node();
    }
    for (Py_ssize_t i = 2; i < end; i += 2) {
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(node, i))) {
            *found = PyTuple_GET_ITEM(node, i);
            return 0;
        }
        if (push_unless_leaf(stack, PyTuple_GET_ITEM(node, i + 1)) < 0) {
            return -1;
        }
    }
    for (Py_ssize_t j = end; j < size && *found == NULL; j++) {
        if (trie_keys(PyTuple_GET_ITEM(node, j), shift + BITS, stack, found) < 0) {
            return -1;
        }
    }
    return 0;
}

/* first_non_str_key(value, other): the first dict key inside value that is not
 * a str (MISSING when there is none), walking frozen dicts, small frozen lists
 * and tuples here and calling other(obj) on anything else. */
static PyObject *
first_non_str_key(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "first_non_str_key(value, other)");
        return NULL;
    }
    if (!configured()) {
        return NULL;
    }
    PyObject *other = args[1];
    PyObject *stack = PyList_New(0);
    if (stack == NULL || push_unless_leaf(stack, args[0]) < 0) {
        Py_XDECREF(stack);
        return NULL;
    }
    PyObject *found = NULL;
    while (PyList_GET_SIZE(stack) > 0 && found == NULL) {
        Py_ssize_t last = PyList_GET_SIZE(stack) - 1;
        PyObject *node = Py_NewRef(PyList_GET_ITEM(stack, last));
        if (PyList_SetSlice(stack, last, last + 1, NULL) < 0) {
            Py_DECREF(node);
            goto error;
        }
        PyObject *t = (PyObject *)Py_TYPE(node);
        int r = 0;
        if (t == FrozenDictType) {
            PyObject *keys = SLOT(node, off_keys), *vals = SLOT(node, off_vals);
            PyObject *root = SLOT(node, off_root);
            if (keys == NULL || vals == NULL || root == NULL) {
                r = bad_node();
            }
            else if (keys == Py_None) {
                r = trie_keys(root, 0, stack, &found);
            }
            else if (!PyTuple_Check(keys) || !PyTuple_Check(vals)) {
                r = bad_node();
            }
            else {
                for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(keys); i++) {
                    if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(keys, i))) {
                        found = PyTuple_GET_ITEM(keys, i);
                        break;
                    }
                }
                for (Py_ssize_t i = 0; r == 0 && i < PyTuple_GET_SIZE(vals); i++) {
                    r = push_unless_leaf(stack, PyTuple_GET_ITEM(vals, i));
                }
            }
            if (found != NULL) {
                Py_INCREF(found);  /* node may go with the stack */
            }
        }
        else if (t == FrozenListType && SLOT(node, off_vec) != NULL &&
                 PyTuple_Check(SLOT(node, off_vec)) &&
                 PyTuple_GET_SIZE(SLOT(node, off_vec)) == 4 &&
                 PyTuple_Check(PyTuple_GET_ITEM(SLOT(node, off_vec), 2)) &&
                 PyTuple_GET_SIZE(PyTuple_GET_ITEM(SLOT(node, off_vec), 2)) == 0 &&
                 PyTuple_Check(PyTuple_GET_ITEM(SLOT(node, off_vec), 3))) {
            /* A vector whose items all sit in its tail. */
            PyObject *tail = PyTuple_GET_ITEM(SLOT(node, off_vec), 3);
            for (Py_ssize_t i = 0; r == 0 && i < PyTuple_GET_SIZE(tail); i++) {
                r = push_unless_leaf(stack, PyTuple_GET_ITEM(tail, i));
            }
        }
        else if (PyTuple_CheckExact(node)) {
            for (Py_ssize_t i = 0; r == 0 && i < PyTuple_GET_SIZE(node); i++) {
                r = push_unless_leaf(stack, PyTuple_GET_ITEM(node, i));
            }
        }
        else {
            PyObject *res = PyObject_CallOneArg(other, node);
            if (res == NULL) {
                r = -1;
            }
            Py_XDECREF(res);
        }
        Py_DECREF(node);
        if (r < 0) {
            Py_XDECREF(found);
            goto error;
        }
    }
    Py_DECREF(stack);
    return found != NULL ? found : Py_NewRef(MISSING);
error:
    Py_DECREF(stack);
    return NULL;
}

/* -- configure ------------------------------------------------------------------ */

static Py_ssize_t
slot_offset(PyObject *cls, const char *name)
{
    PyObject *descr = PyDict_GetItemString(((PyTypeObject *)cls)->tp_dict, name);
    if (descr == NULL || !PyObject_TypeCheck(descr, &PyMemberDescr_Type)) {
        PyErr_Format(PyExc_TypeError, "%R has no slot %s", cls, name);
        return -1;
    }
    PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
    if (m->type != T_OBJECT_EX) {
        PyErr_Format(PyExc_TypeError, "%R.%s is not an object slot", cls, name);
        return -1;
    }
    return m->offset;
}

static int
install(PyObject *cls, PyMethodDef *def)
{
    PyObject *descr = PyDescr_NewMethod((PyTypeObject *)cls, def);
    if (descr == NULL) {
        return -1;
    }
    int r = PyObject_SetAttrString(cls, def->ml_name, descr);
    Py_DECREF(descr);
    return r;
}

static PyObject *
configure(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {
        "frozen_dict", "frozen_list", "vec", "opaque", "missing", "empty",
        "immutable", "frozen", "freeze", "freeze_dict", "freeze_list", "check_key",
        "small", "max_nesting", NULL};
    PyObject *fd, *fl, *vec, *opaque, *missing, *empty, *immutable, *frozen;
    PyObject *fz, *fzd, *fzl, *ck;
    Py_ssize_t small;
    long max_nesting;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "O!O!O!O!OO!O!O!OOOOnl:configure", names, &PyType_Type, &fd,
            &PyType_Type, &fl, &PyType_Type, &vec, &PyType_Type, &opaque, &missing,
            &PyTuple_Type, &empty, &PySet_Type, &immutable, &PySet_Type, &frozen, &fz,
            &fzd, &fzl, &ck, &small, &max_nesting)) {
        return NULL;
    }
    if (((PyTypeObject *)fd)->tp_dictoffset != 0 ||
        ((PyTypeObject *)fl)->tp_dictoffset != 0 ||
        ((PyTypeObject *)vec)->tp_dictoffset != 0 ||
        !PyType_IsSubtype((PyTypeObject *)vec, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "configure(): unexpected class layouts");
        return NULL;
    }
    if (small < 0 || small > 64) {
        PyErr_SetString(PyExc_ValueError, "configure(): small must be 0 to 64");
        return NULL;
    }
    Py_ssize_t ok = 0, ov = 0, orr = 0, ol = 0, oh = 0, ovec = 0, olh = 0;
    if ((ok = slot_offset(fd, "_keys")) < 0 || (ov = slot_offset(fd, "_vals")) < 0 ||
        (orr = slot_offset(fd, "_root")) < 0 || (ol = slot_offset(fd, "_len")) < 0 ||
        (oh = slot_offset(fd, "_hashed")) < 0 || (ovec = slot_offset(fl, "_vec")) < 0 ||
        (olh = slot_offset(fl, "_hashed")) < 0) {
        return NULL;
    }
    PyObject *dict_of = PyObject_GetAttrString(fd, "_of");
    PyObject *list_of = dict_of == NULL ? NULL : PyObject_GetAttrString(fl, "_of_frozen");
    if (list_of == NULL) {
        Py_XDECREF(dict_of);
        return NULL;
    }
    off_keys = ok;
    off_vals = ov;
    off_root = orr;
    off_len = ol;
    off_hashed = oh;
    off_vec = ovec;
    off_lhashed = olh;
    SMALL = small;
    MAX_NESTING = max_nesting;
    Py_XSETREF(FrozenDictType, Py_NewRef(fd));
    Py_XSETREF(FrozenListType, Py_NewRef(fl));
    Py_XSETREF(VecType, Py_NewRef(vec));
    Py_XSETREF(OpaqueType, Py_NewRef(opaque));
    Py_XSETREF(MISSING, Py_NewRef(missing));
    Py_XSETREF(EMPTY, Py_NewRef(empty));
    Py_XSETREF(IMMUTABLE, Py_NewRef(immutable));
    Py_XSETREF(FROZEN, Py_NewRef(frozen));
    Py_XSETREF(py_freeze, Py_NewRef(fz));
    Py_XSETREF(py_freeze_dict, Py_NewRef(fzd));
    Py_XSETREF(py_freeze_list, Py_NewRef(fzl));
    Py_XSETREF(py_check_key, Py_NewRef(ck));
    Py_XSETREF(py_dict_of, dict_of);
    Py_XSETREF(py_list_of, list_of);
    maybe_untrack_tuple(EMPTY);
    if (install(fd, &dict_getitem_def) < 0 || install(fd, &dict_find_def) < 0 ||
        install(fd, &dict_put_def) < 0) {
        return NULL;
    }
    PyTypeObject *fdt = (PyTypeObject *)fd;
    if (fdt->tp_as_mapping != NULL) {
        fdt->tp_as_mapping->mp_subscript = dict_subscript;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"lookup", (PyCFunction)(void (*)(void))hamt_lookup, METH_FASTCALL,
     "lookup(node, h, key, default): the value of key, or default."},
    {"locate", (PyCFunction)(void (*)(void))hamt_locate, METH_FASTCALL,
     "locate(node, h, key): the path down to key, or None."},
    {"replace_at", (PyCFunction)(void (*)(void))hamt_replace_at, METH_FASTCALL,
     "replace_at(place, value): the root with value at the place's end."},
    {"assoc", (PyCFunction)(void (*)(void))hamt_assoc, METH_FASTCALL,
     "assoc(node, shift, h, key, value): (new_node, added)."},
    {"build", (PyCFunction)(void (*)(void))hamt_build, METH_FASTCALL,
     "build(pairs): a trie of (hash, key, value) triples with distinct keys."},
    {"build_mapping", (PyCFunction)hamt_build_mapping, METH_O,
     "build_mapping(d): the trie of a dict's items."},
    {"freeze_dict", (PyCFunction)(void (*)(void))freeze_dict, METH_FASTCALL,
     "freeze_dict(obj, depth): a dict frozen, depth levels down."},
    {"freeze_list", (PyCFunction)(void (*)(void))freeze_list, METH_FASTCALL,
     "freeze_list(obj, depth): a list frozen, depth levels down."},
    {"first_non_str_key", (PyCFunction)(void (*)(void))first_non_str_key, METH_FASTCALL,
     "first_non_str_key(value, other): the first dict key that is not a str."},
    {"configure", (PyCFunction)(void (*)(void))configure, METH_VARARGS | METH_KEYWORDS,
     "configure(...): the classes and functions of statetrail.frozen."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "statetrail.frozen._speedups",
    "The compiled hot paths of statetrail.frozen (see _native.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module_def);
}
