/* startup.c - bring-up of QEMU's mps2-an500 (Cortex-M7) for the bench harness:
 * vector table, reset (FPU, .data/.bss, stack paint, MPU stack guard, switch to the
 * program stack), fault reporting, UART0 output, semihosting exit and the few newlib
 * system calls a program may pull in (printf -> _write, malloc -> _sbrk). */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "te_board.h"
#include "te_bench.h"

#define REG32(addr) (*(volatile uint32_t *)(addr))

/* System control block (ARMv7-M). */
#define SCB_CPACR  REG32(0xE000ED88u)
#define SCB_SHCSR  REG32(0xE000ED24u)
#define SCB_CFSR   REG32(0xE000ED28u)
#define SCB_HFSR   REG32(0xE000ED2Cu)
#define SCB_MMFAR  REG32(0xE000ED34u)
#define SCB_BFAR   REG32(0xE000ED38u)
#define SHCSR_MEMFAULTENA (1u << 16)
#define SHCSR_BUSFAULTENA (1u << 17)
#define SHCSR_USGFAULTENA (1u << 18)
#define CPACR_CP10_CP11_FULL (0xFu << 20)

/* CFSR bits worth naming in a fault report. */
#define CFSR_IACCVIOL   (1u << 0)
#define CFSR_DACCVIOL   (1u << 1)
#define CFSR_MUNSTKERR  (1u << 3)
#define CFSR_MSTKERR    (1u << 4)
#define CFSR_MMARVALID  (1u << 7)
#define CFSR_IBUSERR    (1u << 8)
#define CFSR_PRECISERR  (1u << 9)
#define CFSR_IMPRECISERR (1u << 10)
#define CFSR_STKERR     (1u << 12)
#define CFSR_BFARVALID  (1u << 15)
#define CFSR_UNDEFINSTR (1u << 16)
#define CFSR_INVSTATE   (1u << 17)
#define CFSR_INVPC      (1u << 18)
#define CFSR_NOCP       (1u << 19)
#define CFSR_UNALIGNED  (1u << 24)
#define CFSR_DIVBYZERO  (1u << 25)

/* MPU (PMSAv7). */
#define MPU_CTRL REG32(0xE000ED94u)
#define MPU_RNR  REG32(0xE000ED98u)
#define MPU_RBAR REG32(0xE000ED9Cu)
#define MPU_RASR REG32(0xE000EDA0u)
#define MPU_CTRL_ENABLE     (1u << 0)
#define MPU_CTRL_PRIVDEFENA (1u << 2)  /* default memory map for everything outside the regions */
#define MPU_RASR_ENABLE     (1u << 0)
#define MPU_RASR_SIZE(log2) (((log2) - 1u) << 1)
#define MPU_RASR_AP_NONE    (0u << 24)
#define MPU_RASR_XN         (1u << 28)
#define TE_STACK_GUARD_LOG2 10u        /* 1 KiB, as in mps2_an500.ld */
#define TE_STACK_GUARD_SIZE (1u << TE_STACK_GUARD_LOG2)
/* A frame larger than the guard can jump over it; below RAM QEMU's mps2 accepts
 * writes silently, so the 64 MiB under RAM are made no-access as well. */
#define TE_BELOW_RAM_LOG2 26u
#define TE_BELOW_RAM_BASE (0x20000000u - (1u << TE_BELOW_RAM_LOG2))

/* CMSDK APB UART0. */
#define UART0_DATA    REG32(0x40004000u)
#define UART0_STATE   REG32(0x40004004u)
#define UART0_CTRL    REG32(0x40004008u)
#define UART0_BAUDDIV REG32(0x40004010u)
#define UART_STATE_TX_FULL (1u << 0)
#define UART_CTRL_TX_EN    (1u << 0)

/* ARM semihosting. */
#define SEMIHOST_SYS_EXIT_EXTENDED 0x20u
#define SEMIHOST_ADP_STOPPED_APPLICATION_EXIT 0x20026u

extern uint8_t __te_stack_guard[], __te_handler_stack_top[];
extern uint8_t __te_data_start[], __te_data_end[], __te_data_load[];
extern uint8_t __te_bss_start[], __te_bss_end[];
extern uint8_t __te_psram_bss_start[], __te_psram_bss_end[];
extern uint8_t __te_heap_start[], __te_ram_end[];
typedef void (*te_init_fn)(void);
extern te_init_fn __te_init_array_start[], __te_init_array_end[];

void te_reset_handler(void);
void te_fault_handler(void);

/* ------------------------------------------------------------------ output */

static void uart_init(void) {
    UART0_BAUDDIV = 16; /* QEMU ignores the rate but wants a legal divisor */
    UART0_CTRL = UART_CTRL_TX_EN;
}

static char last_out = '\n';

void te_out_char(char c) {
    while (UART0_STATE & UART_STATE_TX_FULL) {
    }
    UART0_DATA = (uint8_t)c;
    last_out = c;
}

