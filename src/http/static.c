/* static.c - serve the built web directory for paths no route claims. */
#include "core/common.h"
#include "core/err.h"
#include "core/util.h"
#include "http/internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".wasm", "application/wasm"},
    {".onnx", "application/octet-stream"},
    {".txt", "text/plain; charset=utf-8"},
    {".yaml", "application/yaml"},
};

static const char *type_of(const char *path)
{
    for (size_t i = 0; i < ARRAY_SIZE(types); i++)
        if (str_ends(path, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

/* Only plain segments are allowed: no "..", no ".", no empty segment, no
 * backslash, no hidden files. The path was decoded before it reaches here. */
static bool safe_path(const char *p)
{
    if (*p != '/')
        return false;
    for (const char *seg = p + 1; *seg;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 0 && end)
            return false;
        if (len && seg[0] == '.')
            return false;
        if (memchr(seg, '\\', len))
            return false;
        if (!end)
            break;
        seg = end + 1;
    }
    return true;
}

int http__serve_static(struct http_server *s, struct http_req *req, struct http_resp *resp)
{
    const char *decoded, *type;
    char full[4096];
    struct stat st;
    int fd;

    resp->status = 404;
    if (!s->cfg.static_dir)
        return 0;
    decoded = http_url_decode(&req->arena, req->path, strlen(req->path), false);
    if (!decoded || !safe_path(decoded))
        return 0;
    if (snprintf(full, sizeof(full), "%s%s%s", s->cfg.static_dir, decoded,
                 str_ends(decoded, "/") ? "index.html" : "") >= (int)sizeof(full))
        return 0;
    /* O_NONBLOCK: a FIFO dropped into the directory must not hang the worker;
     * it is then refused as not a regular file. */
    fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 0;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    type = type_of(full);
    resp->status = 200;
    resp->fd = fd;
    resp->fd_offset = 0;
    resp->fd_length = (uint64_t)st.st_size;
    http_resp_header(req, resp, "Content-Type", type);
    http_resp_header(req, resp, "Cache-Control",
                     str_ends(full, ".html") ? "no-cache" : "public, max-age=300");
    return 0;
}
