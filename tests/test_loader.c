/*
** test_loader.c -- placeholder suite; filled by the loader work.
*/
#include "ef_test.h"

const ef_test_case ef_suite_loader[] = {
    {0, 0},
};
