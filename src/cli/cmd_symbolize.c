/*
 * cmd_symbolize.c - `heapsampler symbolize IN OUT [--debug-dir DIR]... [--functions]
 * [FILE|DIR]...`: name the frames of a profile offline, from local binaries and debug files.
 *
 * For a profile written where names could not be had (HEAPSAMPLER_SYMBOLIZE=none, stripped
 * binaries, a library whose file was gone), or to add lines and inlined callers to a profile
 * written at the `functions` level. Each mapping of IN is matched with a local file:
 *   1. a FILE given (or an ELF file found under a DIR given, recursively) with the mapping's
 *      GNU build ID;
 *   2. a FILE/DIR entry with the mapping file's base name, if its build ID matches (or either
 *      has none);
 *   3. the mapping's own path, under the same condition;
 *   4. a separate debug file <debug-dir>/.build-id/xx/yyyy.debug (it has the symbols and the
 *      DWARF, at the same addresses).
 * When DEBUGINFOD_URLS names a server and the file found lacks what the level needs (no
 * .symtab, or no DWARF for lines, in itself or in a separate debug file), the debug file is
 * fetched by build ID from debuginfod (debuginfod_client.h, with its cache); the program
 * headers still come from the binary when there is one.
 * The matched file is symbolized with the same symbolizer the library uses (symbolize.h), at
 * level `lines` unless --functions is given, without a memory budget; its separate debug file is
 * searched in the --debug-dir directories (default /usr/lib/debug). Locations of a matched
 * mapping are (re)symbolized when they have no line, or when the mapping has no line numbers
 * and the level is `lines`; every other location is copied as it is. The output keeps every
 * sample, value, label and comment; its compression follows OUT's name (hs_compress_for_name:
 * .zst zstd, .pb none, anything else gzip) and it is written atomically (output.h).
 *
 * The runtime address of a location maps to the file through the mapping: file offset =
 * address - memory_start + file_offset, then the PT_LOAD segment holding that offset gives the
 * ELF virtual address, so the bias is memory_start - file_offset + p_offset - p_vaddr.
 *
 * Exit status: 0 (also when some mappings found no file: they are listed), 1 when IN cannot be
 * read or OUT cannot be written, 2 for usage errors. Single-threaded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "compress.h"
#include "config.h"
#include "debuginfo.h"
#include "debuginfod_client.h"
#include "keymap.h"
#include "output.h"
#include "pprof_file.h"
#include "pprof_reader.h"
#include "symbolize.h"

#define CMD       "symbolize"
#define MAX_DEPTH 8

typedef struct sym_args {
    const char *in, *out;
    const char **dirs; /* --debug-dir, NULL-terminated */
    size_t ndirs;
    char *const *paths; /* FILE|DIR */
    size_t npaths;
    bool functions;
    hs_debuginfod_client_t *debuginfod; /* when DEBUGINFOD_URLS names a server */
} sym_args_t;

typedef struct candidate {
    char *path;
    char build_id[HS_BUILD_ID_HEX_MAX];
} candidate_t;

typedef struct candidates {
    candidate_t *v;
    size_t n, cap;
} candidates_t;

enum { OPT_DEBUG_DIR = 1, OPT_FUNCTIONS };

static hs_err_t take(void *ctx, const hs_cli_option_t *opt, const char *value, char *why,
                     size_t why_len)
{
    sym_args_t *a = ctx;
    if (opt->id == OPT_FUNCTIONS) {
        a->functions = true;
        return HS_OK;
    }
    if (!value[0]) {
        hs_reason(why, why_len, "needs a directory");
        return HS_ERR_INVALID;
    }
    a->dirs[a->ndirs++] = value; /* no more than argc of them: dirs has room */
    return HS_OK;
}

/* ---- local files ------------------------------------------------------------------------- */

