/*
** test_clip_text.c -- placeholder suite; filled by the clip_text work.
*/
#include "ef_test.h"

const ef_test_case ef_suite_clip_text[] = {
    {0, 0},
};
