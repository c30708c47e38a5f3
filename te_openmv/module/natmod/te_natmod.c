/* te-openmv: one compiled model as a MicroPython dynamic native module (.mpy).
 *
 * Built by `te-openmv compile MODEL --mpy` with MicroPython's tools/mpy_ld.py, together
 * with NAME.c (compiled with TE_WEIGHTS_EXTERNAL) and the kernels it uses. The model's
 * const data is not in the native code (a stock firmware copies native code into its
 * heap): it is NAME.bin, read in place through te_model.weights:
 *
 *     import NAME
 *     m = NAME.Model('/rom/NAME.bin')     # a ROMFS file: zero copy; or any buffer
 *     m.predict([buf])                    # the same API as tinyengine.Model
 *
 * te_natmod_config.h (generated) names the model (TE_NATMOD_MODEL, its header) and
 * holds TE_NATMOD_BUILD_HASH, the 16 bytes that tie NAME.bin to this .mpy.
 */
#include <stdarg.h>

#include "py/dynruntime.h"
#include "py/objarray.h"

#include "te_natmod_config.h"
#include "te_runtime.h"
#include "te_attrs.h"
#include "te_weights_file.h"

/* The firmware's function table provides the C library the kernels use. */
void *memcpy(void *dst, const void *src, size_t n) {
    return mp_fun_table.memmove_(dst, src, n);
}
void *memmove(void *dst, const void *src, size_t n) {
    return mp_fun_table.memmove_(dst, src, n);
}
void *memset(void *s, int c, size_t n) {
    return mp_fun_table.memset_(s, c, n);
}

typedef struct {
    mp_obj_base_t base;
    te_model model;          /* a RAM copy of the descriptor with .weights set */
    mp_obj_t weights_owner;  /* keeps the object whose buffer holds the weights alive */
    uint8_t *arena;          /* aligned to TE_ARENA_ALIGN */
    void *arena_block;
    mp_obj_t postprocess;    /* Model(weights, postprocess=f): as OpenMV's ml.Model */
    bool busy;               /* in its filler or callback: running again would overwrite its data */
    mp_obj_t input_shape, input_dtype, input_scale, input_zero_point;
    mp_obj_t output_shape, output_dtype, output_scale, output_zero_point;
} te_natmod_model_t;

mp_obj_full_type_t te_natmod_model_type;
mp_map_elem_t te_natmod_locals_table[4];
static MP_DEFINE_CONST_DICT(te_natmod_locals, te_natmod_locals_table);
/* array.array, looked up once at import (outputs are array('f')). */
mp_obj_t te_natmod_array_type;
/* This module's globals, where the loader (NAME.mpy) puts _te_guarded (te_call_user). */
mp_obj_t te_natmod_globals;

/* ------------------------------------------------------------------ errors */

typedef struct {
    char buf[320];
    size_t len;
} te_msg_t;

static void te_msg_strn(void *data, const char *str, size_t len) {
    te_msg_t *m = data;
    while (len-- && m->len < sizeof(m->buf) - 1) {
        m->buf[m->len++] = *str++;
    }
}

/* raise type(fmt % ...): dynamic modules have no mp_raise_msg_varg. */
static NORETURN void te_raise(const mp_obj_type_t *type, const char *fmt, ...) {
    te_msg_t msg;
    msg.len = 0;
    mp_print_t print = { &msg, te_msg_strn };
    va_list ap;
    va_start(ap, fmt);
    mp_vprintf(&print, fmt, ap);
    va_end(ap);
    mp_raise_type_arg(type, mp_obj_new_str(msg.buf, msg.len));
}

/* ------------------------------------------------------------ attributes
 * (te_shape_tuple, te_tensor_lists: te_attrs.h, shared with the other binding) */

