/* The model's ml.Model-style attributes as MicroPython objects, shared by both bindings: the
 * firmware module (modtinyengine.c) and the dynamic native module (natmod/te_natmod.c). Only
 * calls both have (py/dynruntime.h's set) are used here. Include after the MicroPython headers
 * and te_runtime.h. */
#ifndef TE_ATTRS_H
#define TE_ATTRS_H

/* A tensor's shape as a tuple of ints. */
static mp_obj_t te_shape_tuple(const te_tensor_info *t) {
    mp_obj_t dims[TE_MAX_DIMS];
    for (int d = 0; d < t->rank; d++) {
        dims[d] = mp_obj_new_int(t->shape[d]);
    }
    return mp_obj_new_tuple(t->rank, dims);
}

/* The four per-tensor attribute lists (shape, dtype, scale, zero point). */
static void te_tensor_lists(const te_tensor_info *infos, size_t n, mp_obj_t *shape, mp_obj_t *dtype,
                            mp_obj_t *scale, mp_obj_t *zero_point) {
    *shape = mp_obj_new_list(0, NULL);
    *dtype = mp_obj_new_list(0, NULL);
    *scale = mp_obj_new_list(0, NULL);
    *zero_point = mp_obj_new_list(0, NULL);
    for (size_t i = 0; i < n; i++) {
        const te_tensor_info *t = &infos[i];
        char tc = te_typecode(t->dtype);
        mp_obj_list_append(*shape, te_shape_tuple(t));
        mp_obj_list_append(*dtype, mp_obj_new_str(&tc, 1));
        mp_obj_list_append(*scale, mp_obj_new_float((mp_float_t)t->scale));
        mp_obj_list_append(*zero_point, mp_obj_new_int(t->zero_point));
    }
}

#endif
