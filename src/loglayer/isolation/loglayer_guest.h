/*
 * loglayer_guest.h - the guest side of loglayer's WebAssembly plugin ABI, version 1.
 *
 * Include it in exactly one C file of a guest module. It defines the exports the host
 * needs besides the hooks (alloc, dealloc, loglayer_abi_version), an output buffer
 * for building the result document, and a few JSON scanning helpers. It needs no C
 * library: build freestanding with
 *
 *     clang --target=wasm32 -O2 -nostdlib -ffreestanding -Wl,--no-entry \
 *         -I "$(python -c 'import loglayer.isolation._wasm_abi as a; print(a.include_dir())')" \
 *         -o guest.wasm guest.c
 *
 * (-mbulk-memory turns copies into memory.copy, so no memcpy is needed; with wasi-libc
 * use --target=wasm32-wasi -mexec-model=reactor instead). The full contract is
 * docs/wasm-abi.md; in short:
 *
 *   - each hook is exported under its Python name, e.g.
 *         LG_HOOK(on_before_data_out) { ... return lg_out_finish(&out); }
 *     and receives the input JSON document at (doc, len); it returns LG_NONE for
 *     Python's None, or a result document packed by lg_out_finish / lg_pack;
 *   - the host calls alloc(len) for the input, then the hook, then dealloc on the
 *     result and on the input. Memory is a bump arena that is reset whenever nothing
 *     is allocated any more, so a hook must give back what it reserved: finish or
 *     discard every lg_out it started.
 *   - an instance serves one call at a time, but a plugin keeps a pool of instances
 *     and replaces one after any failure: do not rely on state kept between calls.
 *   - a dispatch hook's document is
 *         {"v":1,"level":20,"messages":[...],"data":{...},"metadata":...,
 *          "error":null,"prefix":null,"groups":["db"]}
 *     (should_send adds "transport_id" last). "groups" holds the entry's group tags
 *     (log.with_group), [] when it has none; the host routes by them after the hooks,
 *     so a guest that rewrites the data or the messages cannot move an entry to
 *     another group. Read members by name with lg_json_member: keys may be added.
 */
#ifndef LOGLAYER_GUEST_H
#define LOGLAYER_GUEST_H

#define LG_ABI_VERSION 1

typedef __UINT8_TYPE__ lg_u8;
typedef __UINT32_TYPE__ lg_u32;
typedef __UINT64_TYPE__ lg_u64;
typedef __SIZE_TYPE__ lg_size;

/* A hook's result: (pointer << 32) | length of a JSON document, or LG_NONE. */
typedef lg_u64 lg_result;
#define LG_NONE ((lg_result)0)

#define LG_EXPORT(name) __attribute__((export_name(#name)))
/* Defines an exported hook: LG_HOOK(should_send) { ... } sees (doc, len). */
#define LG_HOOK(name) LG_EXPORT(name) lg_result name(const char *doc, lg_u32 len)

static inline lg_size lg_strlen(const char *s) {
    lg_size n = 0;
    while (s[n])
        n++;
    return n;
}

static inline int lg_memeq(const void *a, const void *b, lg_size n) {
    const lg_u8 *x = (const lg_u8 *)a, *y = (const lg_u8 *)b;
    for (lg_size i = 0; i < n; i++)
        if (x[i] != y[i])
            return 0;
    return 1;
}

static inline lg_result lg_pack(const void *ptr, lg_u32 len) {
    return ((lg_result)(lg_u32)(lg_size)ptr << 32) | len;
}

/* ---- memory: a bump arena above the module's data and stack ------------------------ */

extern unsigned char __heap_base;
static lg_size lg__top;
static lg_u32 lg__live;

static inline lg_size lg__base(void) { return ((lg_size)&__heap_base + 15) & ~(lg_size)15; }

/* Makes sure [0, end) is backed by memory; traps when the host's limit refuses. */
static inline void lg__ensure(lg_size end) {
    lg_size have = __builtin_wasm_memory_size(0) * 65536;
    if (end > have) {
        lg_size pages = (end - have + 65535) / 65536;
        if (__builtin_wasm_memory_grow(0, pages) == (lg_size)-1)
            __builtin_trap();
    }
}

/* Reserves n bytes (16-byte aligned); never fails: traps instead. */
static inline void *lg_reserve(lg_u32 n) {
    if (lg__live == 0 || lg__top == 0)
        lg__top = lg__base();
    lg_size at = lg__top;
    lg__ensure(at + n);
    lg__top = (at + n + 15) & ~(lg_size)15;
    lg__live++;
    return (void *)at;
}

