/* cli.h - the `agora` command line: one cmd_<name>() per subcommand.
 *
 * Each command takes argv with argv[0] = its own name and returns the exit
 * code: 0 ok, 1 error (printed to stderr), 2 usage error.
 */
#ifndef AGORA_CLI_H
#define AGORA_CLI_H

#include <stdio.h>

enum { EXIT_OK = 0, EXIT_ERR = 1, EXIT_USAGE = 2 };

struct cli_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
    const char *usage;   /* printed by `agora help NAME` */
};

int cli_main(int argc, char **argv);
/* cli_find() returns the command named `name`, or NULL. */
const struct cli_cmd *cli_find(const char *name);
/* cli_usage() prints a command's usage to `out` and returns EXIT_USAGE. */
int cli_usage(const struct cli_cmd *c, FILE *out);
/* cli_wants_help() is true when argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);

/* Node side (cmd_serve.c, cmd_demo.c, cmd_routes.c). */
int cmd_serve(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_routes(int argc, char **argv);

/* Client side: talk to a node over HTTP (client.c and cmd_*.c). */
int cmd_register(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_whoami(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_model(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_like(int argc, char **argv);
int cmd_review(int argc, char **argv);
int cmd_profile(int argc, char **argv);

/* Subsystems beside the market; their usage texts live beside them. */
int cmd_wallet(int argc, char **argv);
int cmd_ipfs(int argc, char **argv);
extern const char cmd_ipfs_usage[];
int cmd_onnx(int argc, char **argv);
extern const char cmd_onnx_usage[];
int cmd_chain(int argc, char **argv);   /* issue 4: cmd_chain.c */
extern const char cmd_chain_usage[];
/* Model files (issue 3): cmd_push.c, cmd_pull.c, cmd_gc.c. */
int cmd_push(int argc, char **argv);
extern const char cmd_push_usage[];
int cmd_pull(int argc, char **argv);
extern const char cmd_pull_usage[];
int cmd_gc(int argc, char **argv);
extern const char cmd_gc_usage[];

#endif
