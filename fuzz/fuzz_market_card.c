/* fuzz_market_card.c - model-card front matter, semver and the validators. */
#include "core/common.h"
#include "market/market.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    json_t *fm = NULL;
    struct semver v, w;
    char key[79];

    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (card_front_matter(s, &fm, NULL) == 0)
        json_decref(fm);
    if (semver_parse(s, &v) == 0) {
        w = v;
        if (semver_cmp(&v, &w) != 0)
            abort();
    }
    valid_username(s);
    valid_slug(s);
    valid_email(s);
    valid_file_name(s);
    valid_price(s, key);
    free(s);
    return 0;
}
