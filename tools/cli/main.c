/* main.c -- edgefusion CLI (placeholder until the API lands). */
#include <stdio.h>
#include "edgefusion.h"
#include "args.h"
int main(void) { printf("edgefusion %s\n", ef_version()); return cli_usage() ? 0 : 1; }