void te_out_str(const char *s) {
    while (*s) te_out_char(*s++);
}

void te_out_tag(const char *tag) {
    if (last_out != '\n') te_out_char('\n');
    te_out_str(tag);
}

void te_out_u64(uint64_t v) {
    char buf[21];
    int i = 20;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    te_out_str(&buf[i]);
}

void te_out_i64(int64_t v) {
    if (v < 0) {
        te_out_char('-');
        te_out_u64((uint64_t)0 - (uint64_t)v);
    } else {
        te_out_u64((uint64_t)v);
    }
}

void te_out_hex32(uint32_t v) {
    static const char digits[] = "0123456789abcdef";
    te_out_str("0x");
    for (int shift = 28; shift >= 0; shift -= 4) te_out_char(digits[(v >> shift) & 0xFu]);
}

/* ------------------------------------------------------------------ semihosting */

void te_semihost_exit(int code) {
    /* SYS_EXIT_EXTENDED takes {reason, subcode}; QEMU exits with subcode. */
    volatile uint32_t block[2] = {SEMIHOST_ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    register uint32_t r0 __asm__("r0") = SEMIHOST_SYS_EXIT_EXTENDED;
    register volatile uint32_t *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    for (;;) {
    }
}

/* ------------------------------------------------------------------ newlib hooks */

int _write(int fd, const char *buf, int len);
int _write(int fd, const char *buf, int len) {
    (void)fd;
    for (int i = 0; i < len; i++) te_out_char(buf[i]);
    return len;
}

static uint8_t *heap_end = __te_heap_start;

void *_sbrk(ptrdiff_t incr);
void *_sbrk(ptrdiff_t incr) {
    uint8_t *prev = heap_end;
    if (incr > __te_ram_end - heap_end || incr < __te_heap_start - heap_end) {
        errno = ENOMEM;
        return (void *)-1;
    }
    heap_end += incr;
    return prev;
}

size_t te_heap_used(void) { return (size_t)(heap_end - __te_heap_start); }

/* ------------------------------------------------------------------ faults */

static void out_field(const char *name, uint32_t v) {
    te_out_char(' ');
    te_out_str(name);
    te_out_char('=');
    te_out_hex32(v);
}

static void out_flag(uint32_t cfsr, uint32_t bit, const char *name) {
    if (cfsr & bit) {
        te_out_char(' ');
        te_out_str(name);
    }
}

/* In the no-access area below the program stack (guard or below RAM)? */
static int in_stack_guard(uint32_t addr) {
    return addr >= TE_BELOW_RAM_BASE && addr < (uint32_t)__te_stack_guard + TE_STACK_GUARD_SIZE;
}

/* Called by te_fault_handler on the handler stack with the stacked exception frame
 * (r0-r3, r12, lr, pc, xpsr) of the code that faulted. Prints one TE:ERROR line. */
void te_fault_report(const uint32_t *frame, uint32_t exc_return) __attribute__((noreturn, used));
void te_fault_report(const uint32_t *frame, uint32_t exc_return) {
    /* The frame may sit in the guard region: drop the MPU before touching it. */
    MPU_CTRL = 0;
    __asm__ volatile("dsb\n isb" ::: "memory");

    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    uint32_t cfsr = SCB_CFSR, hfsr = SCB_HFSR, mmfar = SCB_MMFAR, bfar = SCB_BFAR;
    static const char *const names[] = {"Exception", "Exception", "NMI", "HardFault", "MemManage", "BusFault",
                                        "UsageFault"};
    uint32_t exception = ipsr & 0x1FFu;
    const char *kind = exception < 7 ? names[exception] : "Exception";

    uint32_t frame_addr = (uint32_t)frame;
    int stacking_failed = (cfsr & (CFSR_MSTKERR | CFSR_STKERR)) != 0;
    int overflow = (cfsr & CFSR_MSTKERR) || in_stack_guard(frame_addr) ||
                   ((cfsr & CFSR_MMARVALID) && in_stack_guard(mmfar)) ||
                   (frame_addr < (uint32_t)__te_stack_bottom && (exc_return & 4u));

    te_out_tag(overflow ? "TE:ERROR stack_overflow " : "TE:ERROR fault ");
    te_out_str(kind);
    te_out_char(' ');
    te_out_u64(exception);
    if (!stacking_failed) {
        out_field("pc", frame[6]);
        out_field("lr", frame[5]);
    }
    out_field("sp", frame_addr);
    out_field("cfsr", cfsr);
    out_field("hfsr", hfsr);
    if (cfsr & CFSR_MMARVALID) out_field("mmfar", mmfar);
    if (cfsr & CFSR_BFARVALID) out_field("bfar", bfar);
    out_flag(cfsr, CFSR_IACCVIOL, "IACCVIOL");
    out_flag(cfsr, CFSR_DACCVIOL, "DACCVIOL");
    out_flag(cfsr, CFSR_MSTKERR | CFSR_STKERR, "STACKING");
    out_flag(cfsr, CFSR_MUNSTKERR, "UNSTACKING");
    out_flag(cfsr, CFSR_IBUSERR, "IBUSERR");
    out_flag(cfsr, CFSR_PRECISERR, "PRECISERR");
    out_flag(cfsr, CFSR_IMPRECISERR, "IMPRECISERR");
    out_flag(cfsr, CFSR_UNDEFINSTR, "UNDEFINSTR");
    out_flag(cfsr, CFSR_INVSTATE, "INVSTATE");
    out_flag(cfsr, CFSR_INVPC, "INVPC");
    out_flag(cfsr, CFSR_NOCP, "NOCP");
    out_flag(cfsr, CFSR_UNALIGNED, "UNALIGNED");
    out_flag(cfsr, CFSR_DIVBYZERO, "DIVBYZERO");
    te_out_char('\n');
    te_semihost_exit(overflow ? TE_EXIT_STACK_OVERFLOW : TE_EXIT_FAULT);
}

/* Pick the stack the faulting code used (EXC_RETURN bit 2) and report from C. */
__attribute__((naked)) void te_fault_handler(void) {
    __asm__ volatile(
        "tst lr, #4\n"
        "ite eq\n"
        "mrseq r0, msp\n"
        "mrsne r0, psp\n"
        "mov r1, lr\n"
        "b te_fault_report\n");
}

/* ------------------------------------------------------------------ reset */

static void mpu_no_access(uint32_t region, uint32_t base, uint32_t log2_size) {
    MPU_RNR = region;
    MPU_RBAR = base;
    MPU_RASR = MPU_RASR_XN | MPU_RASR_AP_NONE | MPU_RASR_SIZE(log2_size) | MPU_RASR_ENABLE;
}

static void stack_guard_enable(void) {
    mpu_no_access(0, TE_BELOW_RAM_BASE, TE_BELOW_RAM_LOG2);
    mpu_no_access(1, (uint32_t)__te_stack_guard, TE_STACK_GUARD_LOG2);
    MPU_CTRL = MPU_CTRL_PRIVDEFENA | MPU_CTRL_ENABLE;
    __asm__ volatile("dsb\n isb" ::: "memory");
}

/* Runs on the handler stack, FPU already on. */
void te_early_init(void) __attribute__((used));
void te_early_init(void) {
    memcpy(__te_data_start, __te_data_load, (size_t)(__te_data_end - __te_data_start));
    memset(__te_bss_start, 0, (size_t)(__te_bss_end - __te_bss_start));
    memset(__te_psram_bss_start, 0, (size_t)(__te_psram_bss_end - __te_psram_bss_start));
    /* Nothing runs on the program stack yet: paint all of it. */
    memset(__te_stack_bottom, TE_STACK_PAINT, (size_t)(__te_stack_top - __te_stack_bottom));
    SCB_SHCSR |= SHCSR_MEMFAULTENA | SHCSR_BUSFAULTENA | SHCSR_USGFAULTENA;
    stack_guard_enable();
    uart_init();
    for (te_init_fn *f = __te_init_array_start; f < __te_init_array_end; f++) (*f)();
}

/* Enable the FPU before any compiled code can use it (GCC may pick VFP registers for
 * plain copies at -O3), initialise memory on the handler stack, then run the harness
 * in thread mode on the program stack (PSP) so that faults and exceptions never
 * disturb the program stack's high-water mark. */
__attribute__((naked, noreturn)) void te_reset_handler(void) {
    __asm__ volatile(
        "ldr r0, =0xE000ED88\n"
        "ldr r1, [r0]\n"
        "orr r1, r1, #(0xF << 20)\n"
        "str r1, [r0]\n"
        "dsb\n"
        "isb\n"
        "bl te_early_init\n"
        "ldr r0, =__te_stack_top\n"
        "msr psp, r0\n"
        "movs r0, #2\n" /* CONTROL.SPSEL = 1: thread mode uses PSP */
        "msr control, r0\n"
        "isb\n"
        "bl te_harness_run\n"
        "b .\n");
}

/* ------------------------------------------------------------------ vectors */

typedef void (*te_vector)(void);

/* The 16 Cortex-M exceptions and the board's 32 interrupts. The harness enables no
 * interrupt; anything unexpected is reported as a fault rather than ignored. */
__attribute__((section(".vectors"), used)) static const te_vector te_vectors[16 + 32] = {
    (te_vector)(uintptr_t)__te_handler_stack_top,
    te_reset_handler,
    te_fault_handler,   /* NMI */
    te_fault_handler,   /* HardFault */
    te_fault_handler,   /* MemManage */
    te_fault_handler,   /* BusFault */
    te_fault_handler,   /* UsageFault */
    0, 0, 0, 0,
    te_fault_handler,   /* SVCall */
    te_fault_handler,   /* DebugMonitor */
    0,
    te_fault_handler,   /* PendSV */
    te_fault_handler,   /* SysTick */
    [16 ... 47] = te_fault_handler,
};