static void te_natmod_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest) {
    te_natmod_model_t *self = MP_OBJ_TO_PTR(self_in);
    if (dest[0] != MP_OBJ_NULL) {
        return;  /* read-only */
    }
    const te_model *m = &self->model;
    if (attr == MP_QSTR_name) {
        dest[0] = mp_obj_new_str(m->name, te_strlen(m->name));
    } else if (attr == MP_QSTR_len) {
        dest[0] = mp_obj_new_int_from_uint(m->weights_bytes);
    } else if (attr == MP_QSTR_ram) {
        dest[0] = mp_obj_new_int_from_uint(m->arena_bytes);
    } else if (attr == MP_QSTR_macs) {
        dest[0] = mp_obj_new_int_from_uint(m->macs);
    } else if (attr == MP_QSTR_input_shape) {
        dest[0] = self->input_shape;
    } else if (attr == MP_QSTR_input_dtype) {
        dest[0] = self->input_dtype;
    } else if (attr == MP_QSTR_input_scale) {
        dest[0] = self->input_scale;
    } else if (attr == MP_QSTR_input_zero_point) {
        dest[0] = self->input_zero_point;
    } else if (attr == MP_QSTR_output_shape) {
        dest[0] = self->output_shape;
    } else if (attr == MP_QSTR_output_dtype) {
        dest[0] = self->output_dtype;
    } else if (attr == MP_QSTR_output_scale) {
        dest[0] = self->output_scale;
    } else if (attr == MP_QSTR_output_zero_point) {
        dest[0] = self->output_zero_point;
    } else if (attr == MP_QSTR_postprocess) {
        dest[0] = self->postprocess;
    } else {
        dest[1] = MP_OBJ_SENTINEL;  /* methods: continue in locals_dict */
    }
}

static void te_natmod_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    (void)kind;
    te_natmod_model_t *self = MP_OBJ_TO_PTR(self_in);
    const te_model *m = &self->model;
    mp_printf(print, "<Model '%s': %u inputs, %u outputs, arena %u B, weights %u B>", m->name,
              (unsigned)m->n_inputs, (unsigned)m->n_outputs, (unsigned)m->arena_bytes,
              (unsigned)m->weights_bytes);
}

/* --------------------------------------------------------------- weights */

/* The weights file's bytes: a buffer given directly, a file with the buffer protocol
 * (ROMFS: memory-mapped, zero copy), or else a file read into the heap. */
static void te_weights_buffer(mp_obj_t arg, mp_buffer_info_t *buf, mp_obj_t *owner, const char **what) {
    if (mp_obj_get_type(arg) == &mp_type_str) {
        *what = mp_obj_str_get_str(arg);
        mp_obj_t open_args[2] = { arg, MP_OBJ_NEW_QSTR(MP_QSTR_rb) };
        mp_obj_t f = mp_call_function_n_kw(mp_load_global(MP_QSTR_open), 2, 0, open_args);
        if (mp_get_buffer(f, buf, MP_BUFFER_READ)) {
            *owner = f;
            return;
        }
        /* Not memory-mapped (a FAT or host file): read it whole. */
        mp_obj_t dest[2];
        mp_load_method(f, MP_QSTR_read, dest);
        mp_obj_t data = mp_call_function_n_kw(dest[0], 1, 0, &dest[1]);
        mp_load_method(f, MP_QSTR_close, dest);
        mp_call_function_n_kw(dest[0], 1, 0, &dest[1]);
        mp_get_buffer_raise(data, buf, MP_BUFFER_READ);
        *owner = data;
        return;
    }
    *what = "the weights buffer";
    if (!mp_get_buffer(arg, buf, MP_BUFFER_READ)) {
        te_raise(&mp_type_TypeError, "Model(weights): expected the path of %s.bin or a buffer holding it", TE_NATMOD_NAME);
    }
    *owner = arg;
}

/* Check a NAME.bin image; returns its payload. Every failure is a ValueError naming
 * what was expected. */
