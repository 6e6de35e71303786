/* A fake NVIDIA driver (libcuda.so.1) for the CUDA detector tests. Compile-time knobs pick the scenario:
 * FAKE_DEVICES (0..2), FAKE_DRIVER_VERSION, FAKE_INIT_RESULT (cuInit's CUresult), FAKE_INIT_CRASH,
 * FAKE_INIT_HANG, FAKE_OMIT_DEVICE_COUNT (leave cuDeviceGetCount out). Device 0: 24 GiB, 20 GiB free,
 * compute capability 8.6; device 1: 80 GiB, 70 GiB free, 9.0. */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef FAKE_DEVICES
#define FAKE_DEVICES 2
#endif
#ifndef FAKE_DRIVER_VERSION
#define FAKE_DRIVER_VERSION 13000
#endif
#ifndef FAKE_INIT_RESULT
#define FAKE_INIT_RESULT 0
#endif

#define GIB (1024ull * 1024ull * 1024ull)
static const char* const kNames[2] = {"Fake GeForce RTX 3090", "Fake H100 80GB HBM3"};
static const unsigned long long kTotal[2] = {24 * GIB, 80 * GIB};
static const unsigned long long kFree[2] = {20 * GIB, 70 * GIB};
static const int kMajor[2] = {8, 9};
static const int kMinor[2] = {6, 0};
static const int kSms[2] = {82, 132};

static int g_initialized = 0;
static int g_current = -1; /* device whose primary context is current */

static int bad_device(int d) { return d < 0 || d >= FAKE_DEVICES; }

int cuInit(unsigned flags) {
  (void)flags;
#ifdef FAKE_INIT_CRASH
  raise(SIGSEGV);
#endif
#ifdef FAKE_INIT_HANG
  for (;;) pause();
#endif
  if (FAKE_INIT_RESULT != 0) return FAKE_INIT_RESULT;
  g_initialized = 1;
  return 0;
}

int cuDriverGetVersion(int* v) {
  *v = FAKE_DRIVER_VERSION;
  return 0;
}

#ifndef FAKE_OMIT_DEVICE_COUNT
int cuDeviceGetCount(int* n) {
  if (!g_initialized) return 3; /* CUDA_ERROR_NOT_INITIALIZED */
  *n = FAKE_DEVICES;
  return 0;
}
#endif

int cuDeviceGet(int* dev, int ordinal) {
  if (!g_initialized) return 3;
  if (bad_device(ordinal)) return 101; /* CUDA_ERROR_INVALID_DEVICE */
  *dev = ordinal;
  return 0;
}

int cuDeviceGetName(char* name, int len, int dev) {
  if (bad_device(dev)) return 101;
  snprintf(name, (size_t)len, "%s", kNames[dev]);
  return 0;
}

int cuDeviceTotalMem_v2(size_t* bytes, int dev) {
  if (bad_device(dev)) return 101;
  *bytes = (size_t)kTotal[dev];
  return 0;
}

int cuDeviceGetAttribute(int* v, int attr, int dev) {
  if (bad_device(dev)) return 101;
  switch (attr) {
    case 16: *v = kSms[dev]; return 0;
    case 75: *v = kMajor[dev]; return 0;
    case 76: *v = kMinor[dev]; return 0;
    default: return 1; /* CUDA_ERROR_INVALID_VALUE */
  }
}

int cuDeviceGetPCIBusId(char* bus, int len, int dev) {
  if (bad_device(dev)) return 101;
  snprintf(bus, (size_t)len, "0000:%02x:00.0", 0x41 + dev);
  return 0;
}

int cuDevicePrimaryCtxRetain(void** ctx, int dev) {
  if (bad_device(dev)) return 101;
  *ctx = (void*)(size_t)(0x1000 + dev);
  return 0;
}

int cuDevicePrimaryCtxRelease_v2(int dev) { return bad_device(dev) ? 101 : 0; }

int cuCtxSetCurrent(void* ctx) {
  g_current = ctx ? (int)((size_t)ctx - 0x1000) : -1;
  return 0;
}

int cuMemGetInfo_v2(size_t* free_b, size_t* total_b) {
  if (g_current < 0) return 201; /* CUDA_ERROR_INVALID_CONTEXT */
  *free_b = (size_t)kFree[g_current];
  *total_b = (size_t)kTotal[g_current];
  return 0;
}

int cuGetErrorName(int rc, const char** s) {
  switch (rc) {
    case 100: *s = "CUDA_ERROR_NO_DEVICE"; return 0;
    case 35: *s = "CUDA_ERROR_INSUFFICIENT_DRIVER"; return 0;
    default: *s = "CUDA_ERROR_UNKNOWN"; return 0;
  }
}

int cuGetErrorString(int rc, const char** s) {
  switch (rc) {
    case 100: *s = "no CUDA-capable device is detected"; return 0;
    case 35: *s = "CUDA driver version is insufficient for CUDA runtime version"; return 0;
    default: *s = "unknown error"; return 0;
  }
}
