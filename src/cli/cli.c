/*
 * cli.c - the one parser of every command's command line, and the --help it generates from the
 * same option table (see cli.h for the conventions).
 *
 * The parser walks argv once, left to right. An option is looked up in the command's table,
 * then (for `run`) among the profiler options, then -h/--help; an alias is replaced by the
 * option it spells. Operands are moved down to argv[1..] as they come, in order, which is safe
 * because the slot written never lies ahead of the word being read; a command that runs a
 * program stops at its first operand and moves the rest as it is. The first problem ends the
 * walk with one line (`heapsampler <cmd>: <problem>; see `heapsampler <cmd> --help``): a
 * command must not run with half of what the user asked for.
 *
 * Values: an option's value is the word after '=', else the next word, whatever it looks like
 * (`--top -1` is a bad --top, not an unknown -1); only booleans look at the next word before
 * taking it. A profiler option's value is checked here with the option table's own parser
 * (hs_config_set), so that `run` refuses what the library would only warn about, and a secret
 * is never repeated in a message.
 *
 * The profiler options are derived from the option table once, into static storage: the CLI is
 * single-threaded and the table is constant.
 */
#include "cli.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define HS_CLI_PROFILER_MAX 64 /* rows of the option table that fit (it has about 30) */

/* ---- messages ---------------------------------------------------------------------------- */

void hs_cli_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "heapsampler %s: ", command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void hs_cli_print_wrapped(FILE *f, const char *text, int indent)
{
    const int width = 100;
    const char *s = text;
    while (*s) {
        int room = width - indent;
        const char *nl = strchr(s, '\n');
        int len = nl ? (int)(nl - s) : (int)strlen(s);
        int cut = len;
        if (len > room) {
            cut = room;
            while (cut > 0 && s[cut] != ' ')
                cut--;
            if (cut == 0)
                cut = room;
        }
        fprintf(f, "%*s%.*s\n", indent, "", cut, s);
        s += cut;
        if (*s == '\n')
            s++;
        while (*s == ' ')
            s++;
    }
}

/* ---- the profiler options ---------------------------------------------------------------- */

static char hs_cli_short_form(const hs_option_t *opt)
{
    static const struct {
        const char *name;
        char c;
    } shorts[] = {{"RATE", 'r'}, {"OUTPUT", 'o'}, {"INTERVAL", 'i'}};
    for (size_t i = 0; i < HS_ARRAY_LEN(shorts); i++)
        if (strcmp(opt->name, shorts[i].name) == 0)
            return shorts[i].c;
    return 0;
}

static const char *hs_cli_metavar(const hs_option_t *opt)
{
    static const struct {
        const char *name, *metavar;
    } strings[] = {
        {"OUTPUT", "PREFIX"}, {"PYROSCOPE_URL", "URL"}, {"APP_NAME", "NAME"}, {"TAGS", "K=V,..."}};
    switch (opt->type) {
    case HS_OPT_BOOL:
        return "[BOOL]";
    case HS_OPT_U64:
        return "N";
    case HS_OPT_SIZE:
        return "BYTES";
    case HS_OPT_DURATION:
        return "DURATION";
    case HS_OPT_STRING:
        for (size_t i = 0; i < HS_ARRAY_LEN(strings); i++)
            if (strcmp(opt->name, strings[i].name) == 0)
                return strings[i].metavar;
        return "STRING";
    case HS_OPT_ENUM:
        return "NAME";
    case HS_OPT_SIGNAL:
        return "SIGNAL";
    case HS_OPT_SECRET:
        return "SECRET";
    case HS_OPT_PERCENTS:
        return "LIST";
    case HS_OPT_NAMES:
        return "NAMES";
    case HS_OPT_REGEX:
        return "REGEX";
    }
    return "VALUE";
}