/* The GNU build ID of an ELF file; 0 if path is not a readable ELF file. */
static int elf_build_id(const char *path, char out[HS_BUILD_ID_HEX_MAX])
{
    out[0] = '\0';
    int fd = hs_debuginfo_open(path, NULL);
    if (fd < 0)
        return 0;
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    int ok = elf && elf_kind(elf) == ELF_K_ELF;
    if (ok)
        hs_debuginfo_build_id(elf, out);
    if (elf)
        elf_end(elf);
    close(fd);
    return ok;
}

static int add_candidate(candidates_t *c, const char *path)
{
    char bid[HS_BUILD_ID_HEX_MAX];
    if (!elf_build_id(path, bid))
        return 0;
    if (hs_array_reserve((void **)&c->v, &c->cap, c->n + 1, sizeof *c->v, 16) != HS_OK)
        return -1;
    candidate_t *e = &c->v[c->n];
    e->path = strdup(path);
    if (!e->path)
        return -1;
    memcpy(e->build_id, bid, sizeof bid);
    c->n++;
    return 0;
}

/* Every ELF file under dir (symbolic links to directories are not followed). */
static int scan_dir(candidates_t *c, const char *dir, int depth)
{
    if (depth > MAX_DEPTH)
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        char *p = malloc(len);
        if (!p) {
            rc = -1;
            break;
        }
        snprintf(p, len, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rc = scan_dir(c, p, depth + 1);
        else if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
            rc = add_candidate(c, p);
        free(p);
    }
    closedir(d);
    return rc;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int ids_compatible(const char *a, const char *b)
{
    return !a[0] || !b[0] || strcmp(a, b) == 0;
}

/* A local file for a mapping (see the file comment); malloc'd path, or NULL. */
static char *find_file(const candidates_t *c, const char *file, const char *build_id,
                       const sym_args_t *a)
{
    for (size_t i = 0; build_id[0] && i < c->n; i++)
        if (strcmp(c->v[i].build_id, build_id) == 0)
            return strdup(c->v[i].path);
    for (size_t i = 0; file[0] && i < c->n; i++)
        if (strcmp(base_name(c->v[i].path), base_name(file)) == 0 &&
            ids_compatible(c->v[i].build_id, build_id))
            return strdup(c->v[i].path);
    char bid[HS_BUILD_ID_HEX_MAX];
    if (file[0] == '/' && elf_build_id(file, bid) && ids_compatible(bid, build_id))
        return strdup(file);
    size_t blen = strlen(build_id);
    for (size_t i = 0; blen > 2 && i < a->ndirs; i++) {
        size_t len = strlen(a->dirs[i]) + blen + 32;
        char *p = malloc(len);
        if (!p)
            return NULL;
        snprintf(p, len, "%s/.build-id/%.2s/%s.debug", a->dirs[i], build_id, build_id + 2);
        if (elf_build_id(p, bid) && strcmp(bid, build_id) == 0)
            return p;
        free(p);
    }
    return NULL;
}

/*
 * The module of a mapping in local file path: the bias from the PT_LOAD segment that holds the
 * mapping's file offset. A separate debug file keeps the program headers of its binary but not
 * their contents, and objcopy rewrites their offsets: there the segment is the one whose
 * memory, from its first page, is as long as the mapping (the library writes start = bias +
 * p_vaddr rounded down to the page, limit = bias + p_vaddr + p_memsz). Returns 0 if the file
 * has no such segment.
 */
static int local_module(const char *path, const hs_pb_mapping_t *m, const char *build_id,
                        hs_module_t *out)
{
    int fd = hs_debuginfo_open(path, NULL);
    if (fd < 0)
        return 0;
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    size_t phnum = 0;
    int found = 0;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    if (elf && elf_kind(elf) == ELF_K_ELF && elf_getphdrnum(elf, &phnum) == 0) {
        for (int pass = 0; pass < 2 && !found; pass++) {
            for (size_t i = 0; i < phnum && !found; i++) {
                GElf_Phdr ph;
                if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
                    continue;
                uint64_t first = ph.p_vaddr & ~(page - 1);
                memset(out, 0, sizeof *out);
                if (pass == 0) { /* the file's own contents */
                    uint64_t lo = ph.p_offset & ~(page - 1);
                    if (ph.p_filesz == 0 || m->file_offset < lo ||
                        m->file_offset >= ph.p_offset + ph.p_memsz)
                        continue;
                    out->bias =
                        (uintptr_t)(m->memory_start - m->file_offset + ph.p_offset - ph.p_vaddr);
                } else { /* a debug file: by the length of the segment's memory */
                    if (ph.p_vaddr + ph.p_memsz - first != m->memory_limit - m->memory_start)
                        continue;
                    out->bias = (uintptr_t)(m->memory_start - first);
                }
                found = 1;
            }
        }
    }
    if (elf)
        elf_end(elf);
    close(fd);
    if (!found)
        return 0;
    out->path = (char *)path;
    out->start = (uintptr_t)m->memory_start;
    out->limit = (uintptr_t)m->memory_limit;
    out->file_offset = m->file_offset;
    snprintf(out->build_id, sizeof out->build_id, "%s", build_id);
    out->record = HS_MODULES_NO_RECORD;
    return 1;
}

/* ---- the new tables ------------------------------------------------------------------------ */

typedef struct rewrite {
    /* strings: the profile's, then new ones (owned by the symbolizer or this table) */
    char **strs;
    size_t nstrs, strs_cap;
    hs_keymap_t str_map; /* first index of each distinct string */
    /* functions: the profile's, then new ones */
    hs_pb_function_t **funcs;
    size_t nfuncs, funcs_cap;
    hs_pb_function_t *new_funcs; /* chunk of new functions */
    size_t nnew_funcs;
    hs_keymap_t func_map; /* new functions by (name, system_name, filename) */
    uint64_t next_func_id;
} rewrite_t;

static uint64_t func_hash(int64_t name, int64_t sys, int64_t file)
{
    return hs_mix64((uint64_t)name ^ (uint64_t)sys << 21 ^ (uint64_t)file << 42);
}

static bool str_eq(const void *ctx, size_t index, const void *key)
{
    return strcmp(((const rewrite_t *)ctx)->strs[index], key) == 0;
}

/* Append s (hash h) to the table; index it for lookups when it is the first of its kind. */
static int str_append(rewrite_t *r, const char *s, uint64_t h, bool first, size_t *index)
{
    if (hs_array_reserve((void **)&r->strs, &r->strs_cap, r->nstrs + 1, sizeof *r->strs, 64))
        return -1;
    r->strs[r->nstrs] = (char *)s;
    *index = r->nstrs++;
    return !first || hs_keymap_insert(&r->str_map, h, *index) == HS_OK ? 0 : -1;
}

static int str_index(rewrite_t *r, const char *s, int64_t *idx)
{
    if (!s)
        s = "";
    uint64_t h = hs_hash_str(s);
    size_t i = hs_keymap_find(&r->str_map, h, str_eq, r, s);
    if (i == HS_KEYMAP_NONE && str_append(r, s, h, true, &i) != 0)
        return -1;
    *idx = (int64_t)i;
    return 0;
}

static int rewrite_init(rewrite_t *r, const hs_pb_profile_t *pb, size_t extra_funcs)
{
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < pb->n_string_table; i++) {
        /* Keep every index of the original table, duplicates included; lookups find the first. */
        const char *str = pb->string_table[i];
        uint64_t h = hs_hash_str(str);
        bool first = hs_keymap_find(&r->str_map, h, str_eq, r, str) == HS_KEYMAP_NONE;
        size_t index;
        if (str_append(r, str, h, first, &index) != 0)
            return -1;
    }
    r->funcs_cap = pb->n_function + extra_funcs + 1;
    r->funcs = calloc(r->funcs_cap, sizeof *r->funcs);
    r->new_funcs = calloc(extra_funcs + 1, sizeof *r->new_funcs);
    if (!r->funcs || !r->new_funcs)
        return -1;
    for (size_t i = 0; i < pb->n_function; i++) {
        r->funcs[r->nfuncs++] = pb->function[i];
        if (pb->function[i]->id >= r->next_func_id)
            r->next_func_id = pb->function[i]->id + 1;
    }
    if (r->next_func_id == 0)
        r->next_func_id = 1;
    return 0;
}

