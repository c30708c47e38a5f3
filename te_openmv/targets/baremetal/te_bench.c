/* te_bench.c - the measuring half of the bench harness: timers, regions, start-up
 * self-check and calibration, stack high-water mark, reporting (see te_bench.h for
 * the API and the output protocol). */
#include "te_bench.h"

#include <stdio.h>

#include "te_board.h"

/* Weak: flush the program's stdio output at exit if it uses stdio, without pulling
 * stdio into programs that do not. */
extern int fflush(FILE *stream) __attribute__((weak));

#define REG32(addr) (*(volatile uint32_t *)(addr))

/* CMSDK APB timer 0: 25 MHz 32-bit down-counter, the fine clock. */
#define TIMER0_CTRL   REG32(0x40000000u)
#define TIMER0_VALUE  REG32(0x40000004u)
#define TIMER0_RELOAD REG32(0x40000008u)
#define TIMER_CTRL_ENABLE (1u << 0)

/* CMSDK APB dual timer, module 1: free-running at 25 MHz / 256, the coarse clock that
 * tells how often the fine one wrapped (it wraps every 2^32 ticks, ~1.34e9 instructions). */
#define DUALTIMER1_LOAD    REG32(0x40002000u)
#define DUALTIMER1_VALUE   REG32(0x40002004u)
#define DUALTIMER1_CONTROL REG32(0x40002008u)
#define DUALTIMER_CTRL_SIZE_32BIT    (1u << 1)
#define DUALTIMER_CTRL_PRESCALE_256  (2u << 2)
#define DUALTIMER_CTRL_ENABLE        (1u << 7)
#define COARSE_DIVISOR 256u

#define FINE_NOW()   TIMER0_VALUE
#define COARSE_NOW() DUALTIMER1_VALUE

/* Under -icount shift=7 an instruction takes 2^7 ns of virtual time; a 25 MHz tick is
 * 40 ns. Both readings of a region are floor()ed to whole ticks, so a difference is
 * off by under one tick = 0.3125 instructions and rounding recovers the exact count. */
#define NS_PER_TICK 40u
#define NS_PER_INSTRUCTION 128u

/* Self-check: a two-instruction loop run SELFCHECK_SHORT and SELFCHECK_LONG times. */
#define SELFCHECK_SHORT 1000u
#define SELFCHECK_LONG 9000u
#define SELFCHECK_INSNS_PER_ITER 2u

typedef struct {
    const char *name;
    uint32_t fine0, coarse0;
    uint32_t ended_before; /* n_ended when the region began: later ends are nested ones */
} open_region;

typedef struct {
    const char *name;
    uint32_t fine0, coarse0, fine1, coarse1;
    uint32_t nested;
    uint32_t depth;
} region_record;

static open_region open_regions[TE_BENCH_MAX_DEPTH];
static uint32_t depth;
static uint32_t n_ended;
static region_record records[TE_BENCH_MAX_RECORDS];
static uint32_t n_records, n_dropped;
static int calibrating;
static uint64_t empty_cost;  /* instructions of te_bench_begin(); te_bench_end(); */
static uint64_t nested_cost; /* instructions a nested begin/end pair adds to its parent */
static uintptr_t main_entry_sp;

static void timers_start(void) {
    TIMER0_CTRL = 0;
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = TIMER_CTRL_ENABLE;
    DUALTIMER1_CONTROL = DUALTIMER_CTRL_SIZE_32BIT | DUALTIMER_CTRL_PRESCALE_256 | DUALTIMER_CTRL_ENABLE;
    DUALTIMER1_LOAD = 0xFFFFFFFFu; /* free-running: sets the count, which then wraps at 2^32 */
}

/* Ticks between two (fine, coarse) readings of the down-counting clocks. The fine
 * difference is exact modulo 2^32; the coarse one (x256, off by < 2 x 256 ticks) picks
 * the number of whole fine wraps. */