/* Gives a reservation back; the arena resets once nothing is live. */
static inline void lg_release(void) {
    if (lg__live > 0 && --lg__live == 0)
        lg__top = lg__base();
}

LG_EXPORT(alloc) void *alloc(lg_u32 len) { return lg_reserve(len); }
LG_EXPORT(dealloc) void dealloc(void *ptr, lg_u32 len) { (void)ptr; (void)len; lg_release(); }
LG_EXPORT(loglayer_abi_version) lg_u32 loglayer_abi_version(void) { return LG_ABI_VERSION; }

/* ---- output: a growing buffer that becomes the result document ----------------------- */

typedef struct {
    char *buf;
    lg_u32 len;
    lg_u32 cap;
} lg_out;

static inline void lg_out_init(lg_out *o, lg_u32 cap) {
    o->buf = (char *)lg_reserve(cap ? cap : 64);
    o->len = 0;
    o->cap = cap ? cap : 64;
}

static inline void lg_out_put(lg_out *o, const void *src, lg_u32 n) {
    if (o->len + n > o->cap) {
        lg_u32 cap = o->cap * 2 > o->len + n ? o->cap * 2 : o->len + n;
        if ((lg_size)o->buf + ((o->cap + 15) & ~15u) == lg__top) {
            /* The buffer is the newest reservation: grow it in place. */
            lg__ensure((lg_size)o->buf + cap);
            lg__top = ((lg_size)o->buf + cap + 15) & ~(lg_size)15;
        } else {
            char *moved = (char *)lg_reserve(cap);
            __builtin_memcpy(moved, o->buf, o->len);
            o->buf = moved;
            lg__live--; /* the old block is abandoned, not live */
        }
        o->cap = cap;
    }
    __builtin_memcpy(o->buf + o->len, src, n);
    o->len += n;
}

static inline void lg_out_byte(lg_out *o, char c) { lg_out_put(o, &c, 1); }

static inline void lg_out_str(lg_out *o, const char *s) { lg_out_put(o, s, (lg_u32)lg_strlen(s)); }

/* The result to return from the hook; the host copies it, then deallocs it. */
static inline lg_result lg_out_finish(lg_out *o) { return lg_pack(o->buf, o->len); }

/* Drops the buffer, for a hook that returns LG_NONE after starting one. */
static inline void lg_out_discard(lg_out *o) { lg_release(); o->buf = 0; o->len = o->cap = 0; }

/* ---- JSON scanning over the input document ------------------------------------------ */

static inline const char *lg_json_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* Past the JSON value at p (after whitespace); 0 when it is malformed or truncated. */
static inline const char *lg_json_skip(const char *p, const char *end) {
    int depth = 0;
    p = lg_json_ws(p, end);
    do {
        if (p >= end)
            return 0;
        char c = *p;
        if (c == '"') {
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\')
                    p++;
            if (p >= end)
                return 0;
            p++;
        } else if (c == '{' || c == '[') {
            depth++;
            p++;
        } else if (c == '}' || c == ']') {
            if (--depth < 0)
                return 0;
            p++;
        } else if (c == ',' || c == ':' || c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            if (depth == 0)
                return 0;
            p++;
        } else {
            /* a number, true, false or null */
            while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n'
                   && *p != '\r' && *p != '\t' && *p != ':')
                p++;
        }
    } while (depth > 0);
    return p;
}

/* Whether the JSON string at p (its opening quote) is exactly key (no escapes). */
static inline int lg_json_key_is(const char *p, const char *end, const char *key) {
    lg_size n = lg_strlen(key);
    return p + n + 2 <= end && p[0] == '"' && lg_memeq(p + 1, key, n) && p[n + 1] == '"';
}

/* The value of member `key` of the object at p (top level of that object only), or 0. */
static inline const char *lg_json_member(const char *p, const char *end, const char *key) {
    p = lg_json_ws(p, end);
    if (p >= end || *p != '{')
        return 0;
    p = lg_json_ws(p + 1, end);
    while (p < end && *p == '"') {
        int match = lg_json_key_is(p, end, key);
        p = lg_json_skip(p, end);
        if (!p)
            return 0;
        p = lg_json_ws(p, end);
        if (p >= end || *p != ':')
            return 0;
        p = lg_json_ws(p + 1, end);
        if (match)
            return p;
        p = lg_json_skip(p, end);
        if (!p)
            return 0;
        p = lg_json_ws(p, end);
        if (p < end && *p == ',')
            p = lg_json_ws(p + 1, end);
    }
    return 0;
}

#endif /* LOGLAYER_GUEST_H */
