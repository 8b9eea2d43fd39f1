/* client.h - what the client commands share: options, HTTP to a node, credentials, output.
 *
 * A client command (cmd_register.c ... cmd_profile.c) parses its argv with
 * cli_parse(), opens a `struct client` on the node named by --node, AGORA_NODE
 * or the default, calls the JSON API with client_call(), and prints either a
 * human-readable table / key-value block or, with --json, the API's JSON.
 *
 * Errors are printed here, once, to stderr as "agora CMD: message"; functions
 * that can fail return 0 or an exit code (EXIT_ERR, EXIT_USAGE) that the
 * command returns as is.
 *
 * Secrets: the API token is only ever held in `struct client`, sent in the
 * Authorization header and written to the credentials file (mode 0600). It is
 * never printed, never logged, and never put in a URL.
 */
#ifndef AGORA_CLI_CLIENT_H
#define AGORA_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/buf.h"

#define CLIENT_DEFAULT_NODE    "http://127.0.0.1:8080"
#define CLIENT_MAX_RESPONSE    ((size_t)16 << 20) /* bytes of one response body */
#define CLIENT_CONNECT_TIMEOUT 5L                 /* seconds */
#define CLIENT_TOTAL_TIMEOUT   60L                /* seconds */
#define CLIENT_MAX_FILE        ((size_t)1 << 20)  /* bytes of a --card file */
#define CLIENT_TOKEN_DECIMALS  18                 /* prices: 10^18 units = 1 token */

/* ---- options ------------------------------------------------------------ */

enum cli_opt_kind {
    CLI_FLAG,  /* --json: no value */
    CLI_VALUE, /* --title T or --title=T: the last one given wins */
    CLI_LIST,  /* --tag T, repeatable: every value, in order */
};

/* CLI_OPT("title", CLI_VALUE) declares an option in a command's table. */
#define CLI_OPT(n, k)                                                                              \
    {                                                                                              \
        .name = (n), .kind = (k)                                                                   \
    }

#define CLI_LIST_MAX 64
#define CLI_POS_MAX  16

/* One option a command accepts. The caller fills `name` (without the "--")
 * and `kind`; cli_parse() fills the rest. Values point into argv. */
struct cli_opt {
    const char *name;
    enum cli_opt_kind kind;
    bool set;
    const char *value;
    const char *list[CLI_LIST_MAX];
    size_t nlist;
};

/* What cli_parse() found besides the command's own options: positional
 * arguments, and the options every client command takes (--node, --help). */
struct cli_args {
    const char *pos[CLI_POS_MAX];
    size_t npos;
    const char *node; /* --node URL, or NULL */
    bool help;        /* -h or --help */
};

/*
 * cli_parse() reads argv[first..argc-1]: options in any order, as
 * "--name value" or "--name=value", mixed with positional arguments; "--"
 * ends the options. It returns 0, or prints what is wrong and the usage of
 * `cmd` to stderr and returns EXIT_USAGE for an unknown option, a missing
 * value, a value given to a flag, too many values or positional arguments.
 */
int cli_parse(const char *cmd, int argc, char **argv, int first, struct cli_opt *opts, size_t nopts,
              struct cli_args *args);

/* cli_bad_usage() prints "agora CMD: <message>" and the usage of `cmd` to
 * stderr and returns EXIT_USAGE. */
int cli_bad_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cli_help() prints the usage of `cmd` to stdout and returns EXIT_OK. */
int cli_help(const char *cmd);

/* cli_fail() prints "agora CMD: <message>" to stderr and returns EXIT_ERR. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cli_model_ref() splits "OWNER/SLUG" (copies into owner/slug, each at most
 * `size` bytes with the NUL). Returns 0, or prints why and returns EXIT_USAGE. */
int cli_model_ref(const char *cmd, const char *ref, char *owner, char *slug, size_t size);

/* cli_read_tty() prompts on /dev/tty and reads one line with echo off (the
 * terminal is restored also on Ctrl-C). Returns 0, or -1 when there is no
 * terminal, nothing was read or the line does not fit. */
int cli_read_tty(const char *prompt, char *out, size_t size);
/* cli_read_password() reads a password into `out` (`size` bytes): one line of
 * stdin when `from_stdin`, else from the terminal without echo, prompting with
 * `prompt`. Returns 0, or prints why and returns EXIT_ERR (no terminal, empty,
 * too long). The caller wipes `out` with explicit_bzero() when done. */
int cli_read_password(const char *cmd, bool from_stdin, const char *prompt, char *out, size_t size);

/* ---- the connection to a node ------------------------------------------- */

