/* node.h - what the node-side commands (serve, demo) share. */
#ifndef AGORA_CLI_NODE_H
#define AGORA_CLI_NODE_H

#include "core/err.h"
#include "store/store.h"

/* node_open() creates the data directory (0700) if needed and opens its
 * database, applying migrations. */
int node_open(const char *data_dir, struct store **out, struct ag_err *e);

#endif
