/*
 * memory_parts.c - a profile's memory breakdown (analysis/breakdown.h) as the CLI shows it:
 * the lines under report's header, the "memory" object of report --json, the HTML table, and
 * the audit's one-line verdict. Single-threaded; writes to the stream it is given.
 */
#include <math.h>
#include <string.h>

#include "analysis.h"

/* The audit in one sentence, into buf ("" when there is no allocator figure). */
const char *hs_cli_fmt_audit(char *buf, size_t len, const hs_breakdown_t *b)
{
    const hs_reconcile_t *p = &b->parts;
    buf[0] = '\0';
    if (!b->in.has_alloc_inuse) {
        if (b->allocator[0])
            snprintf(buf, len, "no audit: %s gives no in-use figure", b->allocator);
        return buf;
    }
    if (p->audit == HS_AUDIT_NONE) {
        snprintf(buf, len, "no audit: too little heap to judge");
        return buf;
    }
    snprintf(buf, len, "audit: the profile sees %.0f%% \u00b1 %.0f%% of what %s reports in use%s",
             100 * p->ratio, 100 * p->band, b->allocator,
             p->audit == HS_AUDIT_LOW ? ": allocations bypass the profiler's hooks (a statically "
                                        "linked or private allocator, or a private entry point)"
             : p->audit == HS_AUDIT_HIGH ? ": frees bypass the profiler's hooks"
                                         : "");
    return buf;
}

/* One part per line: name, value, error (< 0: none), note. */
typedef struct part {
    const char *name;
    double value, err;
    const char *note;
} part_t;

static size_t parts_of(const hs_breakdown_t *b, part_t *out)
{
    const hs_reconcile_t *p = &b->parts;
    const hs_reconcile_in_t *in = &b->in;
    size_t n = 0;
    out[n++] = (part_t){"file-backed and shared", p->file, -1, "code, mapped files, shm"};
    out[n++] = (part_t){"heap (sampled)", p->heap, in->heap_stderr, "live blocks, requested"};
    if (in->has_alloc_inuse) {
        out[n++] = (part_t){"allocator overhead", p->overhead, -1, "headers, size classes"};
        out[n++] =
            (part_t){"heap not sampled", p->unseen, in->usable_stderr,
                     p->audit == HS_AUDIT_LOW ? "bypasses the hooks" : "noise, early blocks"};
        out[n++] = (part_t){"allocator free", p->free, -1, "kept after free: fragmentation"};
    }
    out[n++] = (part_t){"direct mmap (sampled)", p->mmap, in->mmap_stderr, "allocator=mmap rows"};
    if (in->stacks)
        out[n++] = (part_t){"thread stacks", p->stacks, -1, "resident pages of stacks"};
    out[n++] = (part_t){"the profiler", p->profiler, -1, "tables, caches"};
    out[n++] =
        (part_t){"unattributed", p->unattributed, -1, "anonymous memory none of these explains"};
    return n;
}

void hs_cli_print_breakdown(FILE *f, const hs_breakdown_t *b)
{
    char v[32], e[32], line[512];
    if (!b->known)
        return;
    if (b->in.has_rss)
        fprintf(f, "  memory: RSS %s (from /proc %s)%s%s\n",
                hs_cli_fmt_value(v, sizeof v, (double)b->in.rss, "bytes"), b->rss_source,
                b->allocator[0] ? ", allocator " : "", b->allocator);
    part_t parts[12];
    size_t n = parts_of(b, parts);
    for (size_t i = 0; i < n; i++) {
        if (!b->in.has_rss && strcmp(parts[i].name, "unattributed") == 0)
            continue;
        if (parts[i].err >= 0)
            snprintf(e, sizeof e, "\u00b1 %s",
                     hs_cli_fmt_value(e + 8, sizeof e - 8, parts[i].err, "bytes"));
        else
            e[0] = '\0';
        /* "\u00b1" is two bytes and one column. */
        fprintf(f, "    %-24s %10s %-*s %s\n", parts[i].name,
                hs_cli_fmt_value(v, sizeof v, parts[i].value, "bytes"), e[0] ? 15 : 14, e,
                parts[i].note);
    }
    if (b->brk)
        fprintf(f, "    (the program grew its break by %s with sbrk: counted, not attributed)\n",
                hs_cli_fmt_value(v, sizeof v, (double)b->brk, "bytes"));
    if (hs_cli_fmt_audit(line, sizeof line, b)[0])
        fprintf(f, "  %s\n", line);
}

