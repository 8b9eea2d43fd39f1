/* uploads.c - resumable uploads into a draft version's file entry.
 *
 * POST .../versions/{version}/uploads creates one; PATCH /api/v1/uploads/{id}
 * appends a streamed body at Upload-Offset (the tus "core" protocol's
 * semantics), GET tells the offset to resume from, DELETE abandons it.
 */
#include "core/common.h"
#include "core/json.h"
#include "core/util.h"
#include "api/internal.h"
#include "api/routes.h"

#define OFFSET_TYPE "application/offset+octet-stream"

static void offset_header(struct http_req *req, struct http_resp *resp, uint64_t offset)
{
    char s[24];
    snprintf(s, sizeof(s), "%" PRIu64, offset);
    http_resp_header(req, resp, "Upload-Offset", s);
}

int api_upload_create(void *app, struct http_req *req, struct http_resp *resp)
{
    static const char *const keys[] = {"name", "size", "sha256", NULL};
    const char *name = NULL, *sha256 = NULL;
    json_t *body = NULL, *out = NULL;
    int64_t size = -1;
    struct api_call c;

    if (!api_start(app, req, &c) && !api_need_auth(&c) && !api_body(&c, keys, &body) &&
        !api_str(&c, body, "name", true, &name) && !api_str(&c, body, "sha256", false, &sha256) &&
        !(c.rc = json_get_int(body, "size", true, &size, &c.err)))
        c.rc = market_upload_create(c.market, c.viewer, http_param(req, "owner"),
                                    http_param(req, "slug"), http_param(req, "version"), name, size,
                                    sha256, &out, &c.err);
    if (out) {
        char loc[96];
        snprintf(loc, sizeof(loc), "/api/v1/uploads/%s",
                 json_string_value(json_object_get(out, "id")));
        http_resp_header(req, resp, "Location", loc);
        offset_header(req, resp, 0);
    }
    json_decref(body);
    return api_reply(&c, resp, 201, out);
}

int api_upload_get(void *app, struct http_req *req, struct http_resp *resp)
{
    json_t *out = NULL;
    struct api_call c;

    if (!api_start(app, req, &c) && !api_need_auth(&c))
        c.rc = market_upload_get(c.market, c.viewer, http_param(req, "id"), &out, &c.err);
    if (out)
        offset_header(req, resp, (uint64_t)json_integer_value(json_object_get(out, "offset")));
    return api_reply(&c, resp, 200, out);
}

int api_upload_delete(void *app, struct http_req *req, struct http_resp *resp)
{
    struct api_call c;

    if (!api_start(app, req, &c) && !api_need_auth(&c))
        c.rc = market_upload_delete(c.market, c.viewer, http_param(req, "id"), &c.err);
    return api_reply(&c, resp, 204, NULL);
}

/* One PATCH in flight (req->stream). */
struct patch {
    struct api_call c;
    struct upload_writer *w;
    uint64_t current; /* the upload's offset when it did not match */
    bool mismatch;
};

/* patch_begin() checks everything from the headers alone, before a byte of
 * the body is read: credentials, media type, offset, ownership, lock. */
static int patch_begin(struct api *api, struct http_req *req, struct patch *p)
{
    const char *type = http_header(req, "Content-Type");
    const char *off = http_header(req, "Upload-Offset");
    uint64_t offset = 0;

    if (api_start(api, req, &p->c) || api_need_auth(&p->c))
        return p->c.rc;
    if (!type || strncasecmp(type, OFFSET_TYPE, strlen(OFFSET_TYPE)) ||
        (type[strlen(OFFSET_TYPE)] && type[strlen(OFFSET_TYPE)] != ';'))
        return p->c.rc = ag_errf(&p->c.err, AG_EMEDIATYPE, NULL,
                                 "upload data must be sent as " OFFSET_TYPE);
    if (!off || parse_u64(off, &offset))
        return p->c.rc = ag_errf(&p->c.err, AG_EINVAL, "Upload-Offset",
                                 "an Upload-Offset header with a byte offset is required");
    p->c.rc = market_upload_open(p->c.market, p->c.viewer, http_param(req, "id"), offset, &p->w,
                                 &p->current, &p->c.err);
    p->mismatch = p->c.rc == AG_ECONFLICT && !strcmp(p->c.err.field, "offset");
    return p->c.rc;
}

static int patch_answer(struct http_req *req, struct http_resp *resp, struct patch *p)
{
    json_t *file = NULL;
    uint64_t offset = 0;

    if (!p->c.rc && !req->body_error)
        p->c.rc = market_upload_finish(p->w, &file, &offset, &p->c.err);
    else if (!p->c.rc)
        p->c.rc = req->body_error;
    if (p->mismatch)
        offset_header(req, resp, p->current);
    else if (p->w)
        offset_header(req, resp, p->c.rc ? market_upload_offset(p->w) : offset);
    /* Let go of the upload before the answer leaves: a client that sends its
     * next PATCH the moment it reads this one must not find it still held. */
    market_upload_close(p->w);
    p->w = NULL;
    return api_reply(&p->c, resp, file ? 200 : 204, file);
}

int api_upload_patch(void *app, struct http_req *req, struct http_resp *resp)
{
    struct patch *p = req->stream;

    switch (req->phase) {
    case HTTP_PHASE_BEGIN:
        p = calloc(1, sizeof(*p));
        if (!p)
            return AG_ENOMEM;
        req->stream = p;
        return patch_begin(app, req, p);
    case HTTP_PHASE_BODY:
        return p->c.rc = market_upload_write(p->w, req->chunk, req->chunk_len, &p->c.err);
    case HTTP_PHASE_DONE:
        if (p) {
            market_upload_close(p->w);
            free(p);
            req->stream = NULL;
        }
        return 0;
    default:
        break;
    }
    if (!p) {
        /* Out of memory at BEGIN: answer plainly. */
        struct api_call c;
        api_start(app, req, &c);
        c.rc = ag_err_set(&c.err, AG_ENOMEM);
        return api_reply(&c, resp, 500, NULL);
    }
    return patch_answer(req, resp, p);
}
