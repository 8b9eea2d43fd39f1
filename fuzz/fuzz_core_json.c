/* fuzz_core_json.c - the strict JSON parser and the typed getters. */
#include "core/common.h"
#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"a", "b", "slug", NULL};
    struct ag_err e = {0};
    json_t *v = NULL;
    if (json_parse((const char *)data, size, &v, &e) == 0) {
        const char *s;
        int64_t i;
        bool b;
        json_t *x;
        json_check_keys(v, keys, &e);
        json_get_str(v, "a", false, &s, &e);
        json_get_int(v, "b", false, &i, &e);
        json_get_bool(v, "slug", false, &b, &e);
        json_get_array(v, "a", false, &x, &e);
        json_decref(v);
    }
    return 0;
}
