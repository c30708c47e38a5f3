/* te-openmv: the `tinyengine` MicroPython module.
 *
 * Runs the models te-openmv compiled into this firmware (table in te_models.h).
 * The Python surface follows OpenMV's `ml.Model`, so scripts and OpenMV's
 * post-processors (`callback(model, inputs, outputs)`) carry over:
 *
 *     import tinyengine
 *     tinyengine.models()                 # ['person_detect', ...]
 *     m = tinyengine.Model('person_detect')   # allocates the arena once
 *     m.input_shape, m.input_dtype, ...   # lists, one entry per tensor
 *     m.predict([buf])                    # -> [outputs as float arrays]
 *     m.input(0)[:] = buf; m.invoke(); m.output(0)   # zero-copy
 *
 * Inputs are copied into the arena in the model's own layout: int8/uint8 tensors
 * byte for byte; a folded float input (dtype float32 over an int8 arena tensor,
 * see te_model.h) is quantized with te_quantize_f32_s8(), TFLite's rule. Outputs
 * come back dequantized: (float)(double(scale) * (q - zero_point)).
 * Nothing is allocated per call except the returned outputs.
 */
#include <string.h>

#include "py/runtime.h"
#include "py/obj.h"
#include "py/objarray.h"
#include "py/binary.h"
#include "py/gc.h"

#include "te_build_config.h"
#include "te_models.h"
#include "te_kernels.h"
#include "te_runtime.h"
#include "te_attrs.h"
#include "te_image.h"

#if !MICROPY_PY_BUILTINS_MEMORYVIEW
#error "tinyengine needs memoryview (MICROPY_PY_BUILTINS_MEMORYVIEW) for Model.input()/output()"
#endif

#if defined(MICROPY_PY_ULAB) && MICROPY_PY_ULAB
#define TE_HAVE_ULAB (1)
#include "ulab/code/ndarray.h"
#else
#define TE_HAVE_ULAB (0)
#if !MICROPY_PY_ARRAY
#error "tinyengine returns outputs as array('f'): enable MICROPY_PY_ARRAY (or build with ulab)"
#endif
#endif

#if TE_OPENMV_IMAGE
#include "py_image.h"
#include "py_helper.h"
#include "imlib.h"
#endif

#if TE_OPENMV_BUILD
#if __has_include("umalloc.h")
#include "umalloc.h"
#define TE_HAVE_UMA (1)
#elif __has_include("fb_alloc.h")
#include "fb_alloc.h"
#define TE_HAVE_FB_ALLOC (1)
#endif
#endif
#ifndef TE_HAVE_UMA
#define TE_HAVE_UMA (0)
#endif
#ifndef TE_HAVE_FB_ALLOC
#define TE_HAVE_FB_ALLOC (0)
#endif

/* Where a model's arena came from. */
enum { TE_ARENA_HEAP = 0, TE_ARENA_UMA = 1, TE_ARENA_FB = 2 };

typedef struct _tinyengine_model_obj_t {
    mp_obj_base_t base;
    const te_model *model;
    uint8_t *arena;          /* aligned to TE_ARENA_ALIGN */
    void *arena_block;       /* what the allocator returned (keeps a heap arena alive) */
    uint8_t arena_source;
    uint8_t busy;            /* inside predict(): its filler or callback must not run the model again */
    bool nearest;            /* images: te_image.h's nearest-neighbour rule instead of ml's */
    mp_obj_t postprocess;    /* Model(..., postprocess=f): as OpenMV's ml.Model */
    /* OpenMV's ml.Model attributes, built once. */
    mp_obj_t input_shape, input_dtype, input_scale, input_zero_point;
    mp_obj_t output_shape, output_dtype, output_scale, output_zero_point;
} tinyengine_model_obj_t;

static const mp_obj_type_t tinyengine_model_type;

/* ------------------------------------------------------------------ dtypes */

/* "1x96x96x1 int8", for error messages. */
static const char *te_describe(const te_tensor_info *t, uint8_t dtype) {
    vstr_t vstr;
    mp_print_t print;
    vstr_init_print(&vstr, 24, &print);
    for (int d = 0; d < t->rank; d++) {
        mp_printf(&print, d ? "x%d" : "%d", (int)t->shape[d]);
    }
    mp_printf(&print, " %s", te_dtype_name(dtype));
    return vstr_null_terminated_str(&vstr);
}

/* ------------------------------------------------------------ attributes
 * (te_shape_tuple, te_tensor_lists: te_attrs.h, shared with the other binding) */

/* How predict() draws an image.Image into an input: "ml" (OpenMV's ml preprocessing,
 * te_openmv.reference.preprocess.ml_image_to_input) or "nearest" (te_image.h). Hosts
 * that redo the drawing (verify --camera) read it. */
static mp_obj_t te_image_rule(const tinyengine_model_obj_t *self) {
    #if TE_OPENMV_IMAGE
    if (!self->nearest) {
        return MP_OBJ_NEW_QSTR(MP_QSTR_ml);
    }
    #else
    (void)self;
    #endif
    return MP_OBJ_NEW_QSTR(MP_QSTR_nearest);
}