static void rewrite_free(rewrite_t *r)
{
    free(r->strs);
    hs_keymap_free(&r->str_map);
    free(r->funcs);
    free(r->new_funcs);
    hs_keymap_free(&r->func_map);
}

static bool func_eq(const void *ctx, size_t index, const void *key)
{
    const hs_pb_function_t *g = ((const rewrite_t *)ctx)->funcs[index];
    const int64_t *k = key;
    return g->name == k[0] && g->system_name == k[1] && g->filename == k[2];
}

/* The id of a new function (name, system_name, filename), created once. */
static int func_id(rewrite_t *r, const hs_symframe_t *f, uint64_t *id)
{
    int64_t name, sys, file;
    if (str_index(r, f->name, &name) || str_index(r, f->system_name, &sys) ||
        str_index(r, f->file, &file))
        return -1;
    const int64_t key[3] = {name, sys, file};
    uint64_t h = func_hash(name, sys, file);
    size_t i = hs_keymap_find(&r->func_map, h, func_eq, r, key);
    if (i != HS_KEYMAP_NONE) {
        *id = r->funcs[i]->id;
        return 0;
    }
    if (r->nfuncs >= r->funcs_cap)
        return -1; /* sized in advance: cannot happen */
    hs_pb_function_t *g = &r->new_funcs[r->nnew_funcs++];
    perftools__profiles__function__init(g);
    g->id = r->next_func_id++;
    g->name = name;
    g->system_name = sys;
    g->filename = file;
    r->funcs[r->nfuncs] = g;
    if (hs_keymap_insert(&r->func_map, h, r->nfuncs++) != HS_OK)
        return -1;
    *id = g->id;
    return 0;
}

