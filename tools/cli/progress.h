/*
** progress.h -- the CLI's progress display: a bar with per-step time and ETA on a
** terminal, one plain line per step otherwise (logs, pipes).
*/
#ifndef EF_CLI_PROGRESS_H
#define EF_CLI_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct cli_progress {
    FILE  *out;
    int    tty;          /* draw a bar in place */
    int    image, n_images;
    double last_seconds; /* seconds at the previous tick */
} cli_progress;

void cli_progress_init(cli_progress *p, FILE *out, int n_images);

/* An ef_progress_fn: done/total units (the last unit is the VAE decode). Never cancels. */
int cli_progress_tick(int32_t done, int32_t total, double seconds, void *user);

#endif /* EF_CLI_PROGRESS_H */