static void tinyengine_model_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest) {
    tinyengine_model_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (dest[0] != MP_OBJ_NULL) {
        return;  /* store / delete: the attributes are read-only (AttributeError) */
    }
    const te_model *m = self->model;
    switch (attr) {
        case MP_QSTR_name: dest[0] = mp_obj_new_str(m->name, strlen(m->name)); break;
        case MP_QSTR_len: dest[0] = mp_obj_new_int_from_uint(m->weights_bytes); break;
        case MP_QSTR_ram: dest[0] = mp_obj_new_int_from_uint(m->arena_bytes); break;
        case MP_QSTR_macs: dest[0] = mp_obj_new_int_from_uint(m->macs); break;
        case MP_QSTR_input_shape: dest[0] = self->input_shape; break;
        case MP_QSTR_input_dtype: dest[0] = self->input_dtype; break;
        case MP_QSTR_input_scale: dest[0] = self->input_scale; break;
        case MP_QSTR_input_zero_point: dest[0] = self->input_zero_point; break;
        case MP_QSTR_output_shape: dest[0] = self->output_shape; break;
        case MP_QSTR_output_dtype: dest[0] = self->output_dtype; break;
        case MP_QSTR_output_scale: dest[0] = self->output_scale; break;
        case MP_QSTR_output_zero_point: dest[0] = self->output_zero_point; break;
        case MP_QSTR_postprocess: dest[0] = self->postprocess; break;
        case MP_QSTR_image_rule: dest[0] = te_image_rule(self); break;
        default: dest[1] = MP_OBJ_SENTINEL; break;  /* methods: continue in locals_dict */
    }
}

static void tinyengine_model_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    (void)kind;
    tinyengine_model_obj_t *self = MP_OBJ_TO_PTR(self_in);
    const te_model *m = self->model;
    mp_printf(print, "<Model '%s': %u inputs, %u outputs, arena %u B, weights %u B>", m->name,
              (unsigned)m->n_inputs, (unsigned)m->n_outputs, (unsigned)m->arena_bytes,
              (unsigned)m->weights_bytes);
}

/* ---------------------------------------------------------------- arena */

static size_t te_largest_heap_block(void) {
    gc_info_t info;
    gc_info(&info);
    return info.max_free * MICROPY_BYTES_PER_GC_BLOCK;
}

/* Allocate the model's arena: the MicroPython heap first; on OpenMV, the camera's
 * own allocator (UMA on current firmware, fb_alloc on 4.x) when the heap has no
 * block that large. MemoryError states the bytes needed. */
static void te_alloc_arena(tinyengine_model_obj_t *self) {
    const size_t need = self->model->arena_bytes;
    const size_t size = need + TE_ARENA_ALIGN - 1;
    void *block = m_malloc_maybe(size);
    self->arena_source = TE_ARENA_HEAP;
    #if TE_HAVE_UMA
    if (block == NULL) {
        block = uma_malign(size, TE_ARENA_ALIGN, UMA_FAST | UMA_PERSIST | UMA_MAYBE);
        self->arena_source = TE_ARENA_UMA;
    }
    #elif TE_HAVE_FB_ALLOC
    if (block == NULL) {
        /* fb_alloc raises MemoryError itself when short: catch it to say how much we need. */
        nlr_buf_t nlr;
        if (nlr_push(&nlr) == 0) {
            fb_alloc_mark();
            block = fb_alloc(size, 0);
            fb_alloc_mark_permanent();
            nlr_pop();
        } else {
            fb_alloc_free_till_mark();
            block = NULL;
        }
        self->arena_source = TE_ARENA_FB;
    }
    #endif
    if (block == NULL) {
        mp_raise_msg_varg(&mp_type_MemoryError,
                          MP_ERROR_TEXT("model '%s' needs an arena of %u bytes; the largest free heap block is %u bytes"),
                          self->model->name, (unsigned)need, (unsigned)te_largest_heap_block());
    }
    self->arena_block = block;
    self->arena = (uint8_t *)(((uintptr_t)block + TE_ARENA_ALIGN - 1) & ~(uintptr_t)(TE_ARENA_ALIGN - 1));
}

#if TE_HAVE_UMA || TE_HAVE_FB_ALLOC
/* Finaliser: give an arena from the camera's allocator back (heap arenas are the GC's). */
static mp_obj_t tinyengine_model_del(mp_obj_t self_in) {
    tinyengine_model_obj_t *self = MP_OBJ_TO_PTR(self_in);
    #if TE_HAVE_UMA
    if (self->arena_source == TE_ARENA_UMA && self->arena_block != NULL) {
        uma_free(self->arena_block);
    }
    #else
    if (self->arena_source == TE_ARENA_FB && self->arena_block != NULL) {
        fb_alloc_free_till_mark_past_mark_permanent();
    }
    #endif
    self->arena_block = NULL;
    self->arena = NULL;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(tinyengine_model_del_obj, tinyengine_model_del);
#endif

/* ---------------------------------------------------------- construction */

static const te_model *te_find_model(const char *name, size_t len) {
    for (size_t i = 0; i < te_models_count; i++) {
        if (strlen(te_models[i]->name) == len && memcmp(te_models[i]->name, name, len) == 0) {
            return te_models[i];
        }
    }
    return NULL;
}

static NORETURN void te_raise_unknown_model(const char *name) {
    vstr_t vstr;
    mp_print_t print;
    vstr_init_print(&vstr, 64, &print);
    for (size_t i = 0; i < te_models_count; i++) {
        mp_printf(&print, i ? ", '%s'" : "'%s'", te_models[i]->name);
    }
    mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("no model '%s' in this firmware; compiled in: %s"),
                      name, vstr_null_terminated_str(&vstr));
}