static uint64_t elapsed_ticks(const region_record *r) {
    uint32_t fine = r->fine0 - r->fine1;
    uint64_t coarse = (uint64_t)(uint32_t)(r->coarse0 - r->coarse1) * COARSE_DIVISOR;
    int64_t wraps = ((int64_t)coarse - (int64_t)fine + ((int64_t)1 << 31)) >> 32;
    if (wraps < 0) wraps = 0;
    return (uint64_t)fine + ((uint64_t)wraps << 32);
}

static uint64_t ticks_to_instructions(uint64_t ticks) {
    return (ticks * NS_PER_TICK + NS_PER_INSTRUCTION / 2) / NS_PER_INSTRUCTION;
}

static uint64_t raw_instructions(const region_record *r) { return ticks_to_instructions(elapsed_ticks(r)); }

static void __attribute__((noreturn)) harness_error(const char *kind, const char *msg, const char *detail,
                                                    int code) {
    te_out_tag("TE:ERROR ");
    te_out_str(kind);
    te_out_char(' ');
    te_out_str(msg);
    te_out_str(detail);
    te_out_char('\n');
    te_semihost_exit(code);
}

/* ------------------------------------------------------------------ regions */

void te_bench_begin(const char *name) {
    uint32_t d = depth;
    if (d >= TE_BENCH_MAX_DEPTH)
        harness_error("region", "regions nested deeper than TE_BENCH_MAX_DEPTH at te_bench_begin: ", name,
                      TE_EXIT_REGION_MISUSE);
    open_region *o = &open_regions[d];
    depth = d + 1;
    o->name = name;
    o->ended_before = n_ended;
    o->coarse0 = COARSE_NOW();
    o->fine0 = FINE_NOW(); /* last: what follows the read is the caller's code */
}

static void flush_records(void) __attribute__((noinline));

void te_bench_end(void) {
    uint32_t fine1 = FINE_NOW(); /* first: what precedes the read is the caller's code */
    uint32_t coarse1 = COARSE_NOW();
    uint32_t d = depth;
    if (d == 0) harness_error("region", "te_bench_end() without an open region", "", TE_EXIT_REGION_MISUSE);
    depth = --d;
    const open_region *o = &open_regions[d];
    uint32_t ended = n_ended;
    n_ended = ended + 1;
    if (n_records < TE_BENCH_MAX_RECORDS) {
        region_record *r = &records[n_records++];
        r->name = o->name;
        r->fine0 = o->fine0;
        r->coarse0 = o->coarse0;
        r->fine1 = fine1;
        r->coarse1 = coarse1;
        r->nested = ended - o->ended_before;
        r->depth = d;
    } else {
        n_dropped++;
    }
    if (d == 0 && !calibrating) flush_records();
}

/* Print the regions finished since the last outermost region ended. */
static void flush_records(void) {
    if (n_dropped)
        harness_error("region", "more regions finished inside one outermost region than TE_BENCH_MAX_RECORDS",
                      "; build with a larger -DTE_BENCH_MAX_RECORDS", TE_EXIT_REGION_MISUSE);
    for (uint32_t i = 0; i < n_records; i++) {
        const region_record *r = &records[i];
        int64_t n = (int64_t)raw_instructions(r) - (int64_t)empty_cost - (int64_t)(r->nested * nested_cost);
        te_out_tag("TE:REGION ");
        te_out_i64(n);
        te_out_char(' ');
        te_out_u64(r->depth);
        te_out_char(' ');
        te_out_str(r->name);
        te_out_char('\n');
    }
    n_records = 0;
}

/* ------------------------------------------------------------------ start-up checks */

static const char calibration_name[] = "te_bench_calibration";

static uint64_t measure_empty(void) {
    n_records = 0;
    te_bench_begin(calibration_name);
    te_bench_end();
    return raw_instructions(&records[0]);
}

static uint64_t measure_nested_pair(void) {
    n_records = 0;
    te_bench_begin(calibration_name);
    te_bench_begin(calibration_name);
    te_bench_end();
    te_bench_end();
    return raw_instructions(&records[1]); /* the outer region ends last */
}