static const uint8_t *te_check_weights(const mp_buffer_info_t *buf, const char *what) {
    const uint8_t *p = buf->buf;
    static const uint8_t expect_hash[TE_WF_HASH_BYTES] = TE_NATMOD_BUILD_HASH;
    te_wf_header h;
    int r = te_wf_parse(p, buf->len, &h);
    switch (r) {
        case TE_WF_SHORT:
            te_raise(&mp_type_ValueError, "%s: expected a %s.bin weights file of %u bytes, got %u bytes",
                     what, TE_NATMOD_NAME, (unsigned)(TE_WF_HEADER_BYTES + TE_NATMOD_WEIGHTS_BYTES),
                     (unsigned)buf->len);
        case TE_WF_BAD_MAGIC:
            te_raise(&mp_type_ValueError, "%s is not a te-openmv weights file (expected %s.bin, which starts with 'TEWB')",
                     what, TE_NATMOD_NAME);
        case TE_WF_BAD_VERSION:
            te_raise(&mp_type_ValueError, "%s: weights file format %u, this module reads format %u: "
                     "recompile with the same te-openmv", what, (unsigned)h.version, (unsigned)TE_WF_VERSION);
        default:
            break;
    }
    if (!te_wf_hash_equal(h.hash, expect_hash)) {
        te_raise(&mp_type_ValueError, "%s holds the weights of model '%s' from another build: %s needs the "
                 "%s.bin compiled with it", what, h.name, TE_NATMOD_NAME, TE_NATMOD_NAME);
    }
    if (h.payload_bytes != TE_NATMOD_WEIGHTS_BYTES || buf->len != TE_WF_HEADER_BYTES + h.payload_bytes) {
        te_raise(&mp_type_ValueError, "%s: expected %u bytes (%u of weights after a %u-byte header), got %u",
                 what, (unsigned)(TE_WF_HEADER_BYTES + TE_NATMOD_WEIGHTS_BYTES), (unsigned)TE_NATMOD_WEIGHTS_BYTES,
                 (unsigned)TE_WF_HEADER_BYTES, (unsigned)buf->len);
    }
    if (((uintptr_t)p % TE_WEIGHTS_ALIGN) != 0) {
        te_raise(&mp_type_ValueError, "%s: the weights must start at an address aligned to %u bytes, got 0x%x "
                 "(pad the file's position in the ROMFS image, or copy it into a bytearray)",
                 what, (unsigned)TE_WEIGHTS_ALIGN, (unsigned)(uintptr_t)p);
    }
    const uint8_t *payload = p + TE_WF_HEADER_BYTES;
    uint32_t crc = te_wf_crc32(payload, h.payload_bytes);
    if (crc != h.crc32) {
        te_raise(&mp_type_ValueError, "%s is corrupted: its weights have CRC32 %08x, the header says %08x",
                 what, (unsigned)crc, (unsigned)h.crc32);
    }
    return payload;
}

/* ------------------------------------------------------------ construction */

/* Python's callable(): a dynamic module has no mp_obj_is_callable. */
static bool te_callable(mp_obj_t obj) {
    return mp_obj_is_true(mp_call_function_n_kw(mp_load_global(MP_QSTR_callable), 1, 0, &obj));
}

static mp_obj_t te_natmod_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    /* Model(weights, postprocess=None): tinyengine.Model's signature with the weights file
     * in place of the name. */
    mp_obj_t postprocess = n_args > 1 ? args[1] : mp_const_none;
    if (n_args < 1 || n_args + n_kw > 2) {
        te_raise(&mp_type_TypeError, "Model(weights, postprocess=None) takes 1 or 2 arguments");
    }
    for (size_t k = 0; k < n_kw; k++) {
        if (args[n_args + 2 * k] != MP_OBJ_NEW_QSTR(MP_QSTR_postprocess)) {
            te_raise(&mp_type_TypeError, "Model() got an unexpected keyword argument '%s'",
                     mp_obj_str_get_str(args[n_args + 2 * k]));
        }
        postprocess = args[n_args + 2 * k + 1];
    }
    if (postprocess != mp_const_none && !te_callable(postprocess)) {
        te_raise(&mp_type_TypeError, "postprocess must be callable");
    }
    mp_buffer_info_t buf;
    mp_obj_t owner;
    const char *what;
    te_weights_buffer(args[0], &buf, &owner, &what);
    const uint8_t *weights = te_check_weights(&buf, what);

    te_natmod_model_t *self = mp_obj_malloc(te_natmod_model_t, type);
    self->model = TE_NATMOD_MODEL;
    self->model.weights = weights;
    self->weights_owner = owner;
    self->postprocess = postprocess;
    self->busy = false;
    te_tensor_lists(self->model.inputs, self->model.n_inputs, &self->input_shape, &self->input_dtype,
                    &self->input_scale, &self->input_zero_point);
    te_tensor_lists(self->model.outputs, self->model.n_outputs, &self->output_shape, &self->output_dtype,
                    &self->output_scale, &self->output_zero_point);
    const size_t need = self->model.arena_bytes;
    void *block = m_realloc_maybe(NULL, need + TE_ARENA_ALIGN - 1, false);
    if (block == NULL) {
        te_raise((const mp_obj_type_t *)MP_OBJ_TO_PTR(mp_load_global(MP_QSTR_MemoryError)), "model '%s' needs an arena of %u bytes: the heap has no block that large",
                 self->model.name, (unsigned)need);
    }
    self->arena_block = block;
    self->arena = (uint8_t *)(((uintptr_t)block + TE_ARENA_ALIGN - 1) & ~(uintptr_t)(TE_ARENA_ALIGN - 1));
    return MP_OBJ_FROM_PTR(self);
}