/* ---- the command --------------------------------------------------------------------------- */

typedef struct job {
    hs_pprof_t prof;
    candidates_t cands;
    hs_module_t *mods; /* per mapping; path NULL = no local file */
    /* the locations being symbolized: nwork of them */
    const hs_module_t **loc_mods;
    uintptr_t *addrs;
    size_t *loc_index;
    size_t nwork;
    hs_symloc_t *res;
    /* their new lines, installed in the decoded message for the first ninstalled of them */
    Perftools__Profiles__Line *lines;
    Perftools__Profiles__Line **line_ptrs;
    size_t ninstalled;
    /* the originals, put back before the message is freed (it owns them, not the new ones) */
    size_t *orig_nline;
    Perftools__Profiles__Line ***orig_line;
} job_t;

/* Give the decoded message its own lines back; safe to call again. */
static void job_restore_lines(job_t *j)
{
    for (size_t k = 0; k < j->ninstalled; k++) {
        if (j->res[k].n == 0)
            continue;
        hs_pb_location_t *l = j->prof.pb->location[j->loc_index[k]];
        l->n_line = j->orig_nline[j->loc_index[k]];
        l->line = j->orig_line[j->loc_index[k]];
    }
    j->ninstalled = 0;
}

static void job_free(job_t *j)
{
    job_restore_lines(j);
    for (size_t i = 0; i < j->cands.n; i++)
        free(j->cands.v[i].path);
    free(j->cands.v);
    if (j->mods)
        for (size_t i = 0; i < j->prof.pb->n_mapping; i++)
            free(j->mods[i].path);
    free(j->mods);
    free(j->loc_mods);
    free(j->addrs);
    free(j->loc_index);
    free(j->res);
    free(j->lines);
    free(j->line_ptrs);
    free(j->orig_nline);
    free(j->orig_line);
    hs_pprof_free(&j->prof);
}

