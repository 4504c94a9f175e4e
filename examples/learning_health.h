/* The warning the example trainers print when attn_learner_health_get says learning looks stuck. */
#ifndef LEARNING_HEALTH_H
#define LEARNING_HEALTH_H

#include <stdio.h>

#include "attnagent/attnagent.h"

/* Prints one warning to `f` for each ATTN_HEALTH_* flag raised that is not yet in *warned, and adds it there;
 * `program` starts the line. */
void learning_health_warn(FILE *f, const char *program, const attn_learner *learner, unsigned *warned);

#endif
