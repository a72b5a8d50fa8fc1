/*
** test_cli.c -- placeholder suite; filled by the cli work.
*/
#include "ef_test.h"

const ef_test_case ef_suite_cli[] = {
    {0, 0},
};
