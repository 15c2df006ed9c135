/*  twin_emu_switch.cpp: the fiber switch of the emulated CUDA build on x86-64
 *  (see emu/cuda_runtime.h). twin_emu_switch (save_sp, load_sp) pushes the
 *  callee-saved registers (System V: rbp, rbx, r12-r15) and the MXCSR and x87
 *  control words, stores the stack pointer in *save_sp, loads load_sp and pops
 *  the same frame from there: it returns into the other fiber. Nothing else
 *  needs saving at a call boundary. twin_emu_ctx_make builds a first frame
 *  that "returns" into the fiber's entry function.  */
#if defined(__x86_64__)
asm (".text\n"
     ".globl twin_emu_switch\n"
     ".type twin_emu_switch, @function\n"
     "twin_emu_switch:\n"
     "    pushq %rbp\n"
     "    pushq %rbx\n"
     "    pushq %r12\n"
     "    pushq %r13\n"
     "    pushq %r14\n"
     "    pushq %r15\n"
     "    subq $8, %rsp\n"
     "    stmxcsr (%rsp)\n"
     "    fnstcw 4(%rsp)\n"
     "    movq %rsp, (%rdi)\n"
     "    movq %rsi, %rsp\n"
     "    ldmxcsr (%rsp)\n"
     "    fldcw 4(%rsp)\n"
     "    addq $8, %rsp\n"
     "    popq %r15\n"
     "    popq %r14\n"
     "    popq %r13\n"
     "    popq %r12\n"
     "    popq %rbx\n"
     "    popq %rbp\n"
     "    ret\n"
     ".size twin_emu_switch, .-twin_emu_switch\n");
#endif
