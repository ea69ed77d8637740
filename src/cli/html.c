/*
 * html.c - the `--html OUT.html` report of leaks, report and diff: one self-contained file.
 *
 * Everything is inline: CSS in a <style> element, charts as inline SVG drawn here, the tables as
 * HTML tables; no script, no network reference, no web font (the system's sans-serif). Every
 * text that comes from a profile (site names, file names) is escaped. The page is built in
 * memory (open_memstream) and written to a temporary file of an unguessable name (output.h,
 * mode 0600 as the profiles it reports on), then renamed over OUT.html, so a reader never sees
 * half a report and a link planted in the directory is never followed.
 *
 * Charts: time series (total in-use with a 1 sigma band; the top sites' lines coloured by
 * verdict) with nice axis ticks in binary units; horizontal bars with 1 sigma whiskers for
 * report (value) and diff (change). Single-threaded.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis.h"
#include "output.h"

struct hs_html {
    const char *cmd;
    char *path;
    FILE *f;
    char *buf;
    size_t len;
};

static const char *const class_colour[HS_TREND_NCLASSES] = {
    "#9a9a9a", /* noise */
    "#2ca02c", /* stable */
    "#9467bd", /* transient */
    "#1f77b4", /* plateau */
    "#d62728", /* leak suspect */
};

const char *hs_html_class_colour(hs_trend_class_t c)
{
    return (unsigned)c < HS_TREND_NCLASSES ? class_colour[c] : "#000000";
}

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* A site name shortened for a chart label (the tables keep it whole). */
static void esc_short(FILE *f, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) {
        esc(f, s);
        return;
    }
    char buf[256];
    if (max > sizeof buf - 4)
        max = sizeof buf - 4;
    memcpy(buf, s, max - 1);
    strcpy(buf + max - 1, "\u2026");
    esc(f, buf);
}

static const char *style =
    "body{font-family:'DejaVu Sans',Arial,Helvetica,sans-serif;margin:24px 32px;color:#222;"
    "background:#fff}"
    "h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:22px 0 6px}"
    "p{margin:4px 0;font-size:14px}p.meta{color:#555}"
    "p.process{font-size:16px;font-weight:bold;margin-top:20px}"
    "p.verdict{font-weight:bold;font-size:15px}p.bad{color:#b71c1c}p.good{color:#1b5e20}"
    "figure{margin:12px 0}figcaption{font-size:13px;color:#555}"
    "svg text{font-family:'DejaVu Sans',Arial,Helvetica,sans-serif}"
    "table{border-collapse:collapse;font-size:13px;margin:8px 0 16px}"
    "th,td{padding:3px 10px;border-bottom:1px solid #e3e3e3;text-align:right;"
    "white-space:nowrap}"
    "th{background:#f3f3f3}td:last-child,th:last-child{text-align:left}"
    "td:first-child{font-weight:bold}"
    "tr.leak td:first-child,tr.plateau td:first-child,tr.transient td:first-child,"
    "tr.stable td:first-child,tr.noise td:first-child{text-align:left}"
    "tr.leak td:first-child{color:#d62728}tr.plateau td:first-child{color:#1f77b4}"
    "tr.transient td:first-child{color:#9467bd}tr.stable td:first-child{color:#2ca02c}"
    "tr.noise td:first-child{color:#9a9a9a}tr.grew td{color:#b71c1c}"
    ".legend span{display:inline-block;margin-right:18px;font-size:13px}"
    ".legend i{display:inline-block;width:14px;height:4px;margin-right:5px;vertical-align:middle}"
    "footer{margin-top:24px;font-size:12px;color:#888}";

