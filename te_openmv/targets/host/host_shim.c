/* Host-side glue for running a compiled model from Python (ctypes).
 * Built with -DTE_MODEL_SYM=<name>_model and -DTE_OP_HOOKS. */
#include <stddef.h>
#include "te_model.h"

extern const te_model TE_MODEL_SYM;

const te_model *te_host_model(void) { return &TE_MODEL_SYM; }

typedef void (*te_host_hook_fn)(int op_index, int phase);
static te_host_hook_fn host_hook;

void te_host_set_hook(te_host_hook_fn fn) { host_hook = fn; }

void te_op_hook(const te_model *model, int op_index, int phase, uint8_t *arena) {
    (void)model; (void)arena;
    if (host_hook) host_hook(op_index, phase);
}

int te_host_invoke(uint8_t *arena) { return TE_MODEL_SYM.invoke(&TE_MODEL_SYM, arena); }

/* A model compiled with TE_WEIGHTS_EXTERNAL: run it with its const data at `weights`
 * (set in a copy of the descriptor, as the .mpy binding does). */
int te_host_invoke_with_weights(uint8_t *arena, const uint8_t *weights) {
    te_model m = TE_MODEL_SYM;
    m.weights = weights;
    return m.invoke(&m, arena);
}
