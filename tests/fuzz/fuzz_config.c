/*
 * fuzz_config.c - the configuration parser (src/common/config.c), which reads the environment of every
 * process the library is preloaded into.
 *
 * Input: the first byte chooses the operation, the rest is text.
 *   0xff                hs_config_load with the text split at '\n' into an environment
 *   0xfe                hs_config_find with the text as the name
 *   b, otherwise        hs_config_set on option b % N (of N) with the text as the value
 * Properties, besides no crash and no undefined behaviour: an accepted numeric value lies in
 * the option's range; an accepted value of any type but a string formats (hs_config_format,
 * "input syntax") to text that parses back to exactly the same configuration, and a secret
 * formats to "<hidden>"; a refused value leaves the configuration untouched and says why;
 * hs_config_load reports at most one problem per line and always leaves every option in range.
 */
#include <fcntl.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "log.h"

#define MAX_TEXT 8192

static void check_ranges(const hs_config_t *c)
{
    size_t n;
    const hs_option_t *opts = hs_config_options(&n);
    for (size_t i = 0; i < n; i++) {
        const hs_option_t *o = &opts[i];
        if (o->type == HS_OPT_U64 || o->type == HS_OPT_SIZE || o->type == HS_OPT_DURATION) {
            uint64_t v;
            memcpy(&v, (const char *)c + o->offset, sizeof v);
            FUZZ_CHECK(v >= o->min && v <= o->max);
        }
    }
}

static void set_one(const hs_option_t *o, const char *value)
{
    hs_config_t c, before, again;
    hs_config_defaults(&c);
    before = c;
    char why[128] = "";
    if (hs_config_set(&c, o, value, why, sizeof why) != HS_OK) {
        FUZZ_CHECK(memcmp(&c, &before, sizeof c) == 0);
        FUZZ_CHECK(why[0] != '\0');
        return;
    }
    check_ranges(&c);
    char text[HS_CONFIG_STR_MAX + 64];
    hs_config_format(&c, o, text, sizeof text);
    if (o->type == HS_OPT_SECRET) { /* shown as "<hidden>" (or nothing), never as itself */
        FUZZ_CHECK(strcmp(text, "<hidden>") == 0 || (text[0] == '\0' && value[0] == '\0'));
        return;
    }
    if (o->type == HS_OPT_STRING) /* credentials in it are masked: no round trip */
        return;
    hs_config_defaults(&again);
    FUZZ_CHECK(hs_config_set(&again, o, text, why, sizeof why) == HS_OK);
    FUZZ_CHECK(memcmp(&again, &c, sizeof c) == 0);
}

static void load(char *text)
{
    char *env[256];
    int n = 0, lines = 0;
    for (char *s = text; n < 255;) {
        char *nl = strchr(s, '\n');
        env[n++] = s;
        lines++;
        if (!nl)
            break;
        *nl = '\0';
        s = nl + 1;
    }
    env[n] = NULL;
    hs_config_t c;
    int problems = hs_config_load(&c, env, true);
    FUZZ_CHECK(problems >= 0 && problems <= lines);
    check_ranges(&c);
    hs_config_print(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        hs_log_set_fd(open("/dev/null", O_WRONLY | O_CLOEXEC)); /* the warnings are expected */
        quiet = 1;
    }
    if (size == 0 || size > MAX_TEXT)
        return 0;
    char text[MAX_TEXT + 1];
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    size_t n;
    const hs_option_t *opts = hs_config_options(&n);
    if (data[0] == 0xff)
        load(text);
    else if (data[0] == 0xfe)
        (void)hs_config_find(text);
    else
        set_one(&opts[data[0] % n], text);
    return 0;
}
