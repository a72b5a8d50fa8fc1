/* main.c -- edgefusion CLI (placeholder until the API lands). */
#include <stdio.h>
#include "edgefusion.h"
int main(void) { printf("edgefusion %s\n", ef_version()); return 0; }
