/*
 * cmd_convert.c - `heapsampler convert [--compression gzip|zstd|none] IN OUT`: rewrite a profile in
 * another compression.
 *
 * IN may be gzip, zstd or plain (detected by magic bytes) and is read strictly (pprof_reader.h):
 * a corrupt or truncated file, or one whose references do not hold, is a usage error (exit 2)
 * with one line naming the file and the reason, and nothing is written. OUT's compression is
 * --compression, else its suffix (hs_compress_for_name: .gz and .pprof gzip, .zst zstd, .pb
 * none); a name without one is refused rather than given the default, since a conversion is
 * about the format. OUT is written atomically with mode 0600 like the library's own files. "-"
 * is standard input or output.
 *
 * Single-threaded.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compress.h"
#include "config.h"
#include "output.h"
#include "pprof_file.h"
#include "pprof_reader.h"

#define CMD "convert"

enum { OPT_COMPRESSION = 1 };

/* --compression: one of HEAPSAMPLER_COMPRESSION's names. */
static hs_err_t take(void *ctx, const hs_cli_option_t *opt, const char *value, char *why,
                     size_t why_len)
{
    int *method = ctx;
    const hs_option_t *names = hs_config_find("COMPRESSION");
    (void)opt;
    for (int m = 0; names->choices[m]; m++) {
        if (strcmp(value, names->choices[m]) == 0) {
            *method = m;
            return HS_OK;
        }
    }
    hs_reason(why, why_len, "not one of gzip, zstd, none");
    return HS_ERR_INVALID;
}

static int convert_main(int argc, char **argv)
{
    int method = -1, noperands, rc;
    if (!hs_cli_parse(&hs_cli_convert_command, argc, argv, take, &method, &noperands, &rc))
        return rc;
    if (noperands != 2) {
        hs_cli_error(CMD, "needs exactly two file names, IN and OUT (see --help)");
        return HS_CLI_EXIT_USAGE;
    }
    const char *in = argv[1], *out = argv[2];
    bool known = true;
    if (method < 0)
        method = (int)hs_compress_for_name(out, &known);
    if (!known) {
        hs_cli_error(CMD,
                     "%s: cannot tell the compression from the name (use .gz, .zst or .pb, or "
                     "--compression)",
                     out);
        return HS_CLI_EXIT_USAGE;
    }

    hs_pprof_t p;
    char why[256];
    if (hs_pprof_read_file(in, &p, why, sizeof why) != HS_OK) {
        hs_cli_error(CMD, "%s: %s", strcmp(in, "-") ? in : "standard input", why);
        return HS_CLI_EXIT_USAGE;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    hs_err_t err = hs_pprof_pack(p.pb, method, &data, &len);
    hs_pprof_free(&p);
    if (err != HS_OK) {
        hs_cli_error(CMD, "cannot encode %s: %s", out, hs_err_str(err));
        return HS_CLI_EXIT_FAILURE;
    }
    rc = 0;
    if (strcmp(out, "-") == 0) {
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
            hs_cli_error(CMD, "cannot write to standard output: %s", strerror(errno));
            rc = HS_CLI_EXIT_FAILURE;
        }
    } else if (hs_output_write_atomic(out, data, len) != HS_OK) {
        hs_cli_error(CMD, "cannot write %s: %s", out, strerror(errno));
        rc = HS_CLI_EXIT_FAILURE;
    }
    free(data);
    return rc;
}

static const hs_cli_option_t options[] = {
    {.name = "compression",
     .arg = HS_CLI_VALUE,
     .metavar = "gzip|zstd|none",
     .id = OPT_COMPRESSION,
     .help = "the compression of OUT, whatever its name"},
};

const hs_cli_command_t hs_cli_convert_command = {
    .name = CMD,
    .synopsis = "[--compression gzip|zstd|none] IN OUT",
    .summary = "Rewrite a profile as gzip, zstd or plain pprof.",
    .description =
        "Rewrite the profile IN (gzip, zstd or plain pprof) as OUT, compressed as OUT's suffix "
        "says (.gz or .pprof gzip, .zst zstd, .pb plain) or as --compression says. \"-\" is "
        "standard input or output. A corrupt IN is an error (exit 2) and nothing is written.",
    .options = options,
    .noptions = HS_ARRAY_LEN(options),
    .examples = "  heapsampler convert heapsampler.4242.0011.pb.zst heapsampler.4242.0011.pb.gz\n"
                "  heapsampler convert big.pb.gz - --compression zstd > big.pb.zst\n",
    .main = convert_main,
};