/* "HEAPSAMPLER_COMPRESSION, default gzip, one of gzip, zstd, none" */
static void hs_cli_profiler_note(const hs_option_t *opt, char *buf, size_t len)
{
    snprintf(buf, len, "HEAPSAMPLER_%s, default %s", opt->name, opt->def[0] ? opt->def : "\"\"");
    for (int c = 0; opt->type == HS_OPT_ENUM && opt->choices[c]; c++) {
        size_t n = strlen(buf);
        snprintf(buf + n, len - n, "%s %s", c ? "," : ", one of", opt->choices[c]);
    }
}

const hs_cli_option_t *hs_cli_profiler_options(size_t *count)
{
    static hs_cli_option_t options[HS_CLI_PROFILER_MAX];
    static char names[HS_CLI_PROFILER_MAX][48], notes[HS_CLI_PROFILER_MAX][256];
    static size_t n;
    if (n == 0) {
        size_t nopts;
        const hs_option_t *opts = hs_config_options(&nopts);
        HS_ASSERT(nopts <= HS_CLI_PROFILER_MAX);
        for (size_t k = 0; k < nopts && k < HS_CLI_PROFILER_MAX; k++) {
            /* "STACK_DEPTH" -> "stack-depth" */
            size_t i = 0;
            for (; opts[k].name[i] && i + 1 < sizeof names[k]; i++)
                names[k][i] =
                    opts[k].name[i] == '_' ? '-' : (char)tolower((unsigned char)opts[k].name[i]);
            names[k][i] = '\0';
            hs_cli_profiler_note(&opts[k], notes[k], sizeof notes[k]);
            options[k] = (hs_cli_option_t){
                .name = names[k],
                .short_name = hs_cli_short_form(&opts[k]),
                .arg = opts[k].type == HS_OPT_BOOL ? HS_CLI_BOOLEAN : HS_CLI_VALUE,
                .metavar = hs_cli_metavar(&opts[k]),
                .help = opts[k].help,
                .id = HS_CLI_PROFILER_ID + (int)k,
                .note = notes[k],
                .config = &opts[k],
            };
        }
        n = nopts < HS_CLI_PROFILER_MAX ? nopts : HS_CLI_PROFILER_MAX;
    }
    *count = n;
    return options;
}

/* ---- parsing ----------------------------------------------------------------------------- */

static const hs_cli_option_t hs_cli_help_flag = {
    .name = "help", .short_name = 'h', .arg = HS_CLI_SWITCH, .help = "show this help"};

/* The state of one parse. */
typedef struct parse {
    const hs_cli_command_t *c;
    hs_cli_take_fn take;
    void *ctx;
    hs_config_t *scratch; /* for checking profiler options' values; NULL until one comes */
    int status;           /* when the parse ends early */
} parse_t;

/* The option named name (len bytes; or the short form c when name is NULL), or NULL. */
static const hs_cli_option_t *hs_cli_find(const parse_t *p, const char *name, size_t len, char c)
{
    size_t nprof = 0;
    const hs_cli_option_t *prof =
        p->c->flags & HS_CLI_PROFILER_OPTIONS ? hs_cli_profiler_options(&nprof) : NULL;
    const struct {
        const hs_cli_option_t *v;
        size_t n;
    } tables[] = {{p->c->options, p->c->noptions}, {prof, nprof}, {&hs_cli_help_flag, 1}};
    for (size_t t = 0; t < HS_ARRAY_LEN(tables); t++) {
        for (size_t i = 0; i < tables[t].n; i++) {
            const hs_cli_option_t *o = &tables[t].v[i];
            if (!o->name)
                continue;
            if (name ? strlen(o->name) == len && strncmp(o->name, name, len) == 0
                     : c && o->short_name == c)
                return o;
        }
    }
    return NULL;
}

/* A usage error: one line, then the parse is over. Always false. */
static bool hs_cli_usage_error(parse_t *p, const char *fmt, ...) HS_PRINTF(2, 3);
static bool hs_cli_usage_error(parse_t *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hs_cli_error(p->c->name, "%s; see `heapsampler %s --help`", msg, p->c->name);
    p->status = HS_CLI_EXIT_USAGE;
    return false;
}