static mp_obj_t tinyengine_model_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw,
                                          const mp_obj_t *args) {
    /* Model(name, postprocess=None, *, nearest=False): ml.Model's signature plus our option. */
    enum { ARG_name, ARG_postprocess, ARG_nearest };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_name, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_postprocess, MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_nearest, MP_ARG_KW_ONLY | MP_ARG_BOOL, {.u_bool = false} },
    };
    mp_arg_val_t parsed[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all_kw_array(n_args, n_kw, args, MP_ARRAY_SIZE(allowed_args), allowed_args, parsed);
    mp_obj_t name_obj = parsed[ARG_name].u_obj;
    if (!mp_obj_is_str(name_obj)) {
        mp_raise_msg_varg(&mp_type_TypeError, MP_ERROR_TEXT("model name must be a str, got '%s'"),
                          mp_obj_get_type_str(name_obj));
    }
    size_t len;
    const char *name = mp_obj_str_get_data(name_obj, &len);
    if (memchr(name, 0, len) != NULL) {
        mp_raise_msg(&mp_type_ValueError, MP_ERROR_TEXT("model name contains a NUL character"));
    }
    mp_obj_t postprocess = parsed[ARG_postprocess].u_obj;
    if (postprocess != mp_const_none && !mp_obj_is_callable(postprocess)) {
        mp_raise_msg_varg(&mp_type_TypeError, MP_ERROR_TEXT("postprocess must be callable, got '%s'"),
                          mp_obj_get_type_str(postprocess));
    }
    const te_model *m = te_find_model(name, len);
    if (m == NULL) {
        te_raise_unknown_model(name);
    }
    #if TE_HAVE_UMA || TE_HAVE_FB_ALLOC
    tinyengine_model_obj_t *self = mp_obj_malloc_with_finaliser(tinyengine_model_obj_t, type);
    #else
    tinyengine_model_obj_t *self = mp_obj_malloc(tinyengine_model_obj_t, type);
    #endif
    self->model = m;
    self->arena = NULL;
    self->arena_block = NULL;
    self->busy = 0;
    self->postprocess = postprocess;
    self->nearest = parsed[ARG_nearest].u_bool;
    te_tensor_lists(m->inputs, m->n_inputs, &self->input_shape, &self->input_dtype, &self->input_scale,
                    &self->input_zero_point);
    te_tensor_lists(m->outputs, m->n_outputs, &self->output_shape, &self->output_dtype, &self->output_scale,
                    &self->output_zero_point);
    te_alloc_arena(self);
    return MP_OBJ_FROM_PTR(self);
}

/* ---------------------------------------------------------------- inputs */

/* Copy one buffer-protocol input into the arena (quantizing a float edge). */
static void te_load_buffer(const tinyengine_model_obj_t *self, size_t i, const mp_buffer_info_t *buf) {
    const te_tensor_info *t = &self->model->inputs[i];
    uint8_t *dst = self->arena + t->offset;
    const char want = te_typecode(t->dtype);
    if (buf->typecode != want && !te_is_raw_bytes(buf->typecode)) {
        mp_raise_msg_varg(&mp_type_TypeError,
                          MP_ERROR_TEXT("input %d: expected %s data (typecode '%c') or raw bytes, got typecode '%c'"),
                          (int)i, te_dtype_name(t->dtype), want, buf->typecode);
    }
    const size_t need = te_user_bytes(t);
    if (buf->len != need) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("input %d: expected %u bytes (%s), got %u"),
                          (int)i, (unsigned)need, te_describe(t, t->dtype), (unsigned)buf->len);
    }
    te_copy_input(t, buf->buf, dst);
}

static mp_obj_t te_arena_view(const tinyengine_model_obj_t *self, const te_tensor_info *t, char typecode,
                              size_t itemsize, bool writable);

/* OpenMV's preprocessing protocol: a callable input fills the tensor in place,
 * called as f(buffer, shape, dtype) with a writable byte memoryview over the arena
 * tensor (fixed size: a bytearray over the arena could be grown, which would hand the
 * arena's heap block to the allocator), its shape tuple and the arena typecode as an
 * int (ord('b') for int8). */
static void te_load_callable(const tinyengine_model_obj_t *self, size_t i, mp_obj_t fn) {
    const te_tensor_info *t = &self->model->inputs[i];
    mp_obj_t args[3] = {
        te_arena_view(self, t, 'B', 1, true),
        te_shape_tuple(t),
        MP_OBJ_NEW_SMALL_INT(te_typecode(t->arena_dtype)),
    };
    mp_call_function_n_kw(fn, 3, 0, args);
}