hs_html_t *hs_html_open(const char *cmd, const char *path, const char *title)
{
    hs_html_t *h = calloc(1, sizeof *h);
    if (!h || !(h->path = strdup(path)) || !(h->f = open_memstream(&h->buf, &h->len))) {
        hs_cli_error(cmd, "out of memory");
        if (h)
            free(h->path);
        free(h);
        return NULL;
    }
    h->cmd = cmd;
    fprintf(h->f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                  "<title>");
    esc(h->f, title);
    fprintf(h->f, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", style);
    esc(h->f, title);
    fprintf(h->f, "</h1>\n");
    return h;
}

void hs_html_text(hs_html_t *h, const char *cls, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(h->f, "<p class=\"%s\">", cls);
    esc(h->f, buf);
    fprintf(h->f, "</p>\n");
}

int hs_html_close(hs_html_t *h)
{
    int rc = 0;
    fprintf(h->f,
            "<footer>Written by heapsampler %s. Errors are one standard error (1 sigma) "
            "of the sampling estimate.</footer>\n</body>\n</html>\n",
            HS_VERSION);
    if (fclose(h->f) != 0) {
        hs_cli_error(h->cmd, "out of memory");
        rc = HS_CLI_EXIT_FAILURE;
        goto out;
    }
    /* A temporary name no one can guess or plant a link at, then a rename (output.h). */
    if (hs_output_write_atomic(h->path, h->buf, h->len) != HS_OK) {
        hs_cli_error(h->cmd, "%s: %s", h->path, strerror(errno ? errno : EIO));
        rc = HS_CLI_EXIT_FAILURE;
    }
out:
    free(h->buf);
    free(h->path);
    free(h);
    return rc;
}

/* ---- tables ------------------------------------------------------------------------------ */

void hs_html_table_begin(hs_html_t *h, const char *const *header, size_t ncols)
{
    fprintf(h->f, "<table>\n<tr>");
    for (size_t i = 0; i < ncols; i++) {
        fprintf(h->f, "<th>");
        esc(h->f, header[i]);
        fprintf(h->f, "</th>");
    }
    fprintf(h->f, "</tr>\n");
}

void hs_html_table_row(hs_html_t *h, const char *row_class, const char *const *cells, size_t ncols)
{
    if (row_class)
        fprintf(h->f, "<tr class=\"%s\">", row_class);
    else
        fprintf(h->f, "<tr>");
    for (size_t i = 0; i < ncols; i++) {
        fprintf(h->f, "<td>");
        esc(h->f, cells[i]);
        fprintf(h->f, "</td>");
    }
    fprintf(h->f, "</tr>\n");
}

void hs_html_table_end(hs_html_t *h)
{
    fprintf(h->f, "</table>\n");
}

/* ---- axes -------------------------------------------------------------------------------- */

/* A tick step of 1, 2 or 5 times a power of ten, about (hi - lo) / 5. */
static double nice_step(double range)
{
    if (!(range > 0))
        return 1;
    double raw = range / 5, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/* Ticks for byte values: steps that are nice in the unit (KiB, MiB, ...) of the range. */
static double nice_value_step(double range, const char *unit)
{
    if (!unit || strcmp(unit, "bytes") != 0)
        return nice_step(range);
    double u = 1;
    while (range / u >= 1024 * 5 && u < 1e18)
        u *= 1024;
    return nice_step(range / u) * u;
}

typedef struct plot {
    double x0, y0, w, h; /* drawing area in SVG pixels */
    double xmin, xmax, ymin, ymax;
} plot_t;

static double px(const plot_t *p, double x)
{
    return p->x0 + (p->xmax > p->xmin ? (x - p->xmin) / (p->xmax - p->xmin) : 0.5) * p->w;
}

static double py(const plot_t *p, double y)
{
    return p->y0 + p->h - (p->ymax > p->ymin ? (y - p->ymin) / (p->ymax - p->ymin) : 0) * p->h;
}

static const char *fmt_seconds(char *buf, size_t len, double s, double span)
{
    const char *unit;
    double per = hs_cli_time_unit(span, &unit);
    snprintf(buf, len, "%g %s", s / per, unit);
    return buf;
}

static void axes(hs_html_t *h, const plot_t *p, const char *unit, const char *ylabel,
                 const char *xlabel)
{
    FILE *f = h->f;
    char buf[64];
    double ys = nice_value_step(p->ymax - p->ymin, unit);
    for (double y = ceil(p->ymin / ys) * ys; y <= p->ymax + ys * 1e-9; y += ys) {
        double yy = py(p, y);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>",
                p->x0, yy, p->x0 + p->w, yy);
        fprintf(f,
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\" "
                "fill=\"#444\">%s</text>\n",
                p->x0 - 6, yy + 4, hs_cli_fmt_value(buf, sizeof buf, y, unit));
    }
    const char *unit_name;
    double span = p->xmax - p->xmin, unit_s = hs_cli_time_unit(span, &unit_name);
    double xs = nice_step(span / unit_s) * unit_s;
    for (double x = ceil(p->xmin / xs) * xs; x <= p->xmax + xs * 1e-9; x += xs) {
        double xx = px(p, x);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#bbb\"/>", xx,
                p->y0 + p->h, xx, p->y0 + p->h + 5);
        fprintf(f,
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" "
                "fill=\"#444\">%s</text>\n",
                xx, p->y0 + p->h + 19, fmt_seconds(buf, sizeof buf, x, span));
    }
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#666\"/>", p->x0,
            p->y0 + p->h, p->x0 + p->w, p->y0 + p->h);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#666\"/>\n", p->x0,
            p->y0, p->x0, p->y0 + p->h);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"#444\">", p->x0, p->y0 - 10);
    esc(f, ylabel);
    fprintf(f,
            "</text>\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\" "
            "fill=\"#444\">",
            p->x0 + p->w, p->y0 + p->h + 36);
    esc(f, xlabel);
    fprintf(f, "</text>\n");
}