/* Check a profiler option's value the way the library will read it. */
static hs_err_t hs_cli_check_profiler_value(parse_t *p, const hs_cli_option_t *opt,
                                            const char *value, char *why, size_t why_len)
{
    if (!p->scratch) {
        p->scratch = malloc(sizeof *p->scratch);
        if (!p->scratch)
            return HS_ERR_NOMEM;
        hs_config_defaults(p->scratch);
    }
    return hs_config_set(p->scratch, opt->config, value, why, why_len);
}

/* Hand opt's value to the command; false (after the message) when it is refused. */
static bool hs_cli_deliver(parse_t *p, const hs_cli_option_t *opt, const char *value)
{
    char why[512] = "";
    hs_err_t err = HS_OK;
    if (opt == &hs_cli_help_flag) {
        hs_cli_help(p->c, stdout);
        p->status = 0;
        return false;
    }
    if (opt->config)
        err = hs_cli_check_profiler_value(p, opt, value, why, sizeof why);
    if (err == HS_OK)
        err = p->take(p->ctx, opt, value, why, sizeof why);
    if (err == HS_OK)
        return true;
    if (err == HS_ERR_NOMEM) {
        hs_cli_error(p->c->name, "out of memory");
        p->status = HS_CLI_EXIT_FAILURE;
        return false;
    }
    if (!value)
        return hs_cli_usage_error(p, "invalid --%s: %s", opt->name, why);
    bool secret = opt->config && opt->config->type == HS_OPT_SECRET;
    return hs_cli_usage_error(p, "invalid --%s \"%s\": %s", opt->name, secret ? "<hidden>" : value,
                              why);
}

static bool hs_cli_bool_word(const char *s)
{
    static const char *const words[] = {"1", "0", "true", "false", "yes", "no", "on", "off"};
    for (size_t i = 0; i < HS_ARRAY_LEN(words); i++)
        if (strcmp(s, words[i]) == 0)
            return true;
    return false;
}

/* The option an alias spells (aliases name an option of the same command or a profiler one). */
static const hs_cli_option_t *hs_cli_resolve(const parse_t *p, const hs_cli_option_t *opt)
{
    const hs_cli_option_t *target = opt;
    if (opt->alias_of)
        target = hs_cli_find(p, opt->alias_of, strlen(opt->alias_of), 0);
    HS_ASSERT(target != NULL);
    return target ? target : opt;
}

/* "--name", "--name=value" or "--name value" at argv[*i]; advances *i past what it used. */
static bool hs_cli_parse_long(parse_t *p, int argc, char **argv, int *i)
{
    const char *name = argv[*i] + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const char *value = eq ? eq + 1 : NULL;
    const hs_cli_option_t *opt = hs_cli_find(p, name, len, 0);
    (*i)++;
    if (!opt)
        return hs_cli_usage_error(p, "unknown option --%.*s", (int)len, name);
    if (opt->arg == HS_CLI_REFUSED) {
        hs_cli_error(p->c->name, "no --%s: %s", opt->name, opt->help);
        p->status = HS_CLI_EXIT_USAGE;
        return false;
    }
    opt = hs_cli_resolve(p, opt);
    switch (opt->arg) {
    case HS_CLI_SWITCH:
        if (value)
            return hs_cli_usage_error(p, "option --%s takes no value", opt->name);
        break;
    case HS_CLI_VALUE:
        if (!value && *i >= argc)
            return hs_cli_usage_error(p, "option --%s needs a value", opt->name);
        if (!value)
            value = argv[(*i)++];
        break;
    case HS_CLI_BOOLEAN:
        if (!value && *i + 1 < argc && hs_cli_bool_word(argv[*i]))
            value = argv[(*i)++];
        else if (!value)
            value = "1";
        break;
    case HS_CLI_REFUSED:
        break;
    }
    return hs_cli_deliver(p, opt, value);
}

