/* versions.c - versions of a listing: semver, drafts, publishing, files. */
#include "core/common.h"
#include "core/json.h"
#include "core/util.h"
#include "market/internal.h"

#define CHANGELOG_MAX (64 * 1024)
#define FILES_MAX 100

static int cmp_versions(const void *a, const void *b)
{
    struct semver va, vb;
    const char *sa = json_string_value(json_object_get(*(json_t *const *)a, "version"));
    const char *sb = json_string_value(json_object_get(*(json_t *const *)b, "version"));
    semver_parse(sa, &va);
    semver_parse(sb, &vb);
    return -semver_cmp(&va, &vb); /* newest first */
}

/* Validates a files list [{name, size}] before anything is written. */
static int check_files(json_t *files, struct ag_err *e)
{
    json_t *f, *g;
    size_t i, j;
    if (!json_is_array(files) || json_array_size(files) > FILES_MAX)
        return ag_errf(e, AG_EINVAL, "files", "files must be an array of at most %d entries",
                       FILES_MAX);
    json_array_foreach(files, i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        json_t *size = json_object_get(f, "size");
        static const char *const keys[] = {"name", "size", NULL};
        if (!json_is_object(f) || json_check_keys(f, keys, NULL))
            return ag_errf(e, AG_EINVAL, "files", "each file must be an object {name, size}");
        if (!name || !valid_file_name(name))
            return ag_errf(e, AG_EINVAL, "files",
                           "file name must be 1-255 bytes, one path segment, not starting with "
                           "'.', without '/', '\\\\' or control characters");
        if (!json_is_integer(size) || json_integer_value(size) < 0)
            return ag_errf(e, AG_EINVAL, "files", "file size must be a non-negative integer");
        json_array_foreach(files, j, g)
            if (j < i && !strcmp(name, json_string_value(json_object_get(g, "name"))))
                return ag_errf(e, AG_EINVAL, "files", "file \"%s\" is listed twice", name);
    }
    return 0;
}

/* Replaces a draft's file list with `files` (already checked). */
static int put_files(struct market *m, int64_t version_id, json_t *old, json_t *files,
                     struct ag_err *e)
{
    json_t *f;
    size_t i;
    int rc = 0;

    json_array_foreach(old, i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        bool keep = false;
        json_t *g;
        size_t j;
        json_array_foreach(files, j, g)
            keep |= !strcmp(name, json_string_value(json_object_get(g, "name")));
        if (!keep && (rc = store_file_delete(m->store, version_id, name, e)))
            return rc;
    }
    json_array_foreach(files, i, f) {
        int64_t id;
        rc = store_file_put(m->store, version_id, json_string_value(json_object_get(f, "name")),
                            json_integer_value(json_object_get(f, "size")), NULL, NULL,
                            time_now(), &id, e);
        if (rc)
            return rc;
    }
    return 0;
}

int market_version_create(struct market *m, const struct principal *viewer, const char *owner,
                          const char *slug, const struct version_input *in, json_t **out,
                          struct ag_err *e)
{
    json_t *model = NULL, *empty = json_array();
    struct semver v;
    int64_t id;
    int rc = market__load_model(m, viewer, owner, slug, MODEL_WRITE, &model, e);

    if (rc)
        goto out;
    if (!in->version || semver_parse(in->version, &v)) {
        rc = ag_errf(e, AG_EINVAL, "version",
                     "version must be a semantic version such as 1.0.0 or 2.1.0-beta.1");
        goto out;
    }
    if (in->changelog && strlen(in->changelog) > CHANGELOG_MAX) {
        rc = ag_errf(e, AG_ETOOBIG, "changelog", "changelog must be at most %d KiB",
                     CHANGELOG_MAX / 1024);
        goto out;
    }
    if (in->files && (rc = check_files(in->files, e)))
        goto out;
    if ((rc = store_begin(m->store)))
        goto out;
    rc = store_version_insert(m->store, market__id(model), in->version, v.major, v.minor, v.patch,
                              v.pre, in->changelog ? in->changelog : "", time_now(), &id, e);
    if (rc == AG_EEXISTS)
        rc = ag_errf(e, AG_EEXISTS, "version", "version %s already exists", in->version);
    if (!rc && in->files)
        rc = put_files(m, id, empty, in->files, e);
    if (!rc && in->publish)
        rc = store_version_publish(m->store, id, time_now(), e);
    if (rc) {
        store_rollback(m->store);
        goto out;
    }
    if ((rc = store_commit(m->store)))
        goto out;
    market__invalidate(m);
    rc = store_version_get(m->store, market__id(model), in->version, out, e);
out:
    json_decref(empty);
    json_decref(model);
    return rc;
}

static bool can_see_drafts(const struct principal *viewer, json_t *model)
{
    return viewer && viewer->user_id == json_integer_value(json_object_get(model, "owner_id"));
}