static void polyline(FILE *f, const plot_t *p, const double *t, const double *y, size_t n,
                     const char *colour, double width, const char *dash)
{
    fprintf(f,
            "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" "
            "stroke-linejoin=\"round\"%s%s%s points=\"",
            colour, width, dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%.1f,%.1f", i ? " " : "", px(p, t[i]), py(p, y[i]));
    fprintf(f, "\"/>\n");
}

/* ---- leaks: time series ------------------------------------------------------------------ */

void hs_html_series_charts(hs_html_t *h, const hs_series_t *s, size_t top, bool all)
{
    FILE *f = h->f;
    size_t n = s->npoints;
    const char *u = s->unit;
    char label[128];

    /* Total in use, with its 1 sigma band. */
    plot_t p = {.x0 = 90, .y0 = 30, .w = 840, .h = 230, .xmin = 0, .xmax = s->t[n - 1]};
    for (size_t i = 0; i < n; i++) {
        double sd = isnan(s->total_var[i]) ? 0 : sqrt(s->total_var[i]);
        if (s->total[i] + sd > p.ymax)
            p.ymax = s->total[i] + sd;
    }
    if (!(p.ymax > 0))
        p.ymax = 1;
    p.ymax *= 1.05;
    fprintf(f,
            "<h2>Total %s over time</h2>\n<figure>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
            "width=\"960\" height=\"310\" viewBox=\"0 0 960 310\" role=\"img\">\n",
            s->type);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"960\" height=\"310\" fill=\"#ffffff\"/>\n");
    snprintf(label, sizeof label, "%s (%s)", s->type, u);
    axes(h, &p, u, label, "time since the first profile");
    const char *tc = hs_html_class_colour(s->total_trend.cls);
    fprintf(f, "<polygon fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" points=\"", tc);
    for (size_t i = 0; i < n; i++) {
        double sd = isnan(s->total_var[i]) ? 0 : sqrt(s->total_var[i]);
        fprintf(f, "%s%.1f,%.1f", i ? " " : "", px(&p, s->t[i]), py(&p, s->total[i] + sd));
    }
    for (size_t i = n; i-- > 0;) {
        double sd = isnan(s->total_var[i]) ? 0 : sqrt(s->total_var[i]);
        double lo = s->total[i] - sd > 0 ? s->total[i] - sd : 0;
        fprintf(f, " %.1f,%.1f", px(&p, s->t[i]), py(&p, lo));
    }
    fprintf(f, "\"/>\n");
    polyline(f, &p, s->t, s->total, n, tc, 2.5, NULL);
    fprintf(f,
            "</svg>\n<figcaption>The whole process (%s), with a band of \u00b11 sigma of "
            "sampling error.</figcaption>\n</figure>\n",
            hs_trend_class_name(s->total_trend.cls));

    /* The top sites, coloured by verdict. */
    size_t *pick = malloc((top ? top : 1) * sizeof *pick), np = 0;
    if (!pick)
        return;
    for (size_t i = 0; i < s->nsites && np < top; i++)
        if (all || s->sites[i].trend.cls != HS_TREND_NOISE)
            pick[np++] = i;
    if (np == 0) {
        free(pick);
        return;
    }
    p.ymax = 0;
    for (size_t k = 0; k < np; k++)
        for (size_t i = 0; i < n; i++)
            if (s->sites[pick[k]].y[i] > p.ymax)
                p.ymax = s->sites[pick[k]].y[i];
    if (!(p.ymax > 0))
        p.ymax = 1;
    p.ymax *= 1.05;
    p.w = 600; /* room for the labels at the right end of the lines */
    fprintf(f, "<h2>Top sites over time, coloured by verdict</h2>\n<figure>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"960\" height=\"310\" "
               "viewBox=\"0 0 960 310\" role=\"img\">\n"
               "<rect x=\"0\" y=\"0\" width=\"960\" height=\"310\" fill=\"#ffffff\"/>\n");
    axes(h, &p, u, label, "time since the first profile");
    static const char *const dashes[] = {NULL, "8 4", "2 3", "10 3 2 3"};
    int used[HS_TREND_NCLASSES] = {0};
    double last_label_y = -100;
    for (size_t k = 0; k < np; k++) {
        const hs_series_site_t *st = &s->sites[pick[k]];
        hs_trend_class_t c = st->trend.cls;
        const char *dash = dashes[used[c]++ % HS_ARRAY_LEN(dashes)];
        polyline(f, &p, s->t, st->y, n, hs_html_class_colour(c), 2.2, dash);
        /* The label at the line's end, nudged down so labels do not overlap. */
        double ly = py(&p, st->y[n - 1]) + 4;
        if (ly < last_label_y + 14)
            ly = last_label_y + 14;
        last_label_y = ly;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"%s\">", p.x0 + p.w + 8, ly,
                hs_html_class_colour(c));
        esc_short(f, st->name, 36);
        fprintf(f, " (");
        esc(f, hs_trend_class_name(c));
        fprintf(f, ")</text>\n");
    }
    fprintf(f, "</svg>\n<figcaption class=\"legend\">");
    for (int c = HS_TREND_NCLASSES - 1; c >= 0; c--)
        fprintf(f, "<span><i style=\"background:%s\"></i>%s</span>", class_colour[c],
                hs_trend_class_name((hs_trend_class_t)c));
    fprintf(f, "</figcaption>\n</figure>\n");
    free(pick);
}

