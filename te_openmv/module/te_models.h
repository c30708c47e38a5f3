/* te-openmv: the models compiled into this firmware.
 *
 * `te-openmv build-firmware` generates te_models.c, which defines this table from
 * the models it compiled (one `NAME_model` descriptor each, see te_model.h), and
 * te_build_config.h, which says what the firmware around the module offers.
 */
#ifndef TE_MODELS_H
#define TE_MODELS_H

#include <stddef.h>
#include "te_model.h"

extern const te_model *const te_models[];
extern const size_t te_models_count;

#endif
