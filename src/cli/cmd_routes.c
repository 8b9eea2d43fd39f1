/* cmd_routes.c - `agora routes`: the node's route table, for docs and tests. */
#include "core/common.h"
#include "api/api.h"
#include "cli/cli.h"

int cmd_routes(int argc, char **argv)
{
    bool json = argc > 1 && !strcmp(argv[1], "--json");
    if (argc > 2 || (argc == 2 && !json))
        return cli_usage(cli_find("routes"), stderr);
    if (json)
        printf("[");
    for (size_t i = 0; i < api_nroutes; i++) {
        const struct http_route *r = &api_routes[i];
        if (json)
            printf("%s{\"method\":\"%s\",\"path\":\"%s\",\"public\":%s,\"hidden\":%s}",
                   i ? "," : "", r->method, r->pattern,
                   r->flags & HTTP_ROUTE_PUBLIC ? "true" : "false",
                   r->flags & HTTP_ROUTE_HIDDEN ? "true" : "false");
        else
            printf("%-7s %s\n", r->method, r->pattern);
    }
    if (json)
        printf("]\n");
    return EXIT_OK;
}