/* Arrays per mapping and per location; -1 when out of memory. */
static int job_alloc(job_t *j)
{
    const hs_pb_profile_t *pb = j->prof.pb;
    size_t nl = pb->n_location + 1;
    j->mods = calloc(pb->n_mapping + 1, sizeof *j->mods);
    j->loc_mods = calloc(nl, sizeof *j->loc_mods);
    j->addrs = calloc(nl, sizeof *j->addrs);
    j->loc_index = calloc(nl, sizeof *j->loc_index);
    j->res = calloc(nl, sizeof *j->res);
    j->orig_nline = calloc(nl, sizeof *j->orig_nline);
    j->orig_line = calloc(nl, sizeof *j->orig_line);
    return j->mods && j->loc_mods && j->addrs && j->loc_index && j->res && j->orig_nline &&
                   j->orig_line
               ? 0
               : -1;
}

/* The FILE|DIR operands as candidates (a missing one is said, not fatal); -1 out of memory. */
static int job_gather_candidates(job_t *j, const sym_args_t *a)
{
    for (size_t i = 0; i < a->npaths; i++) {
        struct stat st;
        if (stat(a->paths[i], &st) != 0) {
            fprintf(stderr, "heapsampler symbolize: %s: %s\n", a->paths[i], strerror(errno));
            continue;
        }
        int r = S_ISDIR(st.st_mode) ? scan_dir(&j->cands, a->paths[i], 0)
                                    : add_candidate(&j->cands, a->paths[i]);
        if (r < 0)
            return -1;
    }
    return 0;
}

/* Does the ELF file at path have what the level needs (.symtab; DWARF for lines), in itself
 * or in a separate debug file of the --debug-dir directories? */
static bool has_debug_info(const char *path, const char *build_id, const sym_args_t *a)
{
    int fd = path ? hs_debuginfo_open(path, NULL) : -1;
    if (fd < 0)
        return false;
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    bool symtab = false, dwarf = false;
    size_t shstrndx;
    if (elf && elf_kind(elf) == ELF_K_ELF && elf_getshdrstrndx(elf, &shstrndx) == 0) {
        for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn)) != NULL;) {
            GElf_Shdr sh;
            const char *name =
                gelf_getshdr(scn, &sh) ? elf_strptr(elf, shstrndx, sh.sh_name) : NULL;
            if (!name || sh.sh_type == SHT_NOBITS)
                continue;
            symtab |= sh.sh_type == SHT_SYMTAB;
            dwarf |= strcmp(name, ".debug_info") == 0;
        }
    }
    bool enough = symtab && (dwarf || a->functions);
    char *separate = NULL;
    if (!enough && elf && hs_debuginfo_find(elf, path, build_id, a->dirs, &separate) == HS_OK)
        enough = true;
    free(separate);
    if (elf)
        elf_end(elf);
    close(fd);
    return enough;
}

/*
 * The debug file of a mapping from a debuginfod server, when the local file (NULL: none) lacks
 * what the level needs; NULL otherwise. After one server could not be asked, no other mapping
 * asks (each would wait as long); what the servers lack is listed once, at the end.
 */
static char *from_debuginfod(sym_args_t *a, const char *file, const char *build_id,
                             const char *local, char *missing, size_t missing_len)
{
    if (!a->debuginfod || !build_id[0] || file[0] == '[' || has_debug_info(local, build_id, a))
        return NULL;
    char why[512], *path = NULL;
    hs_err_t err = hs_debuginfod_client_find(a->debuginfod, build_id, &path, why, sizeof why);
    if (err == HS_OK)
        return path;
    if (err == HS_ERR_NOTFOUND) {
        size_t n = strlen(missing);
        snprintf(missing + n, missing_len - n, "%s%s", n ? ", " : "", base_name(file));
        return NULL;
    }
    fprintf(stderr,
            "heapsampler symbolize: no debug file for %s build ID %s from debuginfod: %s (not "
            "asking for the other files)\n",
            file, build_id, why);
    hs_debuginfod_client_close(a->debuginfod);
    a->debuginfod = NULL;
    return NULL;
}