/* ---- leaks: the resident set by part, stacked --------------------------------------------- */

void hs_html_rss_chart(hs_html_t *h, const hs_series_t *s)
{
    /* Bottom to top; unattributed last (a negative rest, within the errors, is drawn as 0). */
    static const hs_series_part_t order[] = {HS_PART_FILE, HS_PART_HEAP,     HS_PART_FREE,
                                             HS_PART_MMAP, HS_PART_PROFILER, HS_PART_UNATTRIBUTED};
    static const char *const colour[] = {"#9e9e9e", "#1565c0", "#ef6c00",
                                         "#6a1b9a", "#2e7d32", "#c62828"};
    FILE *f = h->f;
    size_t n = s->npoints;
    if (!s->parts_known || n < 2)
        return;
    double *base = calloc(n, sizeof *base), *top = calloc(n, sizeof *top);
    if (!base || !top) {
        free(base);
        free(top);
        return;
    }
    plot_t p = {.x0 = 90, .y0 = 30, .w = 640, .h = 230, .xmin = 0, .xmax = s->t[n - 1]};
    for (size_t i = 0; i < n; i++) {
        double sum = 0;
        for (size_t k = 0; k < HS_ARRAY_LEN(order); k++)
            sum += s->part[order[k]][i] > 0 ? s->part[order[k]][i] : 0;
        double hi = sum > s->part[HS_PART_RSS][i] ? sum : s->part[HS_PART_RSS][i];
        if (hi > p.ymax)
            p.ymax = hi;
    }
    if (!(p.ymax > 0))
        p.ymax = 1;
    p.ymax *= 1.05;
    fprintf(f, "<h2>Resident set by part over time</h2>\n<figure>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"960\" height=\"310\" "
               "viewBox=\"0 0 960 310\" role=\"img\">\n"
               "<rect x=\"0\" y=\"0\" width=\"960\" height=\"310\" fill=\"#ffffff\"/>\n");
    axes(h, &p, "bytes", "resident set (bytes)", "time since the first profile");
    for (size_t k = 0; k < HS_ARRAY_LEN(order); k++) {
        const double *y = s->part[order[k]];
        for (size_t i = 0; i < n; i++)
            top[i] = base[i] + (y[i] > 0 ? y[i] : 0);
        fprintf(f, "<polygon fill=\"%s\" fill-opacity=\"0.55\" stroke=\"none\" points=\"",
                colour[k]);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%s%.1f,%.1f", i ? " " : "", px(&p, s->t[i]), py(&p, top[i]));
        for (size_t i = n; i-- > 0;)
            fprintf(f, " %.1f,%.1f", px(&p, s->t[i]), py(&p, base[i]));
        fprintf(f, "\"/>\n");
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"%s\">%s</text>\n",
                p.x0 + p.w + 8, p.y0 + 14 + 16 * (double)(HS_ARRAY_LEN(order) - 1 - k), colour[k],
                hs_series_part_name(order[k]));
        memcpy(base, top, n * sizeof *base);
    }
    polyline(f, &p, s->t, s->part[HS_PART_RSS], n, "#000000", 2.0, "6 3");
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"#000\">rss (dashed)</text>\n",
            p.x0 + p.w + 8, p.y0 + 14 + 16 * (double)HS_ARRAY_LEN(order));
    fprintf(
        f,
        "</svg>\n<figcaption>The parts of the resident set at each profile, stacked: "
        "file-backed and shared pages, the heap, the allocator's free memory, direct "
        "mmap, thread stacks, the profiler, and the unattributed rest; the dashed line is the RSS "
        "itself.</figcaption>\n</figure>\n");
    free(base);
    free(top);
}