struct client {
    const char *cmd;  /* the command name, for messages */
    char *node;       /* base URL without trailing '/', never NULL once open */
    char *token;      /* the token requests carry, or NULL: AGORA_TOKEN, else the stored one */
    char *stored;     /* the token stored for this node, or NULL */
    bool token_env;   /* `token` came from AGORA_TOKEN */
    char *username;   /* the stored login's username, or NULL */
    int64_t token_id; /* the stored token's id, or 0 */
    void *curl;       /* CURL handle */
};

/*
 * client_open() resolves the node URL (`node_opt`, else AGORA_NODE, else the
 * default), loads the token for it, and prepares libcurl. Returns 0, or prints
 * why and returns EXIT_USAGE (bad --node) or EXIT_ERR. client_close() releases
 * everything (also after a failed open) and wipes the token from memory.
 */
int client_open(struct client *c, const char *cmd, const char *node_opt);
void client_close(struct client *c);

/* client_need_auth() returns 0 when a token is at hand, else prints how to get
 * one and returns EXIT_ERR. */
int client_need_auth(struct client *c);

/* client_seg() appends "/" and the URL-encoded `segment` to a path;
 * client_query() appends "?key=value" or "&key=value", both encoded.
 * They return 0, or EXIT_ERR when memory or the path's cap runs out. */
int client_seg(struct client *c, struct buf *path, const char *segment);
int client_query(struct client *c, struct buf *path, const char *key, const char *value);

/* client_model_path() writes "/api/v1/models/OWNER/SLUG" (encoded) into `path`.
 * Returns 0 or EXIT_ERR. */
int client_model_path(struct client *c, struct buf *path, const char *owner, const char *slug);

/* client_set_str() sets obj[key] to the string `value` (a command-line
 * argument). Returns 0, or prints why and returns EXIT_ERR when `value` is not
 * UTF-8 (JSON cannot carry it) or memory runs out. */
int client_set_str(struct client *c, json_t *obj, const char *key, const char *value);

/* client_wipe_password() overwrites the "password" member of a request body
 * in place before the body is freed. `body` may be NULL. */
void client_wipe_password(json_t *body);

/* A response: the HTTP status and the parsed JSON body (NULL when the body is
 * empty, e.g. 204). The caller owns `body` (json_decref). */
struct client_resp {
    long status;
    json_t *body;
    long retry_after; /* seconds from Retry-After, or -1 */
};

/*
 * client_request() sends `method` `path` (already encoded, starting with '/')
 * with `body` (NULL for none) as JSON and the token when there is one. It
 * returns 0 when an HTTP response arrived, whatever its status; otherwise it
 * prints why (node unreachable, timeout, body too large, not JSON) and
 * returns EXIT_ERR.
 */
int client_request(struct client *c, const char *method, const char *path, json_t *body,
                   struct client_resp *r);

/*
 * client_call() is client_request() for callers that want success or a
 * message: on a 2xx status it stores the body (a new reference, or NULL) in
 * *out (which may be NULL to drop it) and returns 0; on any other status it
 * prints the API error's message, field and hints and returns EXIT_ERR.
 */
int client_call(struct client *c, const char *method, const char *path, json_t *body, json_t **out);

/* client_print_api_error() prints the error of a non-2xx response. Returns EXIT_ERR. */
int client_print_api_error(struct client *c, const struct client_resp *r);

/* ---- credentials ---------------------------------------------------------- */

/* client_credentials_path() writes the credentials file path into `out`:
 * $AGORA_CONFIG_DIR/credentials, else $XDG_CONFIG_HOME/agora/credentials,
 * else ~/.config/agora/credentials. Returns 0, or AG_EINVAL when no home
 * directory is known or the path does not fit. */
int client_credentials_path(char *out, size_t size);

/* client_credentials_check() returns 0 when the credentials file is absent or
 * readable, else prints why and returns EXIT_ERR (login checks before it asks
 * the node for a token it could not keep). */
int client_credentials_check(struct client *c);

/* client_store_token() records the token for this node (replacing any
 * previous one) and client_forget_token() removes the node's entry; both
 * rewrite the file through a 0600 temporary file and rename(2). They return
 * 0, or print why and return EXIT_ERR. */
int client_store_token(struct client *c, const char *token, int64_t token_id, const char *username);
int client_forget_token(struct client *c);

/* client_me() asks the node who the token belongs to and copies the username
 * into `out`. Returns 0, or prints why and returns EXIT_ERR. */
int client_me(struct client *c, char *out, size_t size);

/* ---- output --------------------------------------------------------------- */

/* client_print_json() prints `v` as indented JSON on stdout ("null" for NULL). */
void client_print_json(const json_t *v);

/* client_text() appends `s` to `b` with control characters (escape sequences
 * from other users' text) replaced by '?'; newlines are kept when `multiline`. */