static void member(FILE *f, const char *key, double v, int *first)
{
    fprintf(f, "%s\"%s\": ", *first ? "" : ", ", key);
    hs_cli_json_number(f, v);
    *first = 0;
}

void hs_cli_json_breakdown(FILE *f, const hs_breakdown_t *b)
{
    const hs_reconcile_t *p = &b->parts;
    const hs_reconcile_in_t *in = &b->in;
    fprintf(f, ", \"memory\": ");
    if (!b->known) {
        fprintf(f, "null");
        return;
    }
    int first = 1;
    fprintf(f, "{");
    member(f, "rss_bytes", in->has_rss ? (double)in->rss : NAN, &first);
    member(f, "file_bytes", in->has_rss ? p->file : NAN, &first);
    member(f, "heap_inuse_bytes", in->heap, &first);
    member(f, "heap_inuse_stderr", in->heap_stderr, &first);
    member(f, "allocator_inuse_bytes", in->has_alloc_inuse ? (double)in->alloc_inuse : NAN, &first);
    bool free_known = in->has_alloc_inuse;
    member(f, "allocator_overhead_bytes", free_known ? p->overhead : NAN, &first);
    member(f, "heap_unsampled_bytes", in->has_alloc_inuse ? p->unseen : NAN, &first);
    member(f, "allocator_free_bytes", free_known ? p->free : NAN, &first);
    member(f, "mmap_inuse_bytes", in->mmap, &first);
    member(f, "mmap_inuse_stderr", in->mmap_stderr, &first);
    member(f, "thread_stacks_bytes", in->stacks ? p->stacks : NAN, &first);
    member(f, "profiler_bytes", p->profiler, &first);
    member(f, "unattributed_bytes", in->has_rss ? p->unattributed : NAN, &first);
    member(f, "brk_bytes", (double)b->brk, &first);
    fprintf(f, ", \"allocator\": ");
    if (b->allocator[0])
        hs_cli_json_string(f, b->allocator);
    else
        fprintf(f, "null");
    fprintf(f, ", \"audit\": ");
    hs_cli_json_string(f, hs_reconcile_audit_name(p->audit));
    member(f, "audit_ratio", p->audit != HS_AUDIT_NONE ? p->ratio : NAN, &first);
    member(f, "audit_band", p->audit != HS_AUDIT_NONE ? p->band : NAN, &first);
    fprintf(f, "}");
}

void hs_cli_html_breakdown(hs_html_t *h, const hs_breakdown_t *b)
{
    char v[32], e[32], line[512];
    if (!b->known)
        return;
    if (b->in.has_rss)
        hs_html_text(h, "meta", "memory: RSS %s%s%s",
                     hs_cli_fmt_value(v, sizeof v, (double)b->in.rss, "bytes"),
                     b->allocator[0] ? ", allocator " : "", b->allocator);
    const char *header[] = {"part of RSS", "bytes", "\u00b1 1 sigma", "what it is"};
    hs_html_table_begin(h, header, 4);
    part_t parts[12];
    size_t n = parts_of(b, parts);
    for (size_t i = 0; i < n; i++) {
        const char *cells[] = {
            parts[i].name, hs_cli_fmt_value(v, sizeof v, parts[i].value, "bytes"),
            parts[i].err >= 0 ? hs_cli_fmt_value(e, sizeof e, parts[i].err, "bytes") : "",
            parts[i].note};
        hs_html_table_row(h, NULL, cells, 4);
    }
    hs_html_table_end(h);
    if (hs_cli_fmt_audit(line, sizeof line, b)[0])
        hs_html_text(h, "meta", "%s", line);
}
