/* SPDX-License-Identifier: MIT */
/* plot.c -- the deferral curve as a small standalone SVG: quality against
 * the share of requests escalated, with the chosen threshold marked and the
 * all-local and all-cloud qualities as reference lines. */
#include "cli/eval_int.h"

#include <stdio.h>

#include "util/err.h"

#define W 560
#define H 380
#define L 60
#define R 20
#define T 30
#define B 50

static double px(double share) { return L + share * (W - L - R); }
static double py(double q) { return H - B - q * (H - T - B); }

int hr__eval_plot(const hr_eval_summary *s, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        return HR_EIO;
    }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
               "<text x=\"%d\" y=\"18\" font-size=\"14\">Deferral curve: quality vs share "
               "escalated (%zu items)</text>\n", W, H, L, s->n);
    for (int k = 0; k <= 10; k += 2) {
        double v = k / 10.0;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d%%</text>\n",
                px(v), T, px(v), H - B, px(v), H - B + 16, k * 10);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%d%%</text>\n",
                L, py(v), W - R, py(v), L - 6, py(v) + 4, k * 10);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">share escalated to the cloud"
               "</text>\n<text transform=\"translate(16,%d) rotate(-90)\" text-anchor=\"middle\">"
               "quality</text>\n", (W + L - R) / 2, H - 12, (H - B + T) / 2);
    fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#c33\" "
               "stroke-dasharray=\"4 3\"/><text x=\"%d\" y=\"%.1f\" fill=\"#c33\">all cloud"
               "</text>\n", L, py(s->cloud_acc), W - R, py(s->cloud_acc), L + 4,
            py(s->cloud_acc) - 4);
    fprintf(f, "<polyline fill=\"none\" stroke=\"#26c\" stroke-width=\"2\" points=\"");
    for (int k = 0; k < HR_EVAL_CURVE; k++) {
        fprintf(f, "%.1f,%.1f ", px(s->curve_share[k]), py(s->curve_q[k]));
    }
    fprintf(f, "\"/>\n<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"#26c\"/>"
               "<text x=\"%.1f\" y=\"%.1f\">threshold %.2f</text>\n</svg>\n",
            px(s->share), py(s->quality), px(s->share) + 8, py(s->quality) + 16, s->threshold);
    return fclose(f) == 0 ? 0 : HR_EIO;
}