#if TE_OPENMV_IMAGE
/* An image.Image drawn into an [1, H, W, C] int8/uint8 tensor by te_image.h's
 * nearest-neighbour rule (Model(..., nearest=True)). */
static void te_load_image_nearest(const tinyengine_model_obj_t *self, size_t i, mp_obj_t obj) {
    const te_tensor_info *t = &self->model->inputs[i];
    image_t *img = py_image_cobj(obj);
    if (t->rank != 4 || t->shape[0] != 1 || (t->arena_dtype != TE_INT8 && t->arena_dtype != TE_UINT8)) {
        mp_raise_msg_varg(&mp_type_TypeError, MP_ERROR_TEXT("input %d (%s) cannot take an image: expected 1xHxWxC int8/uint8"),
                          (int)i, te_describe(t, t->dtype));
    }
    te_pixfmt fmt;
    if (img->pixfmt == PIXFORMAT_GRAYSCALE) {
        fmt = TE_PIXFMT_GRAY8;
    } else if (img->pixfmt == PIXFORMAT_RGB565) {
        fmt = TE_PIXFMT_RGB565;
    } else {
        mp_raise_msg_varg(&mp_type_TypeError,
                          MP_ERROR_TEXT("input %d: only GRAYSCALE and RGB565 images can be drawn into a tensor (use to_grayscale() or to_rgb565())"),
                          (int)i);
    }
    int r = te_image_to_tensor(img->data, img->w, img->h, fmt, self->arena + t->offset, (int)t->shape[1],
                               (int)t->shape[2], (int)t->shape[3], t->arena_dtype == TE_INT8);
    if (r == TE_IMAGE_BAD_CHANNELS) {
        mp_raise_msg_varg(&mp_type_TypeError, MP_ERROR_TEXT("input %d has %d channels: an image fills 1 or 3"),
                          (int)i, (int)t->shape[3]);
    } else if (r != TE_IMAGE_OK) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("input %d: empty image or tensor"), (int)i);
    }
}
#endif

#if TE_OPENMV_IMAGE
/* ----------------------------------------- OpenMV ml compatibility: images
 *
 * What OpenMV's ml.Model does with an image input (scripts/libraries/ml: Model.predict
 * wraps it in ml.preprocessing.Normalization, whose __call__ draws it into the input
 * tensor), done here without the Python round trip: the image (or the Normalization's
 * ROI of it) is drawn by imlib_draw_image() with Normalization's hints into a GRAYSCALE
 * (1 channel) or RGB565 (3 channels) image placed at the end of the input tensor, then
 * widened in place to the tensor's bytes (te_pixels_to_tensor: what image.to_ndarray()
 * computes). A folded float input gets Normalization's default x = pixel * (1 / 255)
 * quantized by TFLite's rule, as tflite-micro's QUANTIZE would. */

/* Normalization's hints, image.BILINEAR | image.CENTER | image.SCALE_ASPECT_IGNORE |
 * image.BLACK_BACKGROUND, taken from the image module as Python sees them: in current
 * OpenMV image.BLACK_BACKGROUND reads 0 (bit 31 does not fit its small-int constant), so
 * ml draws without it, and so must we to get its pixels. */
static image_hint_t te_ml_draw_hints(void) {
    mp_obj_t image_mod = mp_import_name(MP_QSTR_image, mp_const_none, MP_OBJ_NEW_SMALL_INT(0));
    static const qstr names[] = { MP_QSTR_BILINEAR, MP_QSTR_CENTER, MP_QSTR_SCALE_ASPECT_IGNORE,
                                  MP_QSTR_BLACK_BACKGROUND };
    uint32_t hints = 0;
    for (size_t k = 0; k < MP_ARRAY_SIZE(names); k++) {
        hints |= (uint32_t)mp_obj_get_int_truncated(mp_load_attr(image_mod, names[k]));
    }
    return (image_hint_t)hints;
}

