/* A fake HIP runtime (libamdhip64.so) for the ROCm detector tests: one 64 GiB device with 60 GiB free, or,
 * with FAKE_INIT_RESULT, a hipInit that fails. */
#include <stddef.h>
#include <stdio.h>

#ifndef FAKE_INIT_RESULT
#define FAKE_INIT_RESULT 0
#endif
#define GIB (1024ull * 1024ull * 1024ull)

static int g_device = 0;

int hipInit(unsigned flags) {
  (void)flags;
  return FAKE_INIT_RESULT;
}
int hipGetDeviceCount(int* n) {
  *n = 1;
  return 0;
}
int hipDeviceGetName(char* name, int len, int dev) {
  if (dev != 0) return 101;
  snprintf(name, (size_t)len, "Fake AMD Instinct MI210");
  return 0;
}
int hipDeviceTotalMem(size_t* bytes, int dev) {
  if (dev != 0) return 101;
  *bytes = (size_t)(64 * GIB);
  return 0;
}
int hipRuntimeGetVersion(int* v) {
  *v = 60241134; /* 6.2.41134 */
  return 0;
}
int hipSetDevice(int dev) {
  if (dev != 0) return 101;
  g_device = dev;
  return 0;
}
int hipMemGetInfo(size_t* free_b, size_t* total_b) {
  (void)g_device;
  *free_b = (size_t)(60 * GIB);
  *total_b = (size_t)(64 * GIB);
  return 0;
}
const char* hipGetErrorString(int rc) { return rc == 100 ? "no ROCm-capable device is detected" : "hipErrorUnknown"; }