/* ------------------------------------------------------------ user code */

/* RuntimeError when called from the model's own predict() (its filler or callback):
 * running again would overwrite the inputs and outputs that call is working on. */
static void te_check_not_busy(const te_natmod_model_t *self, const char *what) {
    if (self->busy) {
        te_raise(&mp_type_RuntimeError, "%s() of model '%s' called from its own predict() (a filler or callback)",
                 what, self->model.name);
    }
}

/* f(*args3), a filler or callback, with the model marked busy while it runs. A dynamic
 * module cannot catch an exception (no nlr_push), so the call goes through the loader's
 * _te_guarded(f, args), which returns (True, result) or (False, exception): the flag is
 * cleared before the exception goes on. Imported without its loader, the module calls f
 * directly and does not mark itself busy (it could not clear the flag on an exception). */
static mp_obj_t te_call_user(te_natmod_model_t *self, mp_obj_t f, mp_obj_t *args3) {
    mp_obj_t caller_globals = mp_fun_table.swap_globals(te_natmod_globals);
    mp_obj_t guard = mp_load_global(MP_QSTR__te_guarded);
    mp_fun_table.swap_globals(caller_globals);
    if (guard == mp_const_none) {
        return mp_call_function_n_kw(f, 3, 0, args3);
    }
    mp_obj_t g_args[2] = { f, mp_obj_new_tuple(3, args3) };
    self->busy = true;
    mp_obj_t r = mp_call_function_n_kw(guard, 2, 0, g_args);
    self->busy = false;
    size_t n;
    mp_obj_t *res;
    mp_obj_get_array(r, &n, &res);
    if (n != 2 || !mp_obj_is_true(res[0])) {
        nlr_raise(n == 2 ? res[1] : r);
    }
    return res[1];
}

/* ---------------------------------------------------------------- inputs */

/* A memoryview of tensor t in the arena with the given element typecode; it points at
 * the start of the heap block with an element offset (as memoryview slices do), so the
 * view alone keeps the arena alive, and being a memoryview it cannot be resized. */
static mp_obj_t te_arena_view(te_natmod_model_t *self, const te_tensor_info *t, char typecode, size_t itemsize,
                              bool writable) {
    const size_t byte_offset = (size_t)(self->arena - (uint8_t *)self->arena_block) + t->offset;
    mp_obj_t whole = mp_obj_new_bytearray_by_ref(1, self->arena_block);
    mp_obj_t view_obj = mp_call_function_n_kw(mp_load_global(MP_QSTR_memoryview), 1, 0, &whole);
    mp_obj_array_t *view = MP_OBJ_TO_PTR(view_obj);
    view->typecode = (size_t)typecode | (writable ? MP_OBJ_ARRAY_TYPECODE_FLAG_RW : 0);
    if (byte_offset % itemsize == 0) {
        view->items = self->arena_block;
        view->free = byte_offset / itemsize;
    } else {
        view->items = self->arena + t->offset;
        view->free = 0;
    }
    view->len = t->bytes / itemsize;
    return view_obj;
}

static mp_obj_t te_tensor_view(te_natmod_model_t *self, const te_tensor_info *t, bool writable) {
    return te_arena_view(self, t, te_typecode(t->arena_dtype), te_dtype_size(t->arena_dtype), writable);
}