/* "-q", "-qh" (switches bundled), "-r VALUE" or "-rVALUE" at argv[*i]; advances *i. */
static bool hs_cli_parse_short(parse_t *p, int argc, char **argv, int *i)
{
    const char *arg = argv[(*i)++];
    for (const char *s = arg + 1; *s; s++) {
        const hs_cli_option_t *opt = hs_cli_find(p, NULL, 0, *s);
        if (!opt)
            return hs_cli_usage_error(p, "unknown option -%c", *s);
        opt = hs_cli_resolve(p, opt);
        if (opt->arg != HS_CLI_VALUE) {
            if (!hs_cli_deliver(p, opt, opt->arg == HS_CLI_BOOLEAN ? "1" : NULL))
                return false;
            continue;
        }
        const char *value = s[1] ? s + 1 : NULL;
        if (!value && *i >= argc)
            return hs_cli_usage_error(p, "option -%c needs a value", *s);
        if (!value)
            value = argv[(*i)++];
        return hs_cli_deliver(p, opt, value);
    }
    return true;
}

bool hs_cli_parse(const hs_cli_command_t *c, int argc, char **argv, hs_cli_take_fn take, void *ctx,
                  int *noperands, int *status)
{
    parse_t p = {.c = c, .take = take, .ctx = ctx};
    int i = 1, w = 1; /* reading argv[i], writing the next operand to argv[w] (w <= i) */
    bool ok = true;
    while (ok && i < argc) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (arg[0] != '-' || arg[1] == '\0') {
            argv[w++] = argv[i++];
            if (c->flags & HS_CLI_STOP_AT_COMMAND)
                break;
            continue;
        }
        ok = arg[1] == '-' ? hs_cli_parse_long(&p, argc, argv, &i)
                           : hs_cli_parse_short(&p, argc, argv, &i);
    }
    free(p.scratch);
    if (!ok) {
        *status = p.status;
        return false;
    }
    while (i < argc)
        argv[w++] = argv[i++];
    argv[w] = NULL;
    *noperands = w - 1;
    *status = 0;
    return true;
}

/* ---- help -------------------------------------------------------------------------------- */

static void hs_cli_help_line(FILE *f, const hs_cli_option_t *o)
{
    char head[160], value[64] = "";
    if (o->metavar && o->arg != HS_CLI_SWITCH)
        snprintf(value, sizeof value, " %s", o->metavar);
    if (o->short_name)
        snprintf(head, sizeof head, "  -%c, --%s%s", o->short_name, o->name, value);
    else
        snprintf(head, sizeof head, "      --%s%s", o->name, value);
    if (o->note)
        fprintf(f, "%-34s %s\n", head, o->note);
    else
        fprintf(f, "%s\n", head);
    if (o->help) {
        hs_cli_print_wrapped(f, o->help, 8);
    } else if (o->alias_of) {
        char same[128];
        snprintf(same, sizeof same, "same as --%s%s", o->alias_of, value);
        hs_cli_print_wrapped(f, same, 8);
    }
}

void hs_cli_help(const hs_cli_command_t *c, FILE *f)
{
    fprintf(f, "Usage: heapsampler %s %s\n\n", c->name, c->synopsis);
    hs_cli_print_wrapped(f, c->description, 0);
    if (c->flags & HS_CLI_PROFILER_OPTIONS) {
        size_t n;
        const hs_cli_option_t *prof = hs_cli_profiler_options(&n);
        fprintf(f, "\nProfiler options (--name VALUE or --name=VALUE; a boolean alone means 1):\n");
        for (size_t i = 0; i < n; i++)
            hs_cli_help_line(f, &prof[i]);
    }
    if (c->noptions == 0 || c->options[0].name)
        fprintf(f, "\nOptions:\n");
    for (size_t i = 0; i < c->noptions; i++) {
        const hs_cli_option_t *o = &c->options[i];
        if (!o->name)
            fprintf(f, "\n%s\n", o->help);
        else if (o->arg != HS_CLI_REFUSED)
            hs_cli_help_line(f, o);
    }
    hs_cli_help_line(f, &hs_cli_help_flag);
    if (c->help_extra) {
        fputc('\n', f);
        c->help_extra(f);
    }
    if (c->examples)
        fprintf(f, "\nExamples:\n%s", c->examples);
}
