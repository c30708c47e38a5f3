/* te_board.h - what the bench harness's start-up code (startup.c) offers the
 * measurement code (te_bench.c): serial output, semihosting exit, the memory map.
 * Internal to the harness; programs under test include te_bench.h only. */
#ifndef TE_BOARD_H
#define TE_BOARD_H

#include <stddef.h>
#include <stdint.h>

/* Linker-script symbols (mps2_an500.ld). */
extern uint8_t __te_stack_bottom[], __te_stack_top[];

#define TE_STACK_PAINT 0xA5u

/* UART0 output (QEMU's -serial stdio). */
void te_out_char(char c);
void te_out_str(const char *s);
/* Start a harness line: a newline first if the program left its last line open. */
void te_out_tag(const char *tag);
void te_out_u64(uint64_t v);
void te_out_i64(int64_t v);
void te_out_hex32(uint32_t v); /* 0x%08x */

/* Exit QEMU with `code` as its process exit status (semihosting SYS_EXIT_EXTENDED). */
void te_semihost_exit(int code) __attribute__((noreturn));

/* Bytes handed out by _sbrk so far. */
size_t te_heap_used(void);

/* The harness proper (te_bench.c): runs on the program stack once the board is up. */
void te_harness_run(void) __attribute__((noreturn));

#endif /* TE_BOARD_H */