static void te_load_inputs(te_natmod_model_t *self, mp_obj_t inputs) {
    const te_model *m = &self->model;
    size_t n;
    mp_obj_t *items;
    if (mp_obj_get_type(inputs) != &mp_type_list && mp_obj_get_type(inputs) != &mp_type_tuple) {
        te_raise(&mp_type_TypeError, "inputs must be a list with one entry per model input");
    }
    mp_obj_get_array(inputs, &n, &items);
    if (n != m->n_inputs) {
        te_raise(&mp_type_ValueError, "model '%s' takes %d input(s), got %d", m->name, (int)m->n_inputs, (int)n);
    }
    for (size_t i = 0; i < n; i++) {
        const te_tensor_info *t = &m->inputs[i];
        uint8_t *dst = self->arena + t->offset;
        mp_buffer_info_t buf;
        if (mp_obj_get_type(items[i]) == &mp_type_str) {  /* has the buffer protocol, but is text */
            te_raise(&mp_type_TypeError, "input %d: expected a buffer of %s data or a callable, got str", (int)i,
                     te_dtype_name(t->dtype));
        }
        if (mp_get_buffer(items[i], &buf, MP_BUFFER_READ)) {
            const char want = te_typecode(t->dtype);
            if (buf.typecode != want && !te_is_raw_bytes(buf.typecode)) {
                te_raise(&mp_type_TypeError, "input %d: expected %s data (typecode '%c') or raw bytes, got typecode '%c'",
                         (int)i, te_dtype_name(t->dtype), want, buf.typecode);
            }
            const size_t need = te_user_bytes(t);
            if (buf.len != need) {
                char shape[64];
                te_describe_shape(t, t->dtype, shape, sizeof(shape));
                te_raise(&mp_type_ValueError, "input %d: expected %u bytes (%s), got %u", (int)i, (unsigned)need,
                         shape, (unsigned)buf.len);
            }
            te_copy_input(t, buf.buf, dst);
        } else {
            /* OpenMV's preprocessing protocol: f(buffer over the tensor, shape, typecode); a
             * fixed-size byte memoryview, so the filler cannot grow it over the arena. */
            mp_obj_t a[3] = {
                te_arena_view(self, t, 'B', 1, true),
                te_shape_tuple(t),
                mp_obj_new_int(te_typecode(t->arena_dtype)),
            };
            te_call_user(self, items[i], a);
        }
    }
}

/* --------------------------------------------------------------- running */

static void te_run(te_natmod_model_t *self) {
    int err = self->model.invoke(&self->model, self->arena);
    if (err != 0) {
        te_raise(&mp_type_RuntimeError, "model '%s' failed (error %d)", self->model.name, err);
    }
}

static mp_obj_t te_collect_outputs(te_natmod_model_t *self) {
    const te_model *m = &self->model;
    mp_obj_t list = mp_obj_new_list(0, NULL);
    for (size_t i = 0; i < m->n_outputs; i++) {
        const te_tensor_info *t = &m->outputs[i];
        const size_t n = te_elements(t);
        mp_obj_array_t *a = mp_obj_malloc(mp_obj_array_t, (const mp_obj_type_t *)MP_OBJ_TO_PTR(te_natmod_array_type));
        a->typecode = 'f';
        a->free = 0;
        a->len = n;
        a->items = m_malloc(n * sizeof(float) + 1);
        te_dequantize(t, self->arena + t->offset, 0, n, (float *)a->items);
        mp_obj_list_append(list, MP_OBJ_FROM_PTR(a));
    }
    return list;
}

static mp_obj_t te_natmod_predict(size_t n_args, const mp_obj_t *args, mp_map_t *kw_args) {
    te_natmod_model_t *self = MP_OBJ_TO_PTR(args[0]);
    mp_obj_t callback = mp_const_none;
    if (n_args > 3) {
        te_raise(&mp_type_TypeError, "predict(inputs, callback=None) takes at most 2 arguments");
    }
    if (n_args == 3) {
        callback = args[2];
    }
    if (kw_args != NULL) {
        for (size_t k = 0; k < kw_args->alloc; k++) {
            mp_map_elem_t *e = &kw_args->table[k];
            if (e->key == MP_OBJ_NULL || e->key == MP_OBJ_SENTINEL) {
                continue;
            }
            if (e->key != MP_OBJ_NEW_QSTR(MP_QSTR_callback)) {
                te_raise(&mp_type_TypeError, "predict() got an unexpected keyword argument '%s'",
                         mp_obj_str_get_str(e->key));
            }
            callback = e->value;
        }
    }
    if (n_args < 2) {
        te_raise(&mp_type_TypeError, "predict() needs the inputs: predict([input0, ...])");
    }
    if (callback != mp_const_none && !te_callable(callback)) {
        te_raise(&mp_type_TypeError, "callback must be callable");
    }
    te_check_not_busy(self, "predict");
    te_load_inputs(self, args[1]);
    te_run(self);
    /* As ml.Model: a callback, else the model's postprocess, gets (model, inputs, raw outputs):
     * the output tensors in the model's dtype, as read-only views of the arena. */
    mp_obj_t post = callback != mp_const_none ? callback : self->postprocess;
    if (post == mp_const_none) {
        return te_collect_outputs(self);
    }
    mp_obj_t raw = mp_obj_new_list(0, NULL);
    for (size_t i = 0; i < self->model.n_outputs; i++) {
        mp_obj_list_append(raw, te_tensor_view(self, &self->model.outputs[i], false));
    }
    mp_obj_t cb_args[3] = { args[0], args[1], raw };
    return te_call_user(self, post, cb_args);
}
static MP_DEFINE_CONST_FUN_OBJ_KW(te_natmod_predict_obj, 2, te_natmod_predict);

