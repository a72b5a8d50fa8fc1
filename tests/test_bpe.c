/*
** test_bpe.c -- placeholder suite; filled by the bpe work.
*/
#include "ef_test.h"

const ef_test_case ef_suite_bpe[] = {
    {0, 0},
};