static uint64_t __attribute__((noinline)) measure_loop(uint32_t iterations) {
    n_records = 0;
    te_bench_begin(calibration_name);
    __asm__ volatile(
        "1: subs %0, %0, #1\n"
        "   bne 1b\n"
        : "+r"(iterations)
        :
        : "cc");
    te_bench_end();
    return raw_instructions(&records[0]);
}

static void __attribute__((noreturn)) selfcheck_failed(const char *what, const char *first, uint64_t a,
                                                       const char *second, uint64_t b) {
    te_out_tag("TE:ERROR selfcheck ");
    te_out_str(what);
    te_out_str(first);
    te_out_u64(a);
    te_out_str(second);
    te_out_u64(b);
    te_out_str(" instructions; the timer counts instructions only under qemu-system-arm -icount shift=7\n");
    te_semihost_exit(TE_EXIT_SELFCHECK);
}

/* Check that the timer counts instructions (right -icount shift, deterministic), then
 * measure what the harness itself costs so regions can report the program's own count. */
static void selfcheck_and_calibrate(void) {
    calibrating = 1;
    empty_cost = measure_empty();
    uint64_t again = measure_empty();
    if (again != empty_cost)
        selfcheck_failed("two identical empty measurements differ", ": first ", empty_cost, ", then ", again);

    uint64_t short_run = measure_loop(SELFCHECK_SHORT);
    uint64_t long_run = measure_loop(SELFCHECK_LONG);
    uint64_t expected = (uint64_t)SELFCHECK_INSNS_PER_ITER * (SELFCHECK_LONG - SELFCHECK_SHORT);
    uint64_t measured = long_run - short_run;
    if (long_run < short_run || measured != expected)
        selfcheck_failed("a loop of exactly 2 instructions x 8000 iterations", ": expected ", expected,
                         ", the timer measured ", long_run < short_run ? 0 : measured);

    nested_cost = measure_nested_pair() - empty_cost;
    calibrating = 0;
    n_records = 0;

    te_out_tag("TE:SELFCHECK ok loop=");
    te_out_u64(expected);
    te_out_str(" measured=");
    te_out_u64(measured);
    te_out_str("\nTE:CALIB empty=");
    te_out_u64(empty_cost);
    te_out_str(" nested=");
    te_out_u64(nested_cost);
    te_out_char('\n');
}

/* ------------------------------------------------------------------ reporting */

static void kv_key(const char *key) {
    te_out_tag("TE:KV ");
    te_out_str(key);
    te_out_char(' ');
}

void te_bench_kv_u32(const char *key, uint32_t value) {
    kv_key(key);
    te_out_u64(value);
    te_out_char('\n');
}

void te_bench_kv_i32(const char *key, int32_t value) {
    kv_key(key);
    te_out_i64(value);
    te_out_char('\n');
}

void te_bench_kv_hex(const char *key, uint32_t value) {
    kv_key(key);
    te_out_hex32(value);
    te_out_char('\n');
}

void te_bench_kv_str(const char *key, const char *value) {
    kv_key(key);
    te_out_str(value);
    te_out_char('\n');
}

void te_bench_puts(const char *line) {
    te_out_str(line);
    te_out_char('\n');
}

uint32_t te_bench_crc32(uint32_t crc, const void *data, size_t n) {
    /* Reflected polynomial 0xEDB88320, four bits per step. */
    static const uint32_t nibble[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
        0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
    };
    const uint8_t *p = (const uint8_t *)data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ nibble[crc & 0xFu];
        crc = (crc >> 4) ^ nibble[crc & 0xFu];
    }
    return ~crc;
}

/* Lowest stack byte that no longer holds the start-up paint. */
static const uint8_t *stack_low_water(void) {
    const uint32_t paint_word = TE_STACK_PAINT * 0x01010101u;
    const uint32_t *w = (const uint32_t *)__te_stack_bottom;
    while ((const uint8_t *)w < __te_stack_top && *w == paint_word) w++;
    const uint8_t *p = (const uint8_t *)w;
    while (p < __te_stack_top && *p == TE_STACK_PAINT) p++;
    return p;
}

static const uint8_t *low_before_mark; /* deepest use before the last repaint; NULL: never repainted */
static uintptr_t mark_sp __attribute__((used));

