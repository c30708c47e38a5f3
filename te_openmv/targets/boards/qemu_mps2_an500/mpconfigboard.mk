# te-openmv board for MicroPython's ports/qemu: QEMU's `mps2-an500` machine, an ARM
# MPS2 FPGA image with a Cortex-M7 (ARMv7E-M: DSP extension, double-precision FPU),
# the closest QEMU model of an OpenMV camera's STM32F7/H7 core.
# Pass this directory as BOARD_DIR (see te_openmv/targets/micropython_build.py).
#
# Memory map (QEMU hw/arm/mps2.c): 4 MiB SSRAM at 0x00000000 holds the image (QEMU
# takes SP and PC from address 0), 4 MiB RAM at 0x20000000 holds data, bss, the
# MicroPython heap and the stack. UART0 at 0x40004000 is the same CMSDK UART as on
# the port's MPS2_AN385 board, so QEMU_SOC_MPS2 selects the right driver.

QEMU_ARCH = arm
QEMU_MACHINE = mps2-an500

CFLAGS += -mthumb -mcpu=cortex-m7 -mfpu=fpv5-d16 -mfloat-abi=hard
CFLAGS += -DQEMU_SOC_MPS2
CFLAGS += -DMICROPY_HW_MCU_NAME='"Cortex-M7"'

LDSCRIPT = $(BOARD_DIR)/mps2_an500.ld

# Our vector table: its reset handler turns the FPU on, then runs the port's start-up.
SRC_BOARD_O = shared/runtime/gchelper_native.o shared/runtime/gchelper_thumb2.o
SRC_BOARD_O += $(BOARD_DIR)/an500_vectors.o

# Models need arenas of up to ~300 KB; leave room for those in .bss as well.
MICROPY_HEAP_SIZE = 2621440

MPY_CROSS_FLAGS += -march=armv7emdp