/*
 * Match mappings with local files; returns how many matched, *fetched how many of them with a
 * debug file from debuginfod. The program headers come from the binary when there is one (a
 * debug file's offsets are rewritten), the names and lines from the debug file.
 */
static size_t match_mappings(job_t *j, sym_args_t *a, size_t *fetched)
{
    const hs_pb_profile_t *pb = j->prof.pb;
    size_t matched = 0;
    char missing[1024] = "";
    const char *urls = a->debuginfod ? hs_debuginfod_client_urls(a->debuginfod) : "";
    for (size_t i = 0; i < pb->n_mapping; i++) {
        const hs_pb_mapping_t *m = pb->mapping[i];
        const char *file = hs_pprof_str(&j->prof, m->filename);
        const char *bid = hs_pprof_str(&j->prof, m->build_id);
        char *local = find_file(&j->cands, file, bid, a);
        char *debug = from_debuginfod(a, file, bid, local, missing, sizeof missing);
        if ((local || debug) && local_module(local ? local : debug, m, bid, &j->mods[i])) {
            matched++;
            *fetched += debug != NULL;
            j->mods[i].path = debug ? debug : local;
            if (debug)
                free(local);
        } else {
            free(local);
            free(debug);
            memset(&j->mods[i], 0, sizeof j->mods[i]);
            if (file[0] && file[0] != '[')
                fprintf(stderr, "heapsampler symbolize: no local file for %s%s%s\n", file,
                        bid[0] ? " build ID " : "", bid);
        }
    }
    if (missing[0])
        fprintf(stderr, "heapsampler symbolize: no debug file on %s for %s\n", urls, missing);
    return matched;
}

/*
 * The locations to (re)symbolize: those of a matched mapping that have no line, or no line
 * numbers when the level asks for them.
 */
static void job_select_locations(job_t *j, int level)
{
    const hs_pb_profile_t *pb = j->prof.pb;
    for (size_t i = 0; i < pb->n_location; i++) {
        const hs_pb_location_t *l = pb->location[i];
        const hs_pb_mapping_t *m = hs_pprof_mapping(&j->prof, l->mapping_id);
        if (!m)
            continue;
        size_t mi = 0;
        while (pb->mapping[mi] != m)
            mi++;
        if (!j->mods[mi].path)
            continue;
        if (l->n_line > 0 && (m->has_line_numbers || level < HS_SYMBOLIZE_LINES))
            continue;
        j->loc_mods[j->nwork] = &j->mods[mi];
        j->addrs[j->nwork] = (uintptr_t)l->address;
        j->loc_index[j->nwork] = i;
        j->nwork++;
    }
}

/*
 * Install the symbolizer's frames as the lines of their locations (functions and strings go
 * into rw), and say on their mappings what they now have. *named gets the locations named;
 * -1 when out of memory.
 */
static int job_install_lines(job_t *j, rewrite_t *rw, size_t *named)
{
    hs_pb_profile_t *pb = j->prof.pb;
    size_t nframes = 0, used = 0;
    for (size_t k = 0; k < j->nwork; k++)
        nframes += j->res[k].n;
    if (rewrite_init(rw, pb, nframes) != 0)
        return -1;
    j->lines = calloc(nframes + 1, sizeof *j->lines);
    j->line_ptrs = calloc(nframes + 1, sizeof *j->line_ptrs);
    if (!j->lines || !j->line_ptrs)
        return -1;
    *named = 0;
    for (size_t k = 0; k < j->nwork; k++) {
        const hs_symloc_t *res = &j->res[k];
        if (res->n == 0)
            continue;
        hs_pb_location_t *l = pb->location[j->loc_index[k]];
        Perftools__Profiles__Line **ptrs = &j->line_ptrs[used];
        for (uint32_t f = 0; f < res->n; f++) {
            Perftools__Profiles__Line *line = &j->lines[used];
            perftools__profiles__line__init(line);
            if (func_id(rw, &res->frames[f], &line->function_id) != 0)
                return -1;
            line->line = res->frames[f].line;
            j->line_ptrs[used++] = line;
        }
        j->orig_nline[j->loc_index[k]] = l->n_line;
        j->orig_line[j->loc_index[k]] = l->line;
        l->n_line = res->n;
        l->line = ptrs;
        j->ninstalled = k + 1;
        (*named)++;
        hs_pb_mapping_t *m = (hs_pb_mapping_t *)hs_pprof_mapping(&j->prof, l->mapping_id);
        m->has_functions = 1;
        for (uint32_t f = 0; f < res->n; f++) {
            m->has_filenames |= res->frames[f].file != NULL;
            m->has_line_numbers |= res->frames[f].line != 0;
            m->has_inline_frames |= res->frames[f].line != 0;
        }
    }
    return 0;
}

