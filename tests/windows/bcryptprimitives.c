/*
 * Test-only stand-in for Windows' bcryptprimitives.dll, for running the Windows build under Wine.
 *
 * Rust's standard library (and getrandom) on Windows take their random bytes from ProcessPrng in
 * bcryptprimitives.dll. Debian 12's Wine 8.0 has no such DLL, so every Rust program for Windows
 * fails to start there. This DLL exports ProcessPrng and fills the buffer from RtlGenRandom
 * (advapi32's SystemFunction036, Wine's CSPRNG). scripts/windows-smoke.sh puts it beside the
 * test's copy of reader-bridge.exe only; it never ships and never runs on Windows.
 */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        /* RtlGenRandom takes a ULONG length. */
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
