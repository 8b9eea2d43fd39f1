/* fuzz_http_path.c - percent-decoding and route matching of request paths. */
#include "core/common.h"
#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const patterns[] = {"/api/v1/models/{owner}/{slug}",
                                           "/api/v1/models/{owner}/{slug}/versions/{version}",
                                           "/healthz", "/{a}"};
    struct http_kv params[HTTP_MAX_PARAMS];
    struct arena a;
    char *path;
    int n;

    arena_init(&a);
    path = arena_strndup(&a, (const char *)data, size);
    http_url_decode(&a, path, strlen(path), true);
    for (size_t i = 0; i < ARRAY_SIZE(patterns); i++)
        if (http_route_match(patterns[i], path, &a, params, &n))
            for (int k = 0; k < n; k++)
                if (!params[k].value || strchr(params[k].value, '\0') == NULL)
                    abort();
    arena_release(&a);
    return 0;
}