/* Pack the profile with rw's strings and functions; the decoded message keeps its own. */
static hs_err_t job_pack(job_t *j, const rewrite_t *rw, int method, uint8_t **data, size_t *len)
{
    hs_pb_profile_t *pb = j->prof.pb;
    size_t old_nstr = pb->n_string_table, old_nfunc = pb->n_function;
    char **old_strs = pb->string_table;
    hs_pb_function_t **old_funcs = pb->function;
    pb->string_table = rw->strs;
    pb->n_string_table = rw->nstrs;
    pb->function = rw->funcs;
    pb->n_function = rw->nfuncs;
    hs_err_t err = hs_pprof_pack(pb, method, data, len);
    pb->string_table = old_strs;
    pb->n_string_table = old_nstr;
    pb->function = old_funcs;
    pb->n_function = old_nfunc;
    return err;
}

static int run(sym_args_t *a)
{
    job_t j;
    memset(&j, 0, sizeof j);
    char why[256] = "";
    if (hs_pprof_read_file(a->in, &j.prof, why, sizeof why) != HS_OK) {
        hs_cli_error(CMD, "cannot read %s: %s", a->in, why);
        return 1;
    }
    const hs_pb_profile_t *pb = j.prof.pb;
    int rc = HS_CLI_EXIT_FAILURE,
        level = a->functions ? HS_SYMBOLIZE_FUNCTIONS : HS_SYMBOLIZE_LINES;
    hs_symbolizer_t *sym = NULL;
    hs_symbolizer_config_t cfg = {
        .level = level, .debug_dirs = a->dirs, .budget = SIZE_MAX, .dwarf_max = SIZE_MAX};
    rewrite_t rw;
    memset(&rw, 0, sizeof rw);
    uint8_t *data = NULL;
    size_t data_len = 0, matched = 0, named = 0, fetched = 0;

    if (elf_version(EV_CURRENT) == EV_NONE)
        goto out;
    if (job_gather_candidates(&j, a) != 0 || job_alloc(&j) != 0)
        goto fail_nomem;
    matched = match_mappings(&j, a, &fetched);
    job_select_locations(&j, level);
    if (hs_symbolizer_new_config(&cfg, &sym) != HS_OK ||
        hs_symbolize_batch(sym, j.loc_mods, j.addrs, j.nwork, j.res) != HS_OK ||
        job_install_lines(&j, &rw, &named) != 0 ||
        job_pack(&j, &rw, hs_compress_for_name(a->out, NULL), &data, &data_len) != HS_OK)
        goto fail_nomem;
    if (hs_output_write_atomic(a->out, data, data_len) != HS_OK) {
        hs_cli_error(CMD, "cannot write %s: %s", a->out, strerror(errno));
        rc = 1;
        goto out;
    }
    char through[64] = "";
    if (fetched)
        snprintf(through, sizeof through, " (%zu through debuginfod)", fetched);
    fprintf(stderr,
            "heapsampler symbolize: %zu of %zu mappings matched%s, %zu of %zu locations named; "
            "wrote %s\n",
            matched, pb->n_mapping, through, named, pb->n_location, a->out);
    rc = 0;
    goto out;

fail_nomem:
    hs_cli_error(CMD, "out of memory");
out:
    free(data);
    job_free(&j); /* first: it gives the message its own lines back */
    rewrite_free(&rw);
    hs_symbolizer_free(sym);
    return rc;
}

