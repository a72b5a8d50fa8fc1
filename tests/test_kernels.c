/*
** test_kernels.c -- placeholder suite; filled by the kernels work.
*/
#include "ef_test.h"

const ef_test_case ef_suite_kernels[] = {
    {0, 0},
};
