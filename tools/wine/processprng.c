/* bcryptprimitives.dll for wine 8.0, which lacks it.
 *
 * Rust's standard library (1.78 and later) takes its random bytes (the
 * HashMap seeds) from ProcessPrng in bcryptprimitives.dll. Wine 8.0 has no
 * such DLL, so every Rust test executable fails to load under it. This one
 * export, placed in the wine prefix's system32 by `make test-windows`,
 * answers from RtlGenRandom (advapi32's SystemFunction036), which wine has.
 * Used only to run the core's tests under wine; never shipped.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
