// Vector table for te-openmv's qemu_mps2_an500 board.
//
// The port's start-up code (ports/qemu/mcu/arm/startup.c) never enables the FPU, but
// this board is built for the hard-float ABI, so any floating-point instruction would
// take a UsageFault. Our reset handler grants full access to coprocessors CP10/CP11
// (the FPU) first and then continues with the port's Reset_Handler (data/bss set-up,
// UART, main). The linker script places this table at address 0 and drops the port's.
#include <stdint.h>

#define SCB_CPACR_ADDR "0xE000ED88"

extern uint32_t _estack;

void Reset_Handler(void);
void NMI_Handler(void);
void HardFault_Handler(void);
void MemManage_Handler(void);
void BusFault_Handler(void);
void UsageFault_Handler(void);
void SVC_Handler(void);
void DebugMon_Handler(void);
void PendSV_Handler(void);
void SysTick_Handler(void);

// Naked: no prologue may touch the stack or the FPU before CPACR is set.
__attribute__((naked, noreturn)) void te_an500_reset(void) {
    __asm volatile (
        "ldr r0, =" SCB_CPACR_ADDR "\n"
        "ldr r1, [r0]\n"
        "orr r1, r1, #(0xF << 20)\n"  // CP10 and CP11: full access
        "str r1, [r0]\n"
        "dsb\n"
        "isb\n"
        "b Reset_Handler\n"
        ".ltorg\n"
        );
}

__attribute__((section(".te_an500_vectors"), used)) const uint32_t te_an500_vectors[16] = {
    (uint32_t)&_estack,
    (uint32_t)&te_an500_reset,
    (uint32_t)&NMI_Handler,
    (uint32_t)&HardFault_Handler,
    (uint32_t)&MemManage_Handler,
    (uint32_t)&BusFault_Handler,
    (uint32_t)&UsageFault_Handler,
    0,
    0,
    0,
    0,
    (uint32_t)&SVC_Handler,
    (uint32_t)&DebugMon_Handler,
    0,
    (uint32_t)&PendSV_Handler,
    (uint32_t)&SysTick_Handler,
};
