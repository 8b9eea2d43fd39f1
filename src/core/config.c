/* config.c - layered configuration from defaults, a file, the environment and flags. */
#include "core/common.h"
#include "core/config.h"
#include "core/util.h"

#include <ctype.h>

static void env_name(const char *name, char *out, size_t size)
{
    size_t i = 0, j = 0;
    j += str_copy(out, "AGORA_", size);
    for (; name[i] && j + 1 < size; i++, j++)
        out[j] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
    out[j] = '\0';
}

static int set_value(const struct config_opt *o, void *settings, const char *v, const char *from,
                     struct ag_err *e)
{
    char *field = (char *)settings + o->offset;
    switch (o->kind) {
    case CONFIG_STR: {
        char *copy = strdup(v);
        if (!copy)
            return ag_err_set(e, AG_ENOMEM);
        free(*(char **)field);
        *(char **)field = copy;
        return 0;
    }
    case CONFIG_INT: {
        int64_t x;
        if (parse_i64(v, &x) || x < o->min || x > o->max)
            return ag_errf(e, AG_EINVAL, o->name, "%s: %s must be an integer from %ld to %ld",
                           from, o->name, o->min, o->max);
        *(long *)field = (long)x;
        return 0;
    }
    case CONFIG_BOOL:
        if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on"))
            *(int *)field = 1;
        else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off"))
            *(int *)field = 0;
        else
            return ag_errf(e, AG_EINVAL, o->name, "%s: %s must be true or false", from, o->name);
        return 0;
    }
    return ag_err_set(e, AG_EINTERNAL);
}

static const struct config_opt *find(const struct config_opt *opts, size_t n, const char *name,
                                     size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len))
            return &opts[i];
    return NULL;
}

static char *trim(char *s)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static int load_file(const struct config_opt *opts, size_t n, void *settings, const char *path,
                     struct ag_err *e)
{
    char line[1024], from[300];
    int lineno = 0, rc = 0;
    FILE *f = fopen(path, "r");

    if (!f)
        return ag_errf(e, AG_EINVAL, "config", "cannot read config file %s: %s", path,
                       strerror(errno));
    while (!rc && fgets(line, sizeof(line), f)) {
        char *s, *eq;
        const struct config_opt *o;
        lineno++;
        /* A line that does not fit is an error, not two half lines. */
        if (!strchr(line, '\n') && fgetc(f) != EOF) {
            rc = ag_errf(e, AG_EINVAL, "config", "%s:%d: line too long (at most %zu bytes)", path,
                         lineno, sizeof(line) - 2);
            break;
        }
        s = trim(line);
        if (!*s || *s == '#')
            continue;
        eq = strchr(s, '=');
        if (!eq) {
            rc = ag_errf(e, AG_EINVAL, "config", "%s:%d: expected key = value", path, lineno);
            break;
        }
        *eq = '\0';
        o = find(opts, n, trim(s), strlen(trim(s)));
        snprintf(from, sizeof(from), "%s:%d", path, lineno);
        if (!o)
            rc = ag_errf(e, AG_EINVAL, "config", "%s: unknown option \"%s\"", from, trim(s));
        else
            rc = set_value(o, settings, trim(eq + 1), from, e);
    }
    fclose(f);
    return rc;
}

/* Finds --config in argv or AGORA_CONFIG; returns NULL when neither is given. */
static const char *config_path(int argc, char **argv, int first)
{
    for (int i = first; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            return argv[i + 1];
        if (str_starts(argv[i], "--config="))
            return argv[i] + 9;
    }
    return getenv("AGORA_CONFIG");
}

static int load_flags(const struct config_opt *opts, size_t n, void *settings, int argc,
                      char **argv, int first, struct ag_err *e)
{
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i], *name, *eq, *val = NULL;
        const struct config_opt *o;
        size_t len;
        int neg = 0, rc;

        if (!str_starts(arg, "--"))
            return ag_errf(e, AG_EINVAL, NULL, "unexpected argument \"%s\"", arg);
        name = arg + 2;
        eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        if (len == 6 && !strncmp(name, "config", 6)) {
            if (!eq && i + 1 >= argc)
                return ag_errf(e, AG_EINVAL, "config", "--config needs a value");
            i += eq ? 0 : 1;
            continue;
        }
        o = find(opts, n, name, len);
        if (!o && str_starts(name, "no-")) {
            o = find(opts, n, name + 3, len - 3);
            neg = 1;
            if (o && (o->kind != CONFIG_BOOL || eq))
                o = NULL;
        }
        if (!o)
            return ag_errf(e, AG_EINVAL, NULL, "unknown option --%.*s", (int)len, name);
        if (eq)
            val = eq + 1;
        else if (o->kind == CONFIG_BOOL)
            val = neg ? "false" : "true";
        else if (i + 1 < argc)
            val = argv[++i];
        else
            return ag_errf(e, AG_EINVAL, o->name, "--%s needs a value", o->name);
        rc = set_value(o, settings, val, "command line", e);
        if (rc)
            return rc;
    }
    return 0;
}

int config_load(const struct config_opt *opts, size_t n, void *settings, int argc, char **argv,
                int first, struct ag_err *e)
{
    const char *path;
    char env[128];
    int rc;

    for (size_t i = 0; i < n; i++) {
        if (!opts[i].def)
            continue;
        rc = set_value(&opts[i], settings, opts[i].def, "default", e);
        if (rc)
            return rc;
    }
    path = config_path(argc, argv, first);
    if (path && (rc = load_file(opts, n, settings, path, e)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        const char *v;
        env_name(opts[i].name, env, sizeof(env));
        v = getenv(env);
        if (v && (rc = set_value(&opts[i], settings, v, env, e)))
            return rc;
    }
    return load_flags(opts, n, settings, argc, argv, first, e);
}

void config_free(const struct config_opt *opts, size_t n, void *settings)
{
    for (size_t i = 0; i < n; i++) {
        if (opts[i].kind == CONFIG_STR) {
            char **field = (char **)((char *)settings + opts[i].offset);
            free(*field);
            *field = NULL;
        }
    }
}

void config_usage(const struct config_opt *opts, size_t n, FILE *out)
{
    char env[128], flag[64];
    fprintf(out, "  %-24s %s\n", "--config FILE", "read settings from FILE (key = value lines) [AGORA_CONFIG]");
    for (size_t i = 0; i < n; i++) {
        env_name(opts[i].name, env, sizeof(env));
        snprintf(flag, sizeof(flag), "--%s%s", opts[i].name,
                 opts[i].kind == CONFIG_BOOL ? "" : opts[i].kind == CONFIG_INT ? " N" : " VALUE");
        fprintf(out, "  %-24s %s [%s", flag, opts[i].help, env);
        if (opts[i].def)
            fprintf(out, ", default %s", *opts[i].def ? opts[i].def : "\"\"");
        fprintf(out, "]\n");
    }
}
