/*
 * demangle.h - readable names for mangled C++ (Itanium ABI) and Rust (legacy and v0) symbols.
 *
 * Wraps libiberty's demanglers (the ones binutils and gdb use), linked statically. Allocation
 * free: the callback variants print through a small buffer on the stack. Stack use grows with
 * the mangled name's length (about 72 bytes per character), so names longer than
 * HS_DEMANGLE_MAX_INPUT are left mangled: the writer thread's stack is 2 MiB.
 */
#ifndef HS_DEMANGLE_H
#define HS_DEMANGLE_H

#include <stddef.h>

#define HS_DEMANGLE_MAX_INPUT 4096

/*
 * Demangle name into buf (len bytes, NUL-terminated). Returns 1 when name was a mangled C++ or
 * Rust symbol and its readable form fits in buf; 0 otherwise (buf then holds nothing useful).
 */
int hs_demangle(const char *name, char *buf, size_t len);

#endif