/* ---- report and diff: horizontal bars with 1 sigma whiskers ------------------------------ */

/*
 * One bar per item from 0 to v[i] (negative to the left), a whisker of +-se[i] around its end,
 * the name at the left. lo/hi: the value range shown.
 */
static void bars(hs_html_t *h, const char *title, const char *caption, const char *unit,
                 const char *const *names, const double *v, const double *se,
                 const char *const *colours, size_t n)
{
    FILE *f = h->f;
    double lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        double e = isnan(se[i]) ? 0 : se[i];
        if (v[i] + e > hi)
            hi = v[i] + e;
        if (v[i] - e < lo)
            lo = v[i] - e;
    }
    if (!(hi > lo))
        hi = lo + 1;
    double pad = (hi - lo) * 0.05;
    hi += hi > 0 ? pad : 0;
    lo -= lo < 0 ? pad : 0;
    double row = 24, height = 60 + row * (double)n;
    plot_t p = {.x0 = 330, .y0 = 30, .w = 590, .h = row * (double)n};
    fprintf(f, "<h2>");
    esc(f, title);
    fprintf(f,
            "</h2>\n<figure>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"960\" "
            "height=\"%.0f\" viewBox=\"0 0 960 %.0f\" role=\"img\">\n"
            "<rect x=\"0\" y=\"0\" width=\"960\" height=\"%.0f\" fill=\"#ffffff\"/>\n",
            height, height, height);
    double xs = nice_value_step(hi - lo, unit);
    char buf[64];