int market_version_list(struct market *m, const struct principal *viewer, const char *owner,
                        const char *slug, json_t **out, struct ag_err *e)
{
    json_t *model = NULL, *list = NULL, **items;
    size_t n, i;
    int rc = market__load_model(m, viewer, owner, slug, MODEL_READ, &model, e);

    if (rc)
        return rc;
    rc = store_version_list(m->store, market__id(model), can_see_drafts(viewer, model), &list, e);
    json_decref(model);
    if (rc)
        return rc;
    n = json_array_size(list);
    items = calloc(n ? n : 1, sizeof(*items));
    if (!items) {
        json_decref(list);
        return ag_err_set(e, AG_ENOMEM);
    }
    for (i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(list, i));
    qsort(items, n, sizeof(*items), cmp_versions);
    json_array_clear(list);
    for (i = 0; i < n; i++)
        json_array_append_new(list, items[i]);
    free(items);
    *out = list;
    return 0;
}

/* Resolves `version` ("latest" or a semver) of a loaded model. */
static int get_version(struct market *m, const struct principal *viewer, json_t *model,
                       const char *version, json_t **out, struct ag_err *e)
{
    bool drafts = can_see_drafts(viewer, model);
    json_t *v = NULL;
    int rc;

    if (!strcmp(version, "latest")) {
        json_t *list = NULL, *it;
        struct semver best, cur;
        size_t i;
        if ((rc = store_version_list(m->store, market__id(model), false, &list, e)))
            return rc;
        json_array_foreach(list, i, it) {
            if (semver_parse(json_string_value(json_object_get(it, "version")), &cur))
                continue;
            if (!v || semver_cmp(&cur, &best) > 0) {
                v = it;
                best = cur;
            }
        }
        if (v)
            json_incref(v);
        json_decref(list);
        if (!v)
            return ag_errf(e, AG_ENOTFOUND, "version", "this model has no published version");
        *out = v;
        return 0;
    }
    rc = store_version_get(m->store, market__id(model), version, &v, e);
    if (rc == AG_ENOTFOUND ||
        (!rc && !drafts && strcmp(json_string_value(json_object_get(v, "state")), "published"))) {
        json_decref(v);
        return ag_errf(e, AG_ENOTFOUND, "version", "no version %s", version);
    }
    if (!rc)
        *out = v;
    return rc;
}

int market_version_get(struct market *m, const struct principal *viewer, const char *owner,
                       const char *slug, const char *version, json_t **out, struct ag_err *e)
{
    json_t *model = NULL;
    int rc = market__load_model(m, viewer, owner, slug, MODEL_READ, &model, e);
    if (rc)
        return rc;
    rc = get_version(m, viewer, model, version, out, e);
    json_decref(model);
    return rc;
}

/* Loads a draft version for writing; AG_ECONFLICT when already published. */
static int load_draft(struct market *m, const struct principal *viewer, const char *owner,
                      const char *slug, const char *version, json_t **model, json_t **v,
                      struct ag_err *e)
{
    int rc = market__load_model(m, viewer, owner, slug, MODEL_WRITE, model, e);
    if (rc)
        return rc;
    rc = get_version(m, viewer, *model, version, v, e);
    if (rc)
        return rc;
    if (!strcmp(json_string_value(json_object_get(*v, "state")), "published"))
        return ag_errf(e, AG_ECONFLICT, "version",
                       "version %s is published and can no longer change; create a new version",
                       json_string_value(json_object_get(*v, "version")));
    return 0;
}

int market_version_update(struct market *m, const struct principal *viewer, const char *owner,
                          const char *slug, const char *version, const struct version_input *in,
                          json_t **out, struct ag_err *e)
{
    json_t *model = NULL, *v = NULL;
    int rc = load_draft(m, viewer, owner, slug, version, &model, &v, e);

    if (rc)
        goto out;
    if (in->changelog && strlen(in->changelog) > CHANGELOG_MAX) {
        rc = ag_errf(e, AG_ETOOBIG, "changelog", "changelog must be at most %d KiB",
                     CHANGELOG_MAX / 1024);
        goto out;
    }
    if (in->files && (rc = check_files(in->files, e)))
        goto out;
    if ((rc = store_begin(m->store)))
        goto out;
    if (in->changelog)
        rc = store_version_update(m->store, market__id(v), in->changelog, e);
    if (!rc && in->files)
        rc = put_files(m, market__id(v), json_object_get(v, "files"), in->files, e);
    if (!rc && in->publish)
        rc = store_version_publish(m->store, market__id(v), time_now(), e);
    if (rc) {
        store_rollback(m->store);
        goto out;
    }
    if (!(rc = store_commit(m->store))) {
        market__invalidate(m);
        rc = store_version_get(m->store, market__id(model),
                               json_string_value(json_object_get(v, "version")), out, e);
    }
out:
    json_decref(v);
    json_decref(model);
    return rc;
}

int market_version_publish(struct market *m, const struct principal *viewer, const char *owner,
                           const char *slug, const char *version, json_t **out,
                           struct ag_err *e)
{
    struct version_input in = {.publish = true};
    return market_version_update(m, viewer, owner, slug, version, &in, out, e);
}