static void te_load_image_ml(const tinyengine_model_obj_t *self, size_t i, mp_obj_t img_obj, mp_obj_t roi_obj) {
    const te_tensor_info *t = &self->model->inputs[i];
    image_t *src = py_image_cobj(img_obj);
    if (t->rank != 4 || t->shape[0] != 1 || (t->shape[3] != 1 && t->shape[3] != 3) ||
        (t->arena_dtype != TE_INT8 && t->arena_dtype != TE_UINT8)) {
        mp_raise_msg_varg(&mp_type_TypeError,
                          MP_ERROR_TEXT("input %d (%s) cannot take an image: expected 1xHxWx1 or 1xHxWx3 int8/uint8"),
                          (int)i, te_describe(t, t->dtype));
    }
    const int h = (int)t->shape[1], w = (int)t->shape[2], c = (int)t->shape[3];
    rectangle_t roi = py_helper_arg_to_roi(roi_obj, src);
    uint8_t *tensor = self->arena + t->offset;
    const size_t n = (size_t)w * (size_t)h;
    const bool float_edge = te_is_float_edge(t);
    const uint32_t want_fmt = c == 1 ? PIXFORMAT_GRAYSCALE : PIXFORMAT_RGB565;
    if (!float_edge && src->pixfmt == want_fmt && src->w == w && src->h == h && roi.x == 0 && roi.y == 0 &&
        roi.w == w && roi.h == h) {
        /* At scale 1 imlib_draw_image copies the pixels (its nearest-neighbour path), so
         * the widening can read the image itself. */
        te_pixels_to_tensor(tensor, src->data, (int)n, c == 1 ? TE_PIXFMT_GRAY8 : TE_PIXFMT_RGB565,
                            t->arena_dtype == TE_INT8);
        return;
    }
    image_t dst = {
        .w = w, .h = h,
        .pixfmt = c == 1 ? PIXFORMAT_GRAYSCALE : PIXFORMAT_RGB565,
        .data = tensor + t->bytes - n * (c == 1 ? 1 : 2),
    };
    imlib_draw_image(&dst, src, 0, 0, 1.0f, 1.0f, &roi, -1, 255, NULL, NULL, te_ml_draw_hints(), NULL, NULL, NULL,
                     NULL);
    te_pixels_to_tensor(tensor, dst.data, (int)n, c == 1 ? TE_PIXFMT_GRAY8 : TE_PIXFMT_RGB565,
                        t->arena_dtype == TE_INT8 && !float_edge);
    if (float_edge) {
        const float fscale = 1.0f / 255.0f;  /* Normalization(scale=(0.0, 1.0)) */
        for (size_t k = 0; k < n * (size_t)c; k++) {
            float x = (float)tensor[k] * fscale + 0.0f;
            te_quantize_f32_s8(&x, (int8_t *)tensor + k, 1, t->scale, t->zero_point);
        }
    }
}

/* The image an input stands for and its ROI: an image.Image (whole image), or an
 * ml.preprocessing.Normalization made from one (its _image and roi) for an int8/uint8
 * tensor, where its scale/mean/stdev do not apply. Returns false for anything else. */
static bool te_image_of_input(const te_tensor_info *t, mp_obj_t obj, mp_obj_t *img, mp_obj_t *roi) {
    if (mp_obj_is_type(obj, &py_image_type)) {
        *img = obj;
        *roi = mp_const_none;
        return true;
    }
    if (te_is_float_edge(t) || mp_obj_is_int(obj) || mp_obj_is_str_or_bytes(obj)) {
        return false;
    }
    mp_obj_t dest[2];
    mp_load_method_protected(obj, MP_QSTR__image, dest, true);
    if (dest[0] == MP_OBJ_NULL || dest[1] != MP_OBJ_NULL || !mp_obj_is_type(dest[0], &py_image_type)) {
        return false;
    }
    *img = dest[0];
    *roi = mp_load_attr(obj, MP_QSTR_roi);
    return true;
}

/* Load input i when it is an image (see te_image_of_input); false: not an image. */
static bool te_load_image_input(const tinyengine_model_obj_t *self, size_t i, mp_obj_t obj) {
    mp_obj_t img, roi;
    if (!te_image_of_input(&self->model->inputs[i], obj, &img, &roi)) {
        return false;
    }
    if (self->nearest) {
        te_load_image_nearest(self, i, img);
    } else {
        te_load_image_ml(self, i, img, roi);
    }
    return true;
}

/* ml.preprocessing.Normalization, or MP_OBJ_NULL when the firmware has no ml library. */
static mp_obj_t te_ml_normalization(void) {
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_obj_t fromlist = mp_obj_new_tuple(1, (mp_obj_t[]) { MP_OBJ_NEW_QSTR(MP_QSTR_Normalization) });
        /* Interned at run time: an MP_QSTR_ spelling of a dotted name would collide with
         * the frozen ml package's own qstr for it. */
        mp_obj_t mod = mp_import_name(qstr_from_str("ml.preprocessing"), fromlist, MP_OBJ_NEW_SMALL_INT(0));
        mp_obj_t cls = mp_load_attr(mod, MP_QSTR_Normalization);
        nlr_pop();
        return cls;
    }
    return MP_OBJ_NULL;
}

/* The inputs a post-processor sees, as ml.Model gives them: each image.Image replaced by
 * Normalization()(image), which carries the .roi that ml.postprocessing reads. */
static mp_obj_t te_callback_inputs(mp_obj_t inputs) {
    size_t n;
    mp_obj_t *items;
    mp_obj_get_array(inputs, &n, &items);
    mp_obj_t out = MP_OBJ_NULL;
    mp_obj_t norm = MP_OBJ_NULL;
    for (size_t i = 0; i < n; i++) {
        if (!mp_obj_is_type(items[i], &py_image_type)) {
            continue;
        }
        if (norm == MP_OBJ_NULL && (norm = te_ml_normalization()) == MP_OBJ_NULL) {
            return inputs;
        }
        if (out == MP_OBJ_NULL) {
            out = mp_obj_new_list(n, items);
        }
        mp_obj_t wrapper = mp_call_function_0(norm);
        ((mp_obj_list_t *)MP_OBJ_TO_PTR(out))->items[i] = mp_call_function_1(wrapper, items[i]);
    }
    return out == MP_OBJ_NULL ? inputs : out;
}
#endif

