/* embed.h - files compiled into the binary (cmake/embed.cmake): migrations,
 * the OpenAPI document. A table ends with an entry whose name is NULL;
 * `data` is NUL-terminated, `len` does not count the NUL. */
#ifndef AGORA_EMBED_H
#define AGORA_EMBED_H

#include <stddef.h>

struct embedded_file {
    const char *name;
    const char *data;
    size_t len;
};

#endif
