/*
** args.h -- command-line options of the edgefusion CLI (sd.cpp's flag names where they
** exist) and their parser. Parsing never exits: it returns a message for the caller.
*/
#ifndef EF_CLI_ARGS_H
#define EF_CLI_ARGS_H

#include <stddef.h>

typedef struct cli_args {
    const char *model;          /* -m, --model DIR (diffusers pipeline folder) */
    const char *prompt;         /* -p, --prompt TEXT */
    const char *embedding_out;  /* --embedding-out FILE.npy */
    const char *variant;        /* --variant fp16 */
    int         threads;        /* -t, --threads N (0 = all CPUs) */
    int         clip_skip;      /* --clip-skip N (A1111/sd.cpp meaning: 1 = last layer) */
    int         print_tokens;   /* --tokens */
    int         verbose;        /* -v, --verbose */
    int         help;           /* -h, --help */
    int         version;        /* --version */
} cli_args;

/* Fills a from argv. Returns 0 and writes one line into msg (size n) on a bad flag
** or value; returns 1 on success. */
int cli_args_parse(int argc, char **argv, cli_args *a, char *msg, size_t n);

/* The --help text. */
const char *cli_usage(void);

#endif /* EF_CLI_ARGS_H */
