/*
** progress.c -- see progress.h.
*/
#include "progress.h"

#include <unistd.h>

void cli_progress_init(cli_progress *p, FILE *out, int n_images) {
    p->out = out;
    p->tty = isatty(fileno(out));
    p->image = 0;
    p->n_images = n_images;
    p->last_seconds = 0;
}

int cli_progress_tick(int32_t done, int32_t total, double seconds, void *user) {
    cli_progress *p = user;
    int steps = total - 1;                 /* the last unit is the decode */
    double dt = seconds - p->last_seconds;
    p->last_seconds = seconds;
    char who[32] = "";
    if (p->n_images > 1) snprintf(who, sizeof who, "image %d/%d ", p->image + 1, p->n_images);
    if (done > steps) {
        if (p->tty) fprintf(p->out, "\r\033[K");
        fprintf(p->out, "%sdone in %.2f s (decode %.2f s)\n", who, seconds, dt);
        p->last_seconds = 0;
        return 0;
    }
    double per_step = seconds / done;
    if (p->tty) {
        enum { WIDTH = 30 };
        int fill = (int)((long)WIDTH * done / steps);
        char bar[WIDTH + 1];
        for (int i = 0; i < WIDTH; i++) bar[i] = i < fill ? '=' : ' ';
        bar[WIDTH] = '\0';
        fprintf(p->out, "\r\033[K%s[%s] step %d/%d  %.2f s/step  ETA %.1f s", who, bar, (int)done, steps, per_step,
                per_step * (steps - done));
    } else {
        fprintf(p->out, "%sstep %d/%d %.2f s\n", who, (int)done, steps, dt);
    }
    fflush(p->out);
    return 0;
}