static NORETURN void te_raise_bad_input(size_t i, mp_obj_t obj) {
    #if TE_OPENMV_IMAGE
    mp_raise_msg_varg(&mp_type_TypeError,
                      MP_ERROR_TEXT("input %d: expected a buffer (bytes, bytearray, array, memoryview, ndarray), an image.Image or a callable, got '%s'"),
                      (int)i, mp_obj_get_type_str(obj));
    #else
    mp_raise_msg_varg(&mp_type_TypeError,
                      MP_ERROR_TEXT("input %d: expected a buffer (bytes, bytearray, array, memoryview, ndarray) or a callable, got '%s'"),
                      (int)i, mp_obj_get_type_str(obj));
    #endif
}

static void te_load_inputs(const tinyengine_model_obj_t *self, mp_obj_t inputs) {
    const te_model *m = self->model;
    size_t n;
    mp_obj_t *items;
    if (!mp_obj_is_type(inputs, &mp_type_list) && !mp_obj_is_type(inputs, &mp_type_tuple)) {
        mp_raise_msg_varg(&mp_type_TypeError, MP_ERROR_TEXT("inputs must be a list with one entry per model input, got '%s'"),
                          mp_obj_get_type_str(inputs));
    }
    mp_obj_get_array(inputs, &n, &items);
    if (n != m->n_inputs) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("model '%s' takes %d input(s), got %d"), m->name,
                          (int)m->n_inputs, (int)n);
    }
    for (size_t i = 0; i < n; i++) {
        mp_buffer_info_t buf;
        #if TE_OPENMV_IMAGE
        if (te_load_image_input(self, i, items[i])) {
            continue;
        }
        #endif
        if (mp_obj_is_str(items[i])) {
            te_raise_bad_input(i, items[i]);  /* text is not tensor data, even though it has a buffer */
        } else if (mp_get_buffer(items[i], &buf, MP_BUFFER_READ)) {
            te_load_buffer(self, i, &buf);
        } else if (mp_obj_is_callable(items[i])) {
            te_load_callable(self, i, items[i]);
        } else {
            te_raise_bad_input(i, items[i]);
        }
    }
}

/* --------------------------------------------------------------- running */

/* RuntimeError when called from the model's own predict() (its filler or callback):
 * running again would overwrite the inputs and outputs that call is working on. */
static void te_check_not_busy(const tinyengine_model_obj_t *self, const char *what) {
    if (self->busy) {
        mp_raise_msg_varg(&mp_type_RuntimeError,
                          MP_ERROR_TEXT("%s() of model '%s' called from its own predict() (a filler or callback)"),
                          what, self->model->name);
    }
}

static void te_invoke(const tinyengine_model_obj_t *self) {
    int err = self->model->invoke(self->model, self->arena);
    if (err != 0) {
        mp_raise_msg_varg(&mp_type_RuntimeError, MP_ERROR_TEXT("model '%s' failed (error %d)"), self->model->name, err);
    }
}

#if TE_HAVE_ULAB
/* Tensor t's shape as ulab stores it: right-aligned in ULAB_MAX_DIMS entries (1 elsewhere),
 * dimensions beyond ULAB_MAX_DIMS folded into the first; returns the ndarray's ndim. */
static int te_ulab_shape(const te_tensor_info *t, size_t shape[ULAB_MAX_DIMS]) {
    for (size_t d = 0; d < ULAB_MAX_DIMS; d++) {
        shape[d] = 1;
    }
    const int rank = t->rank < 1 ? 1 : t->rank;
    const int ndim = rank < ULAB_MAX_DIMS ? rank : ULAB_MAX_DIMS;
    for (int d = 0; d < ndim; d++) {
        shape[ULAB_MAX_DIMS - 1 - d] = t->rank ? (size_t)t->shape[t->rank - 1 - d] : 1;
    }
    for (int d = 0; d < rank - ndim; d++) {
        shape[ULAB_MAX_DIMS - ndim] *= (size_t)t->shape[d];
    }
    return ndim;
}
#endif

/* A new float output object for tensor t (ulab ndarray of the tensor's shape, else a
 * flat array('f')) and where its elements live. */
static mp_obj_t te_new_output(const te_tensor_info *t, void **data) {
    const size_t n = te_elements(t);
    #if TE_HAVE_ULAB
    size_t shape[ULAB_MAX_DIMS];
    const int ndim = te_ulab_shape(t, shape);
    ndarray_obj_t *nd = ndarray_new_dense_ndarray((uint8_t)ndim, shape, NDARRAY_FLOAT);
    *data = nd->array;
    (void)n;
    return MP_OBJ_FROM_PTR(nd);
    #else
    mp_obj_array_t *a = m_new_obj(mp_obj_array_t);
    a->base.type = &mp_type_array;
    a->typecode = 'f';
    a->free = 0;
    a->len = n;
    a->items = m_new(float, n);
    *data = a->items;
    return MP_OBJ_FROM_PTR(a);
    #endif
}