static int symbolize_main(int argc, char **argv)
{
    sym_args_t a;
    int noperands, rc;
    memset(&a, 0, sizeof a);
    a.dirs = calloc((size_t)argc + 1, sizeof *a.dirs);
    if (!a.dirs) {
        hs_cli_error(CMD, "out of memory");
        return HS_CLI_EXIT_FAILURE;
    }
    bool ok = hs_cli_parse(&hs_cli_symbolize_command, argc, argv, take, &a, &noperands, &rc);
    if (ok && noperands < 2) {
        hs_cli_error(CMD, "needs an input and an output profile (see `heapsampler symbolize "
                          "--help`)");
        ok = false;
        rc = HS_CLI_EXIT_USAGE;
    }
    if (ok) {
        a.in = argv[1];
        a.out = argv[2];
        a.paths = argv + 3;
        a.npaths = (size_t)noperands - 2;
        if (a.ndirs == 0)
            a.dirs[a.ndirs++] = "/usr/lib/debug";
        char why[512];
        if (hs_debuginfod_client_open(&a.debuginfod, why, sizeof why) != HS_OK && why[0])
            fprintf(stderr, "heapsampler symbolize: not asking debuginfod: %s\n", why);
        rc = run(&a);
        hs_debuginfod_client_close(a.debuginfod);
    } else if (rc == HS_CLI_EXIT_USAGE) {
        /* The whole usage after the error: the operands' order is not guessable. */
        fputc('\n', stderr);
        hs_cli_help(&hs_cli_symbolize_command, stderr);
    }
    free(a.dirs);
    return rc;
}

static const hs_cli_option_t options[] = {
    {.name = "debug-dir",
     .arg = HS_CLI_VALUE,
     .metavar = "DIR",
     .id = OPT_DEBUG_DIR,
     .help = "where separate debug files are (DIR/.build-id/xx/yyyy.debug and .gnu_debuglink "
             "names); repeatable; default /usr/lib/debug"},
    {.name = "functions",
     .arg = HS_CLI_SWITCH,
     .id = OPT_FUNCTIONS,
     .help = "function names only (default: also file:line and inlined callers from DWARF)"},
};

const hs_cli_command_t hs_cli_symbolize_command = {
    .name = CMD,
    .synopsis = "IN OUT [--debug-dir DIR]... [--functions] [FILE|DIR]...",
    .summary = "Name a profile's frames offline from local binaries and debug files.",
    .description =
        "Name the frames of profile IN from local binaries and debug files; write OUT.\n"
        "FILE|DIR: binaries (or directories searched for them) to take symbols from, matched to "
        "the profile's mappings by GNU build ID, else by file name; the mappings' own paths are "
        "tried too. When DEBUGINFOD_URLS names debuginfod servers, the debug files that no "
        "local file provides are fetched from them by build ID (cached in "
        "DEBUGINFOD_CACHE_PATH, by default ~/.cache/debuginfod_client). OUT is gzip-compressed "
        "unless it ends in .zst (zstd) or .pb (none). Exit status: 0 (mappings without a local "
        "file are listed), 1 if IN cannot be read or OUT written, 2 for a usage error.",
    .options = options,
    .noptions = HS_ARRAY_LEN(options),
    .examples = "  heapsampler symbolize heapsampler.4242.0011.pb.gz named.pb.gz ./build/\n"
                "  heapsampler symbolize in.pb.gz out.pb.gz --debug-dir /srv/debug\n"
                "  DEBUGINFOD_URLS=https://debuginfod.debian.net heapsampler symbolize in.pb.gz "
                "out.pb.gz\n",
    .main = symbolize_main,
};