void client_text(struct buf *b, const char *s, bool multiline);

/* client_fmt() renders a JSON member for people into `b`: strings as they are
 * (sanitized), integers, reals with two decimals, booleans as yes/no, arrays
 * as comma-separated lists, null or missing as "-". */
void client_fmt(struct buf *b, json_t *v);

/* client_fmt_time() renders a timestamp (ISO 8601 string or epoch seconds or
 * milliseconds) as "YYYY-MM-DD HH:MM" UTC into `b`; "-" for null. */
void client_fmt_time(struct buf *b, json_t *v);

/* client_fmt_price() renders a price given in the smallest token unit as
 * whole tokens ("1.5" for "1500000000000000000"), "free" for zero. client_fmt_rating() renders a
 * model's or user's "rating" and "rating_count" as "4.50 (12)", or "-" without ratings. */
void client_fmt_price(struct buf *b, json_t *v);
void client_fmt_rating(struct buf *b, json_t *obj);

/* client_kv() prints one "Label:   value" line of a key-value block;
 * continuation lines of a multi-line value are indented under the value. */
void client_kv(const char *label, const char *value);
/* client_kv_json() is client_kv() of client_fmt(v). */
void client_kv_json(const char *label, json_t *v);

/* A table printed with aligned columns; cells longer than `maxw` code points
 * are cut with "...". */
#define TABLE_MAX_COLS 10
struct table {
    size_t ncol;
    const char *head[TABLE_MAX_COLS];
    size_t maxw[TABLE_MAX_COLS]; /* 0 = no limit */
    char **cells;                /* nrow * ncol owned strings */
    size_t nrow, cap;
};

void table_init(struct table *t, size_t ncol, const char *const *head, const size_t *maxw);
void table_release(struct table *t);
/* table_add_row() copies `ncol` cells (sanitized, cut to width). Returns 0 or AG_ENOMEM. */
int table_add_row(struct table *t, const char *const *cells);
void table_print(const struct table *t, FILE *out);

/* A row being built: one capped buffer per cell, filled with client_fmt()
 * and friends, then handed to table_add(), which copies the cells and empties
 * the buffers for the next row. */
struct row {
    size_t n;
    struct buf cell[TABLE_MAX_COLS];
};

void row_init(struct row *r, size_t n);
void row_release(struct row *r);
/* table_add() returns 0, or prints why and returns EXIT_ERR (out of memory). */
int table_add(struct table *t, struct row *r);


/* ---- streaming transfers (storage: agora push / pull) --------------------- */

/* A progress line on stderr: bytes done of total, rate and ETA, redrawn at
 * most a few times a second, only when stderr is a terminal (or `force`). */
struct progress {
    const char *label;
    uint64_t total, base;     /* base: bytes already there when this run started */
    int64_t start_us, last_us;
    bool enabled;
};
void progress_init(struct progress *p, const char *label, uint64_t total, uint64_t base);
/* progress_update() draws `done` (counting from 0 of the whole, base included). */
void progress_update(struct progress *p, uint64_t done);
/* progress_end() draws the final state and ends the line. */
void progress_end(struct progress *p, uint64_t done);

/* One streamed request: the request body comes from `read` (exactly
 * `upload_len` bytes; -1 = no body), the response body of a 2xx status goes
 * to `write` (else, and always for JSON answers, it is collected into
 * `body`, capped). No total timeout: a transfer stalled for 60 s fails. */
struct client_stream {
    const char *method, *path;
    const char *headers[8];          /* extra "Name: value" lines, NULL-terminated */
    int64_t upload_len;
    size_t (*read)(char *buf, size_t n, void *ctx);   /* returns bytes, 0 = end, CURL_READFUNC_ABORT */
    int (*write)(const void *p, size_t n, void *ctx); /* non-zero aborts the transfer */
    void (*progress)(void *ctx, uint64_t up, uint64_t down);
    void *ctx;
    long max_send_speed;             /* bytes/s, 0 = unlimited */
    /* results */
    long status;
    json_t *body;                    /* parsed JSON answer, or NULL */
    char upload_offset[24];          /* the Upload-Offset header, "" if none */
    char content_sha256[65];         /* the X-Content-SHA256 header, "" if none */
    char stored[16];                 /* the X-Agora-Stored header: "clear", "encrypted" or "" */
    bool write_failed;               /* `write` asked to stop */
};
/* client_stream() returns 0 when a response arrived (any status) and
 * EXIT_ERR, printed, when the transfer failed (connection lost, timeout);
 * `s->status` is then 0. The caller json_decref()s s->body. */
int client_stream(struct client *c, struct client_stream *s);

#endif