static mp_obj_t te_collect_outputs(const tinyengine_model_obj_t *self) {
    const te_model *m = self->model;
    mp_obj_t list = mp_obj_new_list(m->n_outputs, NULL);
    mp_obj_list_t *l = MP_OBJ_TO_PTR(list);
    for (size_t i = 0; i < m->n_outputs; i++) {
        const te_tensor_info *t = &m->outputs[i];
        void *data;
        l->items[i] = te_new_output(t, &data);
        const size_t n = te_elements(t);
        const uint8_t *src = self->arena + t->offset;
        #if TE_HAVE_ULAB
        if (sizeof(mp_float_t) != sizeof(float)) {  /* ulab built with double */
            float chunk[TE_CHUNK];
            for (size_t k = 0; k < n; k += TE_CHUNK) {
                const size_t c = n - k < TE_CHUNK ? n - k : TE_CHUNK;
                te_dequantize(t, src, k, c, chunk);
                for (size_t j = 0; j < c; j++) {
                    ((mp_float_t *)data)[k + j] = (mp_float_t)chunk[j];
                }
            }
            continue;
        }
        #endif
        te_dequantize(t, src, 0, n, (float *)data);
    }
    return list;
}

/* ----------------------------------------- OpenMV ml compatibility: outputs
 *
 * OpenMV's ml.Model gives a post-processor (callback= or Model(..., postprocess=)) the
 * output tensors themselves, typed as the model stores them (int8 'b' for OpenMV's
 * models) over the interpreter's memory, and ml.postprocessing dequantizes with the
 * model's output_scale / output_zero_point. The same here: ndarrays (memoryviews
 * without ulab) over the arena. A folded float output has no raw tensor: it is handed
 * over dequantized, as its float32 dtype says. */
static mp_obj_t te_tensor_view(const tinyengine_model_obj_t *self, const te_tensor_info *t, bool writable);

static mp_obj_t te_raw_output(const tinyengine_model_obj_t *self, const te_tensor_info *t) {
    #if TE_HAVE_ULAB
    size_t shape[ULAB_MAX_DIMS];
    const int ndim = te_ulab_shape(t, shape);
    const char tc = te_typecode(t->arena_dtype);
    if (tc == 'b' || tc == 'B' || tc == 'h' || tc == 'f') {
        return MP_OBJ_FROM_PTR(ndarray_new_ndarray((uint8_t)ndim, shape, NULL, (uint8_t)tc, self->arena + t->offset));
    }
    #endif
    return te_tensor_view(self, t, false);
}

static mp_obj_t te_raw_outputs(const tinyengine_model_obj_t *self) {
    const te_model *m = self->model;
    mp_obj_t list = mp_obj_new_list(m->n_outputs, NULL);
    mp_obj_list_t *l = MP_OBJ_TO_PTR(list);
    mp_obj_t floats = MP_OBJ_NULL;
    for (size_t i = 0; i < m->n_outputs; i++) {
        const te_tensor_info *t = &m->outputs[i];
        if (te_is_float_edge(t)) {
            if (floats == MP_OBJ_NULL) {
                floats = te_collect_outputs(self);
            }
            l->items[i] = ((mp_obj_list_t *)MP_OBJ_TO_PTR(floats))->items[i];
        } else {
            l->items[i] = te_raw_output(self, t);
        }
    }
    return list;
}

/* predict(inputs, callback=None) */
static mp_obj_t tinyengine_model_predict(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_inputs, ARG_callback };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_inputs, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_callback, MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    tinyengine_model_obj_t *self = MP_OBJ_TO_PTR(pos_args[0]);
    mp_obj_t callback = args[ARG_callback].u_obj;
    if (callback != mp_const_none && !mp_obj_is_callable(callback)) {
        mp_raise_msg_varg(&mp_type_TypeError, MP_ERROR_TEXT("callback must be callable, got '%s'"),
                          mp_obj_get_type_str(callback));
    }
    te_check_not_busy(self, "predict");
    self->busy = 1;
    nlr_buf_t nlr;
    mp_obj_t result;
    if (nlr_push(&nlr) == 0) {
        te_load_inputs(self, args[ARG_inputs].u_obj);
        te_invoke(self);
        /* As ml.Model: a callback, else the model's postprocess, gets (model, inputs, raw outputs). */
        mp_obj_t post = callback != mp_const_none ? callback : self->postprocess;
        if (post == mp_const_none) {
            result = te_collect_outputs(self);
        } else {
            mp_obj_t cb_inputs = args[ARG_inputs].u_obj;
            #if TE_OPENMV_IMAGE
            cb_inputs = te_callback_inputs(cb_inputs);
            #endif
            mp_obj_t cb_args[3] = { MP_OBJ_FROM_PTR(self), cb_inputs, te_raw_outputs(self) };
            result = mp_call_function_n_kw(post, 3, 0, cb_args);
        }
        nlr_pop();
    } else {
        self->busy = 0;
        nlr_jump(nlr.ret_val);
    }
    self->busy = 0;
    return result;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(tinyengine_model_predict_obj, 1, tinyengine_model_predict);

