/* config.h - layered configuration: flags over AGORA_* variables over a
 * config file over defaults.
 *
 * A program describes its options once, in a table of `struct config_opt`
 * pointing into its own settings struct; config_load() fills that struct.
 * Option "data-dir" is flag --data-dir, variable AGORA_DATA_DIR and file key
 * data-dir. The config file (lines of `key = value`, '#' starts a comment) is
 * named by --config / AGORA_CONFIG; without one, none is read.
 *
 * Ownership: string settings are malloc'd and owned by the settings struct;
 * config_free() releases them.
 */
#ifndef AGORA_CONFIG_H
#define AGORA_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "core/err.h"

enum config_kind { CONFIG_STR, CONFIG_INT, CONFIG_BOOL };

struct config_opt {
    const char *name;      /* long flag name without "--" */
    enum config_kind kind;
    size_t offset;         /* offsetof() the field: char *, long or int (bool) */
    const char *def;       /* default as text; NULL for none */
    const char *help;
    long min, max;         /* range for CONFIG_INT */
};

/*
 * config_load() applies defaults, the config file, the environment and then
 * argv[first..argc) flags (--name VALUE, --name=VALUE, --flag / --no-flag for
 * booleans). Returns 0; AG_EINVAL with a message naming the option on an
 * unknown flag, a bad value or an unreadable file. Leftover positional
 * arguments are not allowed.
 */
int config_load(const struct config_opt *opts, size_t n, void *settings, int argc, char **argv,
                int first, struct ag_err *e);
void config_free(const struct config_opt *opts, size_t n, void *settings);
/* config_usage() prints each option with its variable, default and help. */
void config_usage(const struct config_opt *opts, size_t n, FILE *out);

#endif
