/*
** test_api.c -- placeholder suite; filled by the api work.
*/
#include "ef_test.h"

const ef_test_case ef_suite_api[] = {
    {0, 0},
};
