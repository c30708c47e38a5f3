/* te_bench.h - instruction counting for programs run bare-metal on QEMU mps2-an500
 * (Cortex-M7) under `-icount shift=7`, where every instruction takes 128 ns of virtual
 * time and the board's 25 MHz timers therefore count instructions exactly.
 *
 * The program under test defines te_bench_main(); the harness (startup.c + te_bench.c)
 * brings the board up, checks that the timer really counts instructions, measures the
 * cost of an empty measurement, calls te_bench_main() and reports on the serial port
 * (UART0, QEMU's stdout) in lines that te_openmv/targets/baremetal/harness.py parses.
 *
 *     int te_bench_main(void) {
 *         te_bench_begin("conv1");
 *         conv1(in, out);
 *         te_bench_end();
 *         te_bench_kv_hex("out_crc", te_bench_crc32(0, out, sizeof out));
 *         return 0;
 *     }
 *
 * Output line protocol (one line per record, '\n'-terminated; every line the harness
 * writes starts with "TE:", anything else is the program's own text):
 *
 *   TE:HELLO <protocol-version>
 *   TE:SELFCHECK ok loop=<instructions> measured=<instructions>
 *   TE:CALIB empty=<instructions> nested=<instructions>
 *   TE:REGION <instructions> <depth> <name>   one per finished region, inner before outer,
 *                                             printed when the outermost region ends;
 *                                             <name> runs to the end of the line
 *   TE:KV <key> <value>                       te_bench_kv_*(); <value> runs to end of line
 *   TE:STACK used=<bytes> total=<bytes> size=<bytes>
 *   TE:HEAP used=<bytes>
 *   TE:EXIT <code>
 *   TE:ERROR <kind> <message>                 kind: selfcheck, fault, stack_overflow,
 *                                             region, exit_code; then QEMU exits with
 *                                             the matching TE_EXIT_* code. Faults read
 *                                             "<Exception> <number> pc=0x.. lr=0x.. sp=0x..
 *                                             cfsr=0x.. hfsr=0x.. [mmfar=|bfar=] FLAGS"
 *
 * Region counts: <instructions> executed between te_bench_begin() returning and
 * te_bench_end() being entered, i.e. the code the compiler placed between the two
 * calls; the harness's own cost ("empty") is subtracted. The compiler may move a few
 * unrelated instructions into a region (the next call's arguments, or the epilogue
 * when te_bench_end() becomes a tail call); for exact counts of small code, measure
 * in a function of its own and follow te_bench_end() with __asm__ volatile("").
 * An enclosing region also has the full cost of each nested begin/end pair
 * ("nested", measured at start-up as a begin("x") + end() call pair, loading "x"
 * included) subtracted; a call site that sets up the argument differently can shift
 * an outer count by an instruction or so per nested region. Counts are 64-bit: the
 * 32-bit timer (2^32 ticks = 1.34e9 instructions) is extended by a prescaled one.
 *
 * Stack: `used` is the deepest stack use below te_bench_main's entry (the program's
 * own frames, te_bench_* calls included); `total` adds the harness frame above it;
 * `size` is the program stack's size (link with -Wl,--defsym=TE_STACK_SIZE=<bytes>).
 * The stack is painted with 0xA5 at start-up, so stack bytes the program itself sets
 * to 0xA5 at the very bottom of its use can hide a few bytes. Exceptions and faults
 * run on a separate handler stack. Below the stack a 1 KiB MPU guard and the 64 MiB
 * under RAM are no-access, so an overflow faults (TE_EXIT_STACK_OVERFLOW) instead of
 * corrupting memory.
 *
 * printf() works (newlib-nano, to UART0); stdio is flushed at exit.
 */
#ifndef TE_BENCH_H
#define TE_BENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TE_BENCH_PROTOCOL_VERSION 1

/* Exit codes. te_bench_main() returns 0..TE_EXIT_MAX_PROGRAM; the rest belong to the harness. */
#define TE_EXIT_MAX_PROGRAM    199
#define TE_EXIT_BAD_CODE       200 /* te_bench_main/te_bench_exit gave a code outside 0..199 */
#define TE_EXIT_SELFCHECK      201 /* the timer does not count instructions (no -icount shift=7) */
#define TE_EXIT_FAULT          202 /* HardFault, MemManage, BusFault or UsageFault */
#define TE_EXIT_STACK_OVERFLOW 203 /* the program stack overflowed into its guard */
#define TE_EXIT_REGION_MISUSE  204 /* unbalanced begin/end, nesting too deep, too many regions */

#ifndef TE_BENCH_MAX_DEPTH
#define TE_BENCH_MAX_DEPTH 16     /* regions open at once */
#endif
#ifndef TE_BENCH_MAX_RECORDS
#define TE_BENCH_MAX_RECORDS 256  /* regions finished inside one outermost region */
#endif

/* Defined by the program under test. Its return value is QEMU's exit code. */
int te_bench_main(void);

/* Start a region. `name` must stay valid until the region is reported (a string
 * literal); spaces are allowed, newlines are not. Regions nest. */
void te_bench_begin(const char *name);
/* End the innermost open region. */
void te_bench_end(void);

/* Report `key value` (key: no spaces). */
void te_bench_kv_u32(const char *key, uint32_t value);
void te_bench_kv_i32(const char *key, int32_t value);
void te_bench_kv_hex(const char *key, uint32_t value); /* printed as 0x%08x */
void te_bench_kv_str(const char *key, const char *value);

/* Write one line of free text (a '\n' is appended). Must not start with "TE:". */
void te_bench_puts(const char *line);

/* CRC-32 (IEEE 802.3, as zlib.crc32): pass 0 first, then the previous result to chain. */
uint32_t te_bench_crc32(uint32_t crc, const void *data, size_t n);

/* Stack use of one stretch of code: te_bench_stack_mark() repaints the free stack
 * below the caller's frame; te_bench_stack_since_mark() then returns how many bytes
 * below that frame the code in between used (called from the same function as the
 * mark). The overall high-water mark in TE:STACK still covers use before the mark. */
void te_bench_stack_mark(void);
uint32_t te_bench_stack_since_mark(void);

/* Report stack use and exit now with `code` (0..199), as if te_bench_main returned it. */
void te_bench_exit(int code) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif

#endif /* TE_BENCH_H */