static mp_obj_t te_natmod_invoke(mp_obj_t self_in) {
    te_check_not_busy(MP_OBJ_TO_PTR(self_in), "invoke");
    te_run(MP_OBJ_TO_PTR(self_in));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(te_natmod_invoke_obj, te_natmod_invoke);

static size_t te_check_index(te_natmod_model_t *self, mp_obj_t index, bool input) {
    const mp_int_t i = mp_obj_get_int(index);
    const size_t n = input ? self->model.n_inputs : self->model.n_outputs;
    if (i < 0 || (size_t)i >= n) {
        te_raise(&mp_type_IndexError, "%s index %d out of range: model '%s' has %d %s(s)",
                 input ? "input" : "output", (int)i, self->model.name, (int)n, input ? "input" : "output");
    }
    return (size_t)i;
}

static mp_obj_t te_natmod_input(mp_obj_t self_in, mp_obj_t index) {
    te_natmod_model_t *self = MP_OBJ_TO_PTR(self_in);
    return te_tensor_view(self, &self->model.inputs[te_check_index(self, index, true)], true);
}
static MP_DEFINE_CONST_FUN_OBJ_2(te_natmod_input_obj, te_natmod_input);

static mp_obj_t te_natmod_output(mp_obj_t self_in, mp_obj_t index) {
    te_natmod_model_t *self = MP_OBJ_TO_PTR(self_in);
    return te_tensor_view(self, &self->model.outputs[te_check_index(self, index, false)], false);
}
static MP_DEFINE_CONST_FUN_OBJ_2(te_natmod_output_obj, te_natmod_output);

/* ------------------------------------------------------------------ init */

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY

    mp_obj_t array_mod = mp_import_name(MP_QSTR_array, mp_const_none, MP_OBJ_NEW_SMALL_INT(0));
    te_natmod_array_type = mp_load_attr(array_mod, MP_QSTR_array);

    te_natmod_model_type.base.type = (void *)&mp_type_type;
    te_natmod_model_type.flags = MP_TYPE_FLAG_NONE;
    te_natmod_model_type.name = MP_QSTR_Model;
    MP_OBJ_TYPE_SET_SLOT(&te_natmod_model_type, make_new, te_natmod_make_new, 0);
    MP_OBJ_TYPE_SET_SLOT(&te_natmod_model_type, attr, te_natmod_attr, 1);
    MP_OBJ_TYPE_SET_SLOT(&te_natmod_model_type, print, te_natmod_print, 2);
    te_natmod_locals_table[0] = (mp_map_elem_t){ MP_OBJ_NEW_QSTR(MP_QSTR_predict), MP_OBJ_FROM_PTR(&te_natmod_predict_obj) };
    te_natmod_locals_table[1] = (mp_map_elem_t){ MP_OBJ_NEW_QSTR(MP_QSTR_invoke), MP_OBJ_FROM_PTR(&te_natmod_invoke_obj) };
    te_natmod_locals_table[2] = (mp_map_elem_t){ MP_OBJ_NEW_QSTR(MP_QSTR_input), MP_OBJ_FROM_PTR(&te_natmod_input_obj) };
    te_natmod_locals_table[3] = (mp_map_elem_t){ MP_OBJ_NEW_QSTR(MP_QSTR_output), MP_OBJ_FROM_PTR(&te_natmod_output_obj) };
    MP_OBJ_TYPE_SET_SLOT(&te_natmod_model_type, locals_dict, (void *)&te_natmod_locals, 3);

    te_natmod_globals = MP_OBJ_FROM_PTR(self->context->module.globals);
    mp_store_global(MP_QSTR__te_guarded, mp_const_none);  /* the loader sets it */
    mp_store_global(MP_QSTR_Model, MP_OBJ_FROM_PTR(&te_natmod_model_type));
    mp_store_global(MP_QSTR_MODEL_NAME, mp_obj_new_str(TE_NATMOD_NAME, te_strlen(TE_NATMOD_NAME)));

    MP_DYNRUNTIME_INIT_EXIT
}
