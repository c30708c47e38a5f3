# te-openmv `tinyengine` user C module (MicroPython's USER_C_MODULES, make-based ports).
#
# Not used from the repository as is: `te-openmv build-firmware` stages this file
# with the module, the generated models and the kernels they need into
#   <staging>/tinyengine/{modtinyengine.c, te_image.c, te_models.c, te_build_config.h,
#                         models/*.c|h, te_openmv/kernels/*.c, include/*.h}
# and points USER_C_MODULES at <staging> (or copies the folder into an OpenMV tree).

TINYENGINE_DIR := $(USERMOD_DIR)

# The binding is scanned for qstrs; kernels and models use no MicroPython API.
SRC_USERMOD_C += $(TINYENGINE_DIR)/modtinyengine.c
SRC_USERMOD_LIB_C += $(TINYENGINE_DIR)/te_image.c $(TINYENGINE_DIR)/te_models.c
SRC_USERMOD_LIB_C += $(sort $(wildcard $(TINYENGINE_DIR)/models/*.c))
SRC_USERMOD_LIB_C += $(sort $(wildcard $(TINYENGINE_DIR)/kernels/*.c))

CFLAGS_USERMOD += -I$(TINYENGINE_DIR) -I$(TINYENGINE_DIR)/include -I$(TINYENGINE_DIR)/models

# Kernels and models are the hot loops: build them for speed even where the port
# optimises for size (-Os). The last -O on the command line wins.
TINYENGINE_COPT ?= -O2
TINYENGINE_OBJ_DIR := $(BUILD)/$(patsubst $(USER_C_MODULES)/%,%,$(TINYENGINE_DIR))
$(TINYENGINE_OBJ_DIR)/kernels/%.o $(TINYENGINE_OBJ_DIR)/models/%.o: CFLAGS += $(TINYENGINE_COPT)