/* invoke(): run on whatever the arena's input tensors hold. */
static mp_obj_t tinyengine_model_invoke(mp_obj_t self_in) {
    te_check_not_busy(MP_OBJ_TO_PTR(self_in), "invoke");
    te_invoke(MP_OBJ_TO_PTR(self_in));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(tinyengine_model_invoke_obj, tinyengine_model_invoke);

/* ------------------------------------------------------------- zero copy */

/* A memoryview of tensor t in the arena with the given item type. */
static mp_obj_t te_arena_view(const tinyengine_model_obj_t *self, const te_tensor_info *t, char tc, size_t itemsize,
                              bool writable) {
    size_t typecode = (size_t)tc | (writable ? MP_OBJ_ARRAY_TYPECODE_FLAG_RW : 0);
    mp_obj_array_t *view = m_new_obj(mp_obj_array_t);
    /* Point the view at the start of the heap block with an element offset, as
     * memoryview slices do, so the view alone keeps a heap arena alive. */
    const size_t byte_offset = (size_t)(self->arena - (uint8_t *)self->arena_block) + t->offset;
    if (self->arena_source == TE_ARENA_HEAP && byte_offset % itemsize == 0) {
        mp_obj_memoryview_init(view, typecode, byte_offset / itemsize, t->bytes / itemsize, self->arena_block);
    } else {
        mp_obj_memoryview_init(view, typecode, 0, t->bytes / itemsize, self->arena + t->offset);
    }
    return MP_OBJ_FROM_PTR(view);
}

/* A memoryview of tensor t in the arena, typed as the arena stores it. */
static mp_obj_t te_tensor_view(const tinyengine_model_obj_t *self, const te_tensor_info *t, bool writable) {
    return te_arena_view(self, t, te_typecode(t->arena_dtype), te_dtype_size(t->arena_dtype), writable);
}

static size_t te_check_index(const tinyengine_model_obj_t *self, mp_obj_t index, bool input) {
    const mp_int_t i = mp_obj_get_int(index);
    const size_t n = input ? self->model->n_inputs : self->model->n_outputs;
    if (i < 0 || (size_t)i >= n) {
        mp_raise_msg_varg(&mp_type_IndexError, MP_ERROR_TEXT("%s index %d out of range: model '%s' has %d %s(s)"),
                          input ? "input" : "output", (int)i, self->model->name, (int)n, input ? "input" : "output");
    }
    return (size_t)i;
}

static mp_obj_t tinyengine_model_input(mp_obj_t self_in, mp_obj_t index) {
    tinyengine_model_obj_t *self = MP_OBJ_TO_PTR(self_in);
    size_t i = te_check_index(self, index, true);
    return te_tensor_view(self, &self->model->inputs[i], true);
}
static MP_DEFINE_CONST_FUN_OBJ_2(tinyengine_model_input_obj, tinyengine_model_input);

static mp_obj_t tinyengine_model_output(mp_obj_t self_in, mp_obj_t index) {
    tinyengine_model_obj_t *self = MP_OBJ_TO_PTR(self_in);
    size_t i = te_check_index(self, index, false);
    return te_tensor_view(self, &self->model->outputs[i], false);
}
static MP_DEFINE_CONST_FUN_OBJ_2(tinyengine_model_output_obj, tinyengine_model_output);

/* ----------------------------------------------------------------- types */

static const mp_rom_map_elem_t tinyengine_model_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_predict), MP_ROM_PTR(&tinyengine_model_predict_obj) },
    { MP_ROM_QSTR(MP_QSTR_invoke), MP_ROM_PTR(&tinyengine_model_invoke_obj) },
    { MP_ROM_QSTR(MP_QSTR_input), MP_ROM_PTR(&tinyengine_model_input_obj) },
    { MP_ROM_QSTR(MP_QSTR_output), MP_ROM_PTR(&tinyengine_model_output_obj) },
    #if TE_HAVE_UMA || TE_HAVE_FB_ALLOC
    { MP_ROM_QSTR(MP_QSTR___del__), MP_ROM_PTR(&tinyengine_model_del_obj) },
    #endif
};
static MP_DEFINE_CONST_DICT(tinyengine_model_locals_dict, tinyengine_model_locals_dict_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    tinyengine_model_type,
    MP_QSTR_Model,
    MP_TYPE_FLAG_NONE,
    make_new, tinyengine_model_make_new,
    attr, tinyengine_model_attr,
    print, tinyengine_model_print,
    locals_dict, &tinyengine_model_locals_dict
    );

/* models(): names of the models compiled into this firmware. */
static mp_obj_t tinyengine_models(void) {
    mp_obj_t list = mp_obj_new_list(te_models_count, NULL);
    mp_obj_list_t *l = MP_OBJ_TO_PTR(list);
    for (size_t i = 0; i < te_models_count; i++) {
        l->items[i] = mp_obj_new_str(te_models[i]->name, strlen(te_models[i]->name));
    }
    return list;
}
static MP_DEFINE_CONST_FUN_OBJ_0(tinyengine_models_obj, tinyengine_models);

static const mp_rom_map_elem_t tinyengine_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_tinyengine) },
    { MP_ROM_QSTR(MP_QSTR_models), MP_ROM_PTR(&tinyengine_models_obj) },
    { MP_ROM_QSTR(MP_QSTR_Model), MP_ROM_PTR(&tinyengine_model_type) },
};
static MP_DEFINE_CONST_DICT(tinyengine_module_globals, tinyengine_module_globals_table);

const mp_obj_module_t tinyengine_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&tinyengine_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_tinyengine, tinyengine_user_cmodule);
