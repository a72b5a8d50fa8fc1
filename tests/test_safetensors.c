/*
** test_safetensors.c -- placeholder suite; filled by the safetensors work.
*/
#include "ef_test.h"

const ef_test_case ef_suite_safetensors[] = {
    {0, 0},
};
