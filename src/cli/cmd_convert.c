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
#include "pprof_reader.h"

#define CMD "convert"

static void usage(FILE *f)
{
    fprintf(f, "Usage: heapsampler convert [--compression gzip|zstd|none] IN OUT\n\n"
               "Rewrite the profile IN (gzip, zstd or plain pprof) as OUT, compressed as OUT's "
               "suffix says\n"
               "(.gz or .pprof gzip, .zst zstd, .pb plain) or as --compression says. \"-\" is "
               "standard input or output.\n"
               "A corrupt IN is an error (exit 2) and nothing is written.\n\n"
               "Examples:\n"
               "  heapsampler convert heapsampler.4242.0011.pb.zst heapsampler.4242.0011.pb.gz\n"
               "  heapsampler convert --compression zstd big.pb.gz - > big.pb.zst\n");
}

int hs_cli_convert(int argc, char **argv)
{
    const char *paths[2] = {NULL, NULL};
    size_t npaths = 0;
    int method = -1;
    bool options = true;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (options && strcmp(arg, "--") == 0) {
            options = false;
            continue;
        }
        if (options && (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)) {
            usage(stdout);
            return 0;
        }
        if (options && strncmp(arg, "--compression", 13) == 0 &&
            (arg[13] == '=' || arg[13] == '\0')) {
            const char *v = arg[13] == '=' ? arg + 14 : (i + 1 < argc ? argv[++i] : "");
            const hs_option_t *opt = hs_config_find("COMPRESSION"); /* its names */
            method = -1;
            for (int m = 0; opt->choices[m]; m++)
                if (strcmp(v, opt->choices[m]) == 0)
                    method = m;
            if (method < 0) {
                hs_cli_error(CMD, "--compression needs gzip, zstd or none");
                return HS_CLI_EXIT_USAGE;
            }
            continue;
        }
        if (options && arg[0] == '-' && arg[1] != '\0') {
            hs_cli_error(CMD, "unknown option %s (see `heapsampler convert --help`)", arg);
            return HS_CLI_EXIT_USAGE;
        }
        if (npaths < 2)
            paths[npaths] = arg;
        npaths++;
    }
    if (npaths != 2) {
        hs_cli_error(CMD, "needs exactly two file names, IN and OUT (see --help)");
        return HS_CLI_EXIT_USAGE;
    }
    const char *in = paths[0], *out = paths[1];
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
    int rc = 0;
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