static void __attribute__((used, noinline)) remember_low_water(void) {
    const uint8_t *low = stack_low_water();
    if (!low_before_mark || low < low_before_mark) low_before_mark = low;
}

/* Both in assembly so that neither leaves a frame of its own in the measured range: the
 * mark records the caller's sp and paints everything below it; the count scans up from
 * the bottom using registers only. */
void __attribute__((naked)) te_bench_stack_mark(void) {
    __asm__ volatile(
        "push {r4, lr}\n"
        "bl remember_low_water\n"         /* its frame lies below sp: painted over next */
        "pop {r4, lr}\n"
        "mov r1, sp\n"
        "ldr r2, =mark_sp\n"
        "str r1, [r2]\n"
        "bic r1, r1, #3\n"
        "ldr r0, =__te_stack_bottom\n"
        "ldr r3, =0xA5A5A5A5\n"           /* TE_STACK_PAINT x 4 */
        "1: cmp r0, r1\n"
        "bhs 2f\n"
        "str r3, [r0], #4\n"
        "b 1b\n"
        "2: bx lr\n"
        ".ltorg\n");
}

uint32_t __attribute__((naked)) te_bench_stack_since_mark(void) {
    __asm__ volatile(
        "ldr r0, =__te_stack_bottom\n"
        "ldr r1, =mark_sp\n"
        "ldr r1, [r1]\n"
        "ldr r2, =0xA5A5A5A5\n"
        "1: cmp r0, r1\n"                 /* whole painted words */
        "bhs 3f\n"
        "ldr r3, [r0]\n"
        "cmp r3, r2\n"
        "bne 2f\n"
        "adds r0, r0, #4\n"
        "b 1b\n"
        "2: ldrb r3, [r0]\n"              /* then painted bytes of the first used word */
        "cmp r3, #0xA5\n"
        "bne 3f\n"
        "adds r0, r0, #1\n"
        "b 2b\n"
        "3: cmp r0, r1\n"
        "ite lo\n"
        "sublo r0, r1, r0\n"
        "movhs r0, #0\n"
        "bx lr\n"
        ".ltorg\n");
}

void te_bench_exit(int code) {
    const uint8_t *low = stack_low_water(); /* first, before reporting adds frames of its own */
    if (low_before_mark && low_before_mark < low) low = low_before_mark;
    if (fflush) fflush(NULL);
    if (depth) harness_error("region", "the program finished with a region still open: ",
                             open_regions[depth - 1].name, TE_EXIT_REGION_MISUSE);
    if (low == __te_stack_bottom)
        harness_error("stack_overflow", "the program used the whole stack",
                      "; link with a larger -Wl,--defsym=TE_STACK_SIZE=<bytes>", TE_EXIT_STACK_OVERFLOW);
    uintptr_t used = main_entry_sp > (uintptr_t)low ? main_entry_sp - (uintptr_t)low : 0;
    te_out_tag("TE:STACK used=");
    te_out_u64(used);
    te_out_str(" total=");
    te_out_u64((uint64_t)(__te_stack_top - low));
    te_out_str(" size=");
    te_out_u64((uint64_t)(__te_stack_top - __te_stack_bottom));
    te_out_str("\nTE:HEAP used=");
    te_out_u64(te_heap_used());
    te_out_char('\n');
    if (code < 0 || code > TE_EXIT_MAX_PROGRAM) {
        te_out_tag("TE:ERROR exit_code the program exited with ");
        te_out_i64(code);
        te_out_str(", outside 0..199 (codes from 200 up belong to the harness)\n");
        te_semihost_exit(TE_EXIT_BAD_CODE);
    }
    te_out_tag("TE:EXIT ");
    te_out_u64((uint64_t)code);
    te_out_char('\n');
    te_semihost_exit(code);
}

void te_harness_run(void) {
    timers_start();
    te_out_tag("TE:HELLO ");
    te_out_u64(TE_BENCH_PROTOCOL_VERSION);
    te_out_char('\n');
    selfcheck_and_calibrate();
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    main_entry_sp = sp;
    te_bench_exit(te_bench_main());
}
