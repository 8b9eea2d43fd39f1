/* card.c - the YAML front matter of model cards.
 *
 * Model cards follow the Hugging Face convention: Markdown opening with a
 * YAML block between two "---" lines. We read the subset that cards use for
 * these keys: `key: scalar`, `key: [a, b]` and block lists (`- item` lines).
 * Other keys, nested mappings and comments are skipped, not rejected.
 */
#include "core/common.h"
#include "core/util.h"
#include "market/market.h"

#include <ctype.h>

#define CARD_MAX_ITEMS 32
#define CARD_MAX_VALUE 200

static const char *const scalar_keys[] = {"task", "library", "license", "base_model", NULL};
static const char *const list_keys[] = {"tags", "datasets", "metrics", "language", NULL};

/* Aliases used by Hugging Face cards. */
static const char *canonical_key(const char *k)
{
    if (!strcmp(k, "pipeline_tag"))
        return "task";
    if (!strcmp(k, "library_name"))
        return "library";
    return k;
}

static bool is_in(const char *k, const char *const *set)
{
    for (; *set; set++)
        if (!strcmp(k, *set))
            return true;
    return false;
}

/* Trims spaces, a trailing " # comment" and matching quotes, in place. */
static char *clean_scalar(char *s)
{
    char *end, *hash;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s != '"' && *s != '\'' && (hash = strstr(s, " #")))
        *hash = '\0';
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    if (end - s >= 2 && (*s == '"' || *s == '\'') && end[-1] == *s) {
        end[-1] = '\0';
        s++;
    }
    return s;
}

static void add_item(json_t *arr, char *item)
{
    item = clean_scalar(item);
    if (*item && strlen(item) <= CARD_MAX_VALUE && json_array_size(arr) < CARD_MAX_ITEMS &&
        utf8_valid(item, strlen(item)))
        json_array_append_new(arr, json_string(item));
}

/* Splits a flow list "[a, b, 'c']" into arr. */
static void flow_list(json_t *arr, char *s)
{
    char *end = strrchr(s, ']');
    if (end)
        *end = '\0';
    s++;
    while (*s) {
        char *comma = strchr(s, ',');
        if (comma)
            *comma = '\0';
        add_item(arr, s);
        if (!comma)
            break;
        s = comma + 1;
    }
}

int card_front_matter(const char *card, json_t **out, struct ag_err *e)
{
    json_t *obj = json_object(), *list = NULL;
    const char *p = card, *body_end;
    char line[1024];
    int rc = 0;

    if (strncmp(p, "---\n", 4) && strncmp(p, "---\r\n", 5))
        goto done;
    p = strchr(p, '\n') + 1;
    body_end = p;
    /* Find the closing "---" (or "...") line. */
    for (;;) {
        const char *nl = strchr(body_end, '\n');
        size_t len = nl ? (size_t)(nl - body_end) : strlen(body_end);
        if (len && body_end[len - 1] == '\r')
            len--;
        if (len == 3 && (!strncmp(body_end, "---", 3) || !strncmp(body_end, "...", 3)))
            break;
        if (!nl) {
            rc = ag_errf(e, AG_EINVAL, "card", "the card's YAML front matter has no closing ---");
            goto done;
        }
        body_end = nl + 1;
    }
    while (p < body_end) {
        const char *nl = memchr(p, '\n', (size_t)(body_end - p));
        size_t len = (size_t)((nl ? nl : body_end) - p);
        char *s, *colon, *key;
        if (len >= sizeof(line))
            len = sizeof(line) - 1;
        memcpy(line, p, len);
        line[len] = '\0';
        p = nl ? nl + 1 : body_end;
        s = line;
        if (len && s[len - 1] == '\r')
            s[len - 1] = '\0';
        if (*s == ' ' || *s == '\t' || *s == '-') {
            /* A continuation: "- item" belongs to the current block list. */
            while (*s == ' ' || *s == '\t')
                s++;
            if (list && s[0] == '-' && (s[1] == ' ' || !s[1]))
                add_item(list, s + 1);
            continue;
        }
        list = NULL;
        if (!*s || *s == '#' || !(colon = strchr(s, ':')))
            continue;
        *colon = '\0';
        key = (char *)canonical_key(clean_scalar(s));
        s = colon + 1;
        while (*s == ' ' || *s == '\t')
            s++;
        if (is_in(key, scalar_keys)) {
            s = clean_scalar(s);
            if (*s && strlen(s) <= CARD_MAX_VALUE && utf8_valid(s, strlen(s)))
                json_object_set_new(obj, key, json_string(s));
        } else if (is_in(key, list_keys)) {
            json_t *arr = json_array();
            json_object_set_new(obj, key, arr);
            if (*s == '[')
                flow_list(arr, s);
            else if (*clean_scalar(s))
                add_item(arr, s);
            else
                list = arr;
        }
    }
done:
    if (rc) {
        json_decref(obj);
        return rc;
    }
    *out = obj;
    return 0;
}
