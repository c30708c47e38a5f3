/* te-openmv: the contract between a compiled model and whoever runs it.
 *
 * `te-openmv compile model.tflite --name NAME` writes NAME.c / NAME.h defining
 *
 *     extern const te_model NAME_model;
 *
 * a const descriptor in flash. To run it:
 *
 *     uint8_t *arena = <NAME_model.arena_bytes bytes, aligned to TE_ARENA_ALIGN>;
 *     copy the input into arena + NAME_model.inputs[i].offset   (arena_dtype layout)
 *     int err = NAME_model.invoke(&NAME_model, arena);           (0 on success)
 *     read the output from arena + NAME_model.outputs[i].offset
 *
 * invoke() uses no heap and no writable globals: everything it writes lies in the
 * arena (activations and every scratch buffer, all planned at compile time), so one
 * firmware can hold several models and run each with its own arena. Every symbol a
 * model defines starts with NAME_.
 *
 * External weights (the .mpy deployment): compiled with -DTE_WEIGHTS_EXTERNAL, NAME.c
 * keeps its const arrays out of the code; each becomes an offset into a blob of
 * NAME_model.external_weights_bytes bytes (`te-openmv compile --mpy` writes it as NAME.bin)
 * that invoke() reads through model->weights. The caller copies the descriptor into RAM
 * and sets .weights there. Arrays a parameter struct points to stay in the code. Without
 * the define nothing changes: the arrays are linked in and .weights is unused.
 *
 * Float edges: when the source model starts with QUANTIZE(float32 -> int8) or ends
 * with DEQUANTIZE(int8 -> float32), the compiler removes that operator. The tensor
 * then has dtype TE_FLOAT32 (what the model's user sees) but arena_dtype TE_INT8
 * (what the arena holds): the caller quantizes while copying in,
 *     q = clamp(round_half_away(x / scale) + zero_point, -128, 127)   (float32 division)
 * with te_quantize_f32_s8(), and dequantizes outputs as (q - zero_point) * scale.
 * The arena never holds the float tensor.
 */
#ifndef TE_MODEL_H
#define TE_MODEL_H

#include <stdint.h>

#define TE_MAX_DIMS 6
#define TE_ARENA_ALIGN 8
#define TE_WEIGHTS_ALIGN 8

typedef enum {
    TE_INT8 = 0,
    TE_UINT8 = 1,
    TE_INT16 = 2,
    TE_INT32 = 3,
    TE_FLOAT32 = 4,
} te_dtype;

typedef struct {
    const char *name;
    uint8_t dtype;         /* te_dtype the model's user sees (the source model's edge) */
    uint8_t arena_dtype;   /* te_dtype stored in the arena (int8 for folded float edges) */
    uint8_t rank;
    int32_t shape[TE_MAX_DIMS];
    uint32_t offset;       /* byte offset of the tensor in the arena */
    uint32_t bytes;        /* bytes the tensor occupies in the arena */
    float scale;           /* quantization of the arena tensor: real = (q - zero_point) * scale */
    int32_t zero_point;
} te_tensor_info;

struct te_model;
typedef int (*te_invoke_fn)(const struct te_model *model, uint8_t *arena);

typedef struct te_model {
    const char *name;
    uint32_t arena_bytes;      /* the whole arena: activations, inputs, outputs, scratch */
    uint32_t weights_bytes;    /* const data in flash: weights, biases, multipliers */
    uint32_t macs;             /* multiply-accumulates per inference */
    uint16_t n_inputs;
    uint16_t n_outputs;
    const te_tensor_info *inputs;
    const te_tensor_info *outputs;
    uint16_t n_ops;
    const char *const *op_names;   /* per operator: "CONV_2D", ... (for profiles) */
    te_invoke_fn invoke;
    /* 0: the const data is linked in with the code (the firmware path). N > 0: NAME.c was
     * compiled with TE_WEIGHTS_EXTERNAL and invoke() reads its N bytes of const data from
     * `weights`, which the caller sets in its own (RAM) copy of the descriptor to a blob
     * aligned to TE_WEIGHTS_ALIGN (NAME.bin's payload, see `te-openmv compile --mpy`). */
    uint32_t external_weights_bytes;
    const uint8_t *weights;
} te_model;

/* Optional per-operator hooks: define TE_OP_HOOKS when compiling a model's .c and
 * provide te_op_hook() to profile or check each operator (the bench and the
 * arena-guard tests do). Without TE_OP_HOOKS they cost nothing. */
#ifdef TE_OP_HOOKS
void te_op_hook(const te_model *model, int op_index, int phase /* 0 begin, 1 end */, uint8_t *arena);
#define TE_OP_BEGIN(m, i, a) te_op_hook((m), (i), 0, (a))
#define TE_OP_END(m, i, a) te_op_hook((m), (i), 1, (a))
#else
#define TE_OP_BEGIN(m, i, a) ((void)0)
#define TE_OP_END(m, i, a) ((void)0)
#endif

#endif