#define X(val) (p.x0 + ((val)-lo) / (hi - lo) * p.w)
    for (double x = ceil(lo / xs) * xs; x <= hi + xs * 1e-9; x += xs) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>",
                X(x), p.y0, X(x), p.y0 + p.h);
        fprintf(f,
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" "
                "fill=\"#444\">%s</text>\n",
                X(x), p.y0 + p.h + 18, hs_cli_fmt_value(buf, sizeof buf, x, unit));
    }
    for (size_t i = 0; i < n; i++) {
        double y = p.y0 + row * (double)i, a = X(v[i] < 0 ? v[i] : 0), b = X(v[i] < 0 ? 0 : v[i]);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>", a,
                y + 4, b - a > 1 ? b - a : 1, row - 8, colours[i]);
        if (!isnan(se[i]) && se[i] > 0) {
            double e1 = X(v[i] - se[i]), e2 = X(v[i] + se[i]), ym = y + row / 2;
            fprintf(f,
                    "<path d=\"M%.1f %.1fH%.1fM%.1f %.1fV%.1fM%.1f %.1fV%.1f\" "
                    "stroke=\"#222\" stroke-width=\"1.3\"/>",
                    e1, ym, e2, e1, ym - 5, ym + 5, e2, ym - 5, ym + 5);
        }
        fprintf(f,
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\" "
                "fill=\"#222\">",
                p.x0 - 8, y + row / 2 + 4);
        esc_short(f, names[i], 44);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#666\"/>\n", X(0),
            p.y0, X(0), p.y0 + p.h);
#undef X
    fprintf(f, "</svg>\n<figcaption>");
    esc(f, caption);
    fprintf(f, "</figcaption>\n</figure>\n");
}

void hs_html_report_chart(hs_html_t *h, const hs_sites_t *s, size_t top)
{
    size_t n = 0;
    while (n < s->nsites && n < top && s->sites[n].value != 0)
        n++;
    if (n == 0)
        return;
    const char **names = malloc(n * sizeof *names), **colours = malloc(n * sizeof *colours);
    double *v = malloc(n * sizeof *v), *se = malloc(n * sizeof *se);
    if (names && colours && v && se) {
        for (size_t i = 0; i < n; i++) {
            names[i] = s->sites[i].name;
            v[i] = s->sites[i].value;
            se[i] = sqrt(s->sites[i].variance);
            colours[i] = "#1f77b4";
        }
        char title[128];
        snprintf(title, sizeof title, "Top sites by %s", s->type);
        bars(h, title, "Whiskers: \u00b11 sigma of sampling error.", s->unit, names, v, se, colours,
             n);
    }
    free(names);
    free(colours);
    free(v);
    free(se);
}

void hs_html_diff_chart(hs_html_t *h, const hs_sites_t *base, const hs_sites_t *next,
                        const char *const *names, const double *change, const double *se,
                        const bool *grew, size_t n)
{
    (void)base;
    if (n == 0)
        return;
    const char **colours = malloc(n * sizeof *colours);
    if (!colours)
        return;
    for (size_t i = 0; i < n; i++)
        colours[i] = grew[i] ? "#d62728" : change[i] > 0 ? "#f2a09f" : "#8fb8de";
    char title[128];
    snprintf(title, sizeof title, "Change of %s per site", next->type);
    bars(h, title,
         "Red: grew beyond the threshold and the noise; pale: within them. Whiskers: \u00b11 "
         "sigma of the change.",
         next->unit, names, change, se, colours, n);
    free(colours);
}
