/* common.h - the system headers every Agora file uses, then banned.h.
 *
 * Every .c file includes this first. Headers it does not cover may be included
 * afterwards; banned.h only renames the banned functions, so they still parse.
 */
#ifndef AGORA_COMMON_H
#define AGORA_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define UNUSED(x) ((void)(x))

#include "core/banned.h"

#endif
