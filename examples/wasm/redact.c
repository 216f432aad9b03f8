/*
 * A redaction guest: replaces the value of every object member whose key names a
 * secret with "[REDACTED]", at any depth.
 *
 *   on_metadata_called  returns the metadata, redacted (always: None would drop it);
 *   on_before_data_out  returns the data, redacted, to be merged over the entry's data,
 *                       or None when nothing in it was secret (nothing to merge).
 *
 * Build: ./build.sh (clang and lld for wasm32; no C library needed).
 */
#include "loglayer_guest.h"

/* Key fragments that mark a secret, lower case; matched anywhere in a key, ignoring ASCII
 * case (the key's bytes as they appear in the document). */
static const char *const SECRET_KEYS[] = {
    "password", "passwd", "secret", "token", "authorization", "api_key", "apikey",
    "card_number", "cvv", "ssn",
};
#define SECRET_COUNT (sizeof SECRET_KEYS / sizeof SECRET_KEYS[0])
#define REDACTED "\"[REDACTED]\""

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

/* Whether the key text [k, k + n) contains a secret fragment. */
static int is_secret(const char *k, lg_size n) {
    for (lg_size s = 0; s < SECRET_COUNT; s++) {
        const char *frag = SECRET_KEYS[s];
        lg_size m = lg_strlen(frag);
        for (lg_size i = 0; i + m <= n; i++) {
            lg_size j = 0;
            while (j < m && lower(k[i + j]) == frag[j])
                j++;
            if (j == m)
                return 1;
        }
    }
    return 0;
}

/* Copies the value at p to o, redacting secret members; returns the end of the value
 * or 0 when the document is malformed. Counts redactions in *hits. */
static const char *copy_value(lg_out *o, const char *p, const char *end, int *hits) {
    p = lg_json_ws(p, end);
    if (p >= end)
        return 0;
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        int object = *p == '{';
        lg_out_byte(o, *p);
        p = lg_json_ws(p + 1, end);
        if (p < end && *p == close) {
            lg_out_byte(o, close);
            return p + 1;
        }
        for (;;) {
            if (object) {
                const char *key = lg_json_ws(p, end);
                const char *key_end = lg_json_skip(key, end);
                if (!key_end || *key != '"')
                    return 0;
                lg_out_put(o, key, (lg_u32)(key_end - key));
                p = lg_json_ws(key_end, end);
                if (p >= end || *p != ':')
                    return 0;
                lg_out_byte(o, ':');
                if (is_secret(key + 1, (lg_size)(key_end - key - 2))) {
                    p = lg_json_skip(p + 1, end);
                    lg_out_str(o, REDACTED);
                    ++*hits;
                } else {
                    p = copy_value(o, p + 1, end, hits);
                }
            } else {
                p = copy_value(o, p, end, hits);
            }
            if (!p)
                return 0;
            p = lg_json_ws(p, end);
            if (p < end && *p == ',') {
                lg_out_byte(o, ',');
                p++;
                continue;
            }
            if (p < end && *p == close) {
                lg_out_byte(o, close);
                return p + 1;
            }
            return 0;
        }
    }
    const char *q = lg_json_skip(p, end);
    if (q)
        lg_out_put(o, p, (lg_u32)(q - p));
    return q;
}

/* The member `key` of the input document, redacted; LG_NONE when it is absent, or when
 * `only_if_changed` and nothing was redacted. A malformed document traps, so the host
 * reports it. */
static lg_result redact_member(const char *doc, lg_u32 len, const char *key,
                               int only_if_changed) {
    const char *end = doc + len;
    const char *value = lg_json_member(doc, end, key);
    if (!value)
        return LG_NONE;
    lg_out out;
    int hits = 0;
    lg_out_init(&out, len);
    if (!copy_value(&out, value, end, &hits))
        __builtin_trap();
    if (only_if_changed && hits == 0) {
        lg_out_discard(&out);
        return LG_NONE;
    }
    return lg_out_finish(&out);
}

LG_HOOK(on_metadata_called) { return redact_member(doc, len, "metadata", 0); }

LG_HOOK(on_before_data_out) { return redact_member(doc, len, "data", 1); }
